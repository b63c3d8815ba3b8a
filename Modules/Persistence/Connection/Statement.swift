internal import CSQLite
import Postgres

/// A prepared statement that owns its handle: prepared in `init`, finalized in `deinit`.
/// Not `Sendable`: it lives and dies with its connection.
final class Statement {
    let handle: OpaquePointer
    let sql: String
    unowned let connection: Database

    init(connection: Database, sql: String, persistent: Bool) throws {
        var handle: OpaquePointer?
        let flags: UInt32 = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let code = sqlite3_prepare_v3(connection.handle, sql, -1, flags, &handle, nil)
        guard code == SQLITE_OK, let handle else {
            if let handle { sqlite3_finalize(handle) }
            throw connection.error(code: code, sql: sql)
        }
        self.handle = handle
        self.sql = sql
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    /// Resets the statement and binds `arguments` to its placeholders.
    func bind(_ arguments: [any SQLBindable]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard expected == arguments.count else {
            throw PersistenceUsageError("statement expects \(expected) arguments, got \(arguments.count): \(sql.prefix(200))")
        }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch argument.sqlValue {
            case .null: code = sqlite3_bind_null(handle, index)
            case .integer(let value): code = sqlite3_bind_int64(handle, index, value)
            case .real(let value): code = sqlite3_bind_double(handle, index, value)
            case .text(let text): code = Statement.bindText(handle, index, text)
            case .blob(let bytes): code = Statement.bindBlob(handle, index, bytes)
            }
            guard code == SQLITE_OK else { throw connection.error(code: code, sql: sql) }
        }
    }

    /// One step: true when a row is available, false when done.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let error = connection.error(code: code, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// The current row's values.
    func row() -> Row {
        let count = sqlite3_column_count(handle)
        var values: [SQLValue] = []
        values.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(handle, column)))
            case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(handle, column)))
            case SQLITE_TEXT:
                if let text = sqlite3_column_text(handle, column) {
                    let length = Int(sqlite3_column_bytes(handle, column))
                    values.append(.text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self)))
                } else {
                    values.append(.text(""))
                }
            case SQLITE_BLOB:
                let length = Int(sqlite3_column_bytes(handle, column))
                if let pointer = sqlite3_column_blob(handle, column), length > 0 {
                    values.append(.blob(Array(UnsafeRawBufferPointer(start: pointer, count: length))))
                } else {
                    values.append(.blob([]))
                }
            default: values.append(.null)
            }
        }
        return Row(values: values)
    }

    func reset() { sqlite3_reset(handle) }

    /// Binds bytes (SQLite copies them); an empty blob is bound as a zero-length blob, not NULL.
    static func bindBlob(_ handle: OpaquePointer, _ index: Int32, _ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { raw in
            sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), csqlite_transient())
        }
    }

    /// Binds text with its explicit byte length: a -1 length would cut the text at an embedded NUL.
    static func bindText(_ handle: OpaquePointer, _ index: Int32, _ value: String) -> Int32 {
        var text = value
        return text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                guard let base = chars.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, csqlite_transient()) }
                return sqlite3_bind_text(handle, index, base, Int32(chars.count), csqlite_transient())
            }
        }
    }
}

/// A cached prepared statement for hot loops (telemetry ingestion): typed binds, no existential boxing. Every bind
/// checks SQLite's return code (an index out of range or a misuse throws instead of running with a stale value).
/// Borrowed from its `Database` inside a `read`/`write` closure; never store it. Stores wrap it in a typed writer
/// (e.g. `TelemetryStore.PointWriter`) so positions are bound in one place.
///
/// ```swift
/// let insert = try db.prepared("INSERT INTO points (series, t, value) VALUES (?, ?, ?)")
/// for point in points {
///     try insert.bind(1, point.series); try insert.bind(2, point.t); try insert.bind(3, point.value)
///     try insert.run()
/// }
/// ```
public struct PreparedStatement {
    /// The SQLite statement; nil on PostgreSQL, where `postgres` holds the SQL and the bound values.
    let statement: Statement?
    let postgres: PostgresPrepared?

