internal import CSQLite
import Core
import Postgres

/// A database failure from either driver. Keeps the driver's code (SQLite's extended result code, or PostgreSQL's
/// SQLSTATE), its message and the SQL text, never bound values. The `is…` questions answer the same way on both
/// drivers, so stores never look at codes.
public struct DatabaseError: Error, CustomStringConvertible, Sendable, TransientFailure {
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE` = 2067, …); 0 for PostgreSQL.
    public let extendedCode: Int32
    /// PostgreSQL's SQLSTATE (`23505`, …); nil for SQLite and for failures without a server answer.
    public let sqlState: String?
    public let message: String
    public let sql: String?
    /// The connection to the server was lost or could not be made (PostgreSQL).
    public let isConnectionLost: Bool

    init(code: Int32, message: String, sql: String?) {
        self.extendedCode = code
        self.message = message
        self.sql = sql
        self.sqlState = nil
        self.isConnectionLost = false
    }

    init(postgres error: PostgresError, sql: String?) {
        extendedCode = 0
        sqlState = error.sqlState
        message = error.message
        self.sql = sql
        isConnectionLost = error.isConnectionLost
    }

    /// A PostgreSQL-shaped error with `sqlState` (tests of the classification).
    public static func transientProbe(sqlState: String?, connectionLost: Bool = false) -> DatabaseError {
        DatabaseError(postgres: PostgresError(connectionLost ? .connectionLost : .server, "probe",
                                               fields: sqlState.map { ServerMessageFields([(code: UInt8(ascii: "C"), value: $0), (code: UInt8(ascii: "M"), value: "probe")]) } ?? nil), sql: nil)
    }

    /// The primary result code (`SQLITE_CONSTRAINT` = 19, `SQLITE_BUSY` = 5, …); 0 for PostgreSQL.
    public var primaryCode: Int32 { extendedCode & 0xFF }

    // Extended codes are macros Swift cannot import: UNIQUE 2067, PRIMARYKEY 1555, FOREIGNKEY 787.
    public var isUniqueViolation: Bool { extendedCode == 2067 || extendedCode == 1555 || sqlState == "23505" }
    public var isForeignKeyViolation: Bool { extendedCode == 787 || sqlState == "23503" }
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT || (sqlState?.hasPrefix("23") ?? false) }
    /// Another writer holds the database (SQLite BUSY/LOCKED), or PostgreSQL gave up on this transaction to keep
    /// others consistent (serialization failure 40001, deadlock 40P01, lock not available 55P03): worth retrying.
    public var isBusy: Bool {
        primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED || sqlState == "40001" || sqlState == "40P01" || sqlState == "55P03"
    }

    /// Busy or unreachable: a client may retry later (HTTP answers 503 `UNAVAILABLE` with `Retry-After`).
    public var isTransient: Bool { isBusy || isConnectionLost || sqlState == "57P03" }
    public var retryAfterSeconds: Int { 1 }

    public var description: String {
        var text = sqlState.map { "PostgreSQL error \($0): \(message)" }
            ?? (isConnectionLost ? "PostgreSQL connection lost: \(message)" : "SQLite error \(extendedCode): \(message)")
        if let sql { text += " — in: \(sql.prefix(300))" }
        return text
    }
}

/// A misuse of the persistence API (not a SQLite failure).
public struct PersistenceUsageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
