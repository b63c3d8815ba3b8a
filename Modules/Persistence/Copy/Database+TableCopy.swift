/// One table's columns as a database's catalog describes them (for copies between databases).
public struct TableColumns: Sendable, Equatable {
    /// Every column, in the table's order.
    public let names: [String]
    /// The primary key's columns, in key order (empty when the table has none).
    public let primaryKey: [String]
    /// Columns that draw their values from a sequence (PostgreSQL identity columns; empty on SQLite, whose rowid
    /// aliases continue after the largest id by themselves).
    public let identity: [String]

    public init(names: [String], primaryKey: [String], identity: [String]) {
        self.names = names
        self.primaryKey = primaryKey
        self.identity = identity
    }
}

/// A table that cannot be copied as asked (a name that is not a plain identifier, a missing table, columns that
/// differ between the two databases). Nothing of the copy is committed.
public struct TableCopyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Row copies between two databases of either dialect (`admin-cli db copy`): the caller names the tables (each module
/// its own), Persistence knows none. Reads run in the caller's read transaction on the source, writes in its write
/// transaction on the target, so a copy of many tables is one snapshot and all or nothing.
extension Database {
    /// Rows are written in statements of at most this many rows (PostgreSQL: one round trip each), and never more than
    /// `copyBatchBytes` of values at once, so memory stays bounded whatever the table's size.
    static let copyRowsPerStatement = 500
    static let copyBatchBytes = 1 << 20

    /// Whether `table` exists in this database.
    public func tableExists(_ table: String) throws -> Bool {
        let name = try Self.identifier(table)
        if dialect == .postgres {
            return try queryOne("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?", [name]) != nil
        }
        return try queryOne("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]) != nil
    }

    /// The names of every table of this database (SQLite's own `sqlite_*` tables left out), sorted.
    public func tableNames() throws -> [String] {
        if dialect == .postgres {
            return try query("""
                SELECT table_name::text FROM information_schema.tables
                WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1
                """).map { $0.string(0) }
        }
        return try query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
            .map { $0.string(0) }
    }

    /// Rows in `table`.
    public func rowCount(of table: String) throws -> Int {
        Int(try queryOne("SELECT count(*) FROM \(try Self.identifier(table))")?.int(0) ?? 0)
    }

    /// The columns of `table` from this database's catalog.
    public func columns(of table: String) throws -> TableColumns {
        let name = try Self.identifier(table)
        if dialect == .postgres {
            let rows = try query("""
                SELECT column_name::text, is_identity::text FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position
                """, [name])
            guard !rows.isEmpty else { throw TableCopyError("no table \(name) in \(path)") }
            let key = try query("""
                SELECT k.column_name::text FROM information_schema.table_constraints c
                JOIN information_schema.key_column_usage k
                  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name
                WHERE c.table_schema = current_schema() AND c.table_name = ? AND c.constraint_type = 'PRIMARY KEY'
                ORDER BY k.ordinal_position
                """, [name])
            return TableColumns(names: rows.map { $0.string(0) }, primaryKey: key.map { $0.string(0) },
                                identity: rows.filter { $0.string(1) == "YES" }.map { $0.string(0) })
        }
        // `pk` is the column's position in the primary key (1-based), 0 when not part of it.
        let rows = try query("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", [name])
        guard !rows.isEmpty else { throw TableCopyError("no table \(name) in \(path)") }
        let key = rows.filter { $0.int(1) > 0 }.sorted { $0.int(1) < $1.int(1) }.map { $0.string(0) }
        return TableColumns(names: rows.map { $0.string(0) }, primaryKey: key, identity: [])
    }

    /// Copies every row of `table` from this database (inside a read transaction) into `target` (inside a write
    /// transaction), ids included, streaming in primary-key order; returns the rows copied. Both tables must have the
    /// same columns (both databases migrated alike). On a PostgreSQL target each identity column's sequence then
    /// continues after the largest copied value, so the next insert draws a fresh id.
    public func copyRows(of table: String, to target: Database) throws -> Int {
        let name = try Self.identifier(table)
        let targetColumns = try target.columns(of: name)
        let sourceColumns = try columns(of: name)
        guard Set(targetColumns.names) == Set(sourceColumns.names) else {
            let missing = Set(sourceColumns.names).symmetricDifference(targetColumns.names).sorted()
            throw TableCopyError("table \(name) has different columns in the two databases (\(missing.joined(separator: ", "))): "
                                 + "migrate both with the same admin-cli")
        }
        let names = try targetColumns.names.map(Self.identifier)
        let list = names.joined(separator: ", ")
        let order = sourceColumns.primaryKey.isEmpty ? "" : " ORDER BY " + (try sourceColumns.primaryKey.map(Self.identifier)).joined(separator: ", ")
        let perStatement = target.dialect == .postgres ? max(1, min(Self.copyRowsPerStatement, 16_000 / names.count)) : 1
        let rowPlaceholders = "(" + Array(repeating: "?", count: names.count).joined(separator: ", ") + ")"
        func insert(rows count: Int) -> String {
            "INSERT INTO \(name) (\(list)) VALUES " + Array(repeating: rowPlaceholders, count: count).joined(separator: ", ")
        }
        let singleRow = insert(rows: 1)

        var copied = 0
        var pending: [[SQLValue]] = []
        var pendingBytes = 0
        func flush() throws {
            guard !pending.isEmpty else { return }
            if perStatement == 1 {
                try target.executeMany(singleRow, pending)
            } else {
                try target.execute(insert(rows: pending.count), pending.flatMap { $0 })
            }
            copied += pending.count
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
        }
        let batchRows = perStatement == 1 ? Self.copyRowsPerStatement : perStatement
        try forEach("SELECT \(list) FROM \(name)\(order)") { row in
            pending.append(row.values)
            for value in row.values {
                switch value {
                case .text(let text): pendingBytes += text.utf8.count
                case .blob(let bytes): pendingBytes += bytes.count
                default: pendingBytes += 8
                }
            }
            if pending.count >= batchRows || pendingBytes >= Self.copyBatchBytes { try flush() }
            return true
        }
        try flush()
        if target.dialect == .postgres, copied > 0 {
            for column in try targetColumns.identity.map(Self.identifier) {
                _ = try target.queryOne("SELECT setval(pg_get_serial_sequence(?, ?), (SELECT max(\(column)) FROM \(name)))", [name, column])
            }
        }
        return copied
    }

    /// `name` when it is a plain lower-case SQL identifier (tables and columns are spliced into SQL text here).
    static func identifier(_ name: String) throws -> String {
        let bytes = Array(name.utf8)
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let isLower = { (byte: UInt8) in byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
        let valid = !bytes.isEmpty && bytes.count <= 63 && !isDigit(bytes[0])
            && bytes.allSatisfy { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
        guard valid else { throw TableCopyError("not a plain table or column name: \(name)") }
        return name
    }
}