    public func bind(_ index: Int32, _ value: Int64) throws {
        guard let statement else { return try postgres!.bind(index, .int(value)) }
        try check(sqlite3_bind_int64(statement.handle, index, value))
    }
    public func bind(_ index: Int32, _ value: Double) throws {
        guard let statement else { return try postgres!.bind(index, .double(value)) }
        try check(sqlite3_bind_double(statement.handle, index, value))
    }
    public func bind(_ index: Int32, _ value: String) throws {
        guard let statement else { return try postgres!.bind(index, .text(PostgresDialect.storable(value))) }
        try check(Statement.bindText(statement.handle, index, value))
    }
    public func bind(_ index: Int32, _ bytes: [UInt8]) throws {
        guard let statement else { return try postgres!.bind(index, .bytes(bytes)) }
        try check(Statement.bindBlob(statement.handle, index, bytes))
    }
    public func bindNull(_ index: Int32) throws {
        guard let statement else { return try postgres!.bind(index, .null) }
        try check(sqlite3_bind_null(statement.handle, index))
    }

    private func check(_ code: Int32) throws {
        guard code != SQLITE_OK, let statement else { return }
        throw statement.connection.error(code: code, sql: statement.sql)
    }

    /// Executes to completion and resets (bindings are kept until rebound).
    public func run() throws {
        guard let statement else { return try postgres!.run() }
        defer { sqlite3_reset(statement.handle) }
        while try statement.step() {}
    }

    /// Runs a write whose answer nobody reads: on PostgreSQL inside a write it is queued and sent with the next
    /// statement that needs an answer or the COMMIT (`Database.executePipelined`); on SQLite the same as `run`.
    public func runPipelined() throws {
        guard let statement else { return try postgres!.runPipelined() }
        defer { sqlite3_reset(statement.handle) }
        while try statement.step() {}
    }

    /// Steps through the rows, calling `body` with each until it returns false (then resets).
    public func forEach(_ body: (Row) throws -> Bool) throws {
        guard let statement else {
            for row in try postgres!.rows() where try !body(row) { break }
            return
        }
        defer { sqlite3_reset(statement.handle) }
        while try statement.step() {
            if try !body(statement.row()) { break }
        }
    }

    /// Executes and returns the first row (then resets).
    public func first() throws -> Row? {
        guard let statement else { return try postgres!.rows().first }
        defer { sqlite3_reset(statement.handle) }
        return try statement.step() ? statement.row() : nil
    }
}

/// A `PreparedStatement` on PostgreSQL: the numbered SQL and the values bound so far (the driver prepares and
/// caches the statement itself, per connection).
final class PostgresPrepared {
    let database: Database
    let sql: String
    var values: [PostgresValue]

    init(database: Database, sql: String) {
        self.database = database
        self.sql = PostgresDialect.placeholders(sql)
        values = []
    }

    /// Binds position `index` (1-based); the server checks the count when the statement runs.
    func bind(_ index: Int32, _ value: PostgresValue) throws {
        guard index >= 1, index <= 32767 else { throw PersistenceUsageError("bind index \(index) out of range: \(sql.prefix(200))") }
        while values.count < Int(index) { values.append(.null) }
        values[Int(index) - 1] = value
    }

    func run() throws { _ = try database.postgresQuery(sql, values) }

    func runPipelined() throws { try database.postgresQueue(sql, values) }

    func rows() throws -> [Row] { try database.postgresQuery(sql, values).rows.map(PostgresDialect.row) }
}

extension Database {
    /// The cached prepared statement for `sql`, for typed binding in hot loops.
    public func prepared(_ sql: String) throws -> PreparedStatement {
        if postgres != nil { return PreparedStatement(statement: nil, postgres: PostgresPrepared(database: self, sql: sql)) }
        return PreparedStatement(statement: try statement(sql), postgres: nil)
    }
}
