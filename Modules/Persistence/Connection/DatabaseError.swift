internal import CSQLite

/// A SQLite failure. Keeps the result code, SQLite's message and the SQL text, never bound values.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE` = 2067, …).
    public let extendedCode: Int32
    public let message: String
    public let sql: String?

    init(code: Int32, message: String, sql: String?) {
        self.extendedCode = code
        self.message = message
        self.sql = sql
    }

    /// The primary result code (`SQLITE_CONSTRAINT` = 19, `SQLITE_BUSY` = 5, …).
    public var primaryCode: Int32 { extendedCode & 0xFF }

    // Extended codes are macros Swift cannot import: UNIQUE 2067, PRIMARYKEY 1555, FOREIGNKEY 787.
    public var isUniqueViolation: Bool { extendedCode == 2067 || extendedCode == 1555 }
    public var isForeignKeyViolation: Bool { extendedCode == 787 }
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    public var description: String {
        var text = "SQLite error \(extendedCode): \(message)"
        if let sql { text += " — in: \(sql.prefix(300))" }
        return text
    }
}

/// A misuse of the persistence API (not a SQLite failure).
public struct PersistenceUsageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
