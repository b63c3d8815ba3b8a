internal import CSQLite
import Core

/// One SQLite connection, handed to a closure by `DatabasePool.read` / `.write` and never stored.
/// Not `Sendable`: it belongs to the thread that runs the closure.
///
/// ```swift
/// let id = try pool.write { db in
///     try db.execute("INSERT INTO things (name) VALUES (?)", ["lamp"])
///     return db.lastInsertRowID
/// }
/// ```
public final class Database: TransactionScope {
    let handle: OpaquePointer
    let path: String
    let readOnly: Bool
    private var cache: [String: Statement] = [:]
    /// When each cached statement was last used (a counter), for least-recently-used eviction.
    private var cacheUse: [String: UInt64] = [:]
    private var useCounter: UInt64 = 0

    private func nextUse() -> UInt64 {
        useCounter += 1
        return useCounter
    }

    /// Statements prepared and cached on this connection (tests of the eviction).
    var cachedStatementCount: Int { cache.count }

    func isCached(_ sql: String) -> Bool { cache[sql] != nil }
    private var commitActions: [@Sendable () -> Void] = []
    /// Depth of `write` calls on this connection (nested writes become savepoints).
    var writeDepth = 0

    static let maxCachedStatements = 256

    static let transactionLost = DatabaseError(code: 1, message: "the transaction was rolled back by SQLite after an error", sql: nil)

    init(path: String, readOnly: Bool, configuration: DatabaseConfiguration) throws {
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let handle { sqlite3_close_v2(handle) }
            throw DatabaseError(code: code, message: message, sql: nil)
        }
        self.handle = handle
        self.path = path
        self.readOnly = readOnly
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, Int32(configuration.busyTimeoutMilliseconds))
        try executeScript("PRAGMA foreign_keys = ON")
        if !readOnly {
            if path != ":memory:" { try executeScript("PRAGMA journal_mode = WAL") }
            let synchronous = configuration.synchronous == "FULL" ? "FULL" : "NORMAL"
            try executeScript("PRAGMA synchronous = \(synchronous)")
            // 16 MB of page cache for connections that write (SQLite's default is 2 MB): the group commit's B-tree
            // pages then stay cached between commits instead of being read back from the file (pread in profiles).
            // Pages are allocated as used, so an idle server does not pay for it.
            try executeScript("PRAGMA cache_size = -16384")
        }
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func close() {
        cache.removeAll()
        cacheUse.removeAll()
    }

    func error(code: Int32, sql: String?) -> DatabaseError {
        DatabaseError(code: sqlite3_extended_errcode(handle) != 0 ? sqlite3_extended_errcode(handle) : code,
                      message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// A cached prepared statement for `sql` (prepared once per connection).
    func statement(_ sql: String) throws -> Statement {
        // SQLite may roll a transaction back on its own (SQLITE_FULL, IOERR, …). Inside `write`, a statement
        // must then fail instead of silently committing on its own in autocommit mode.
        if writeDepth > 0, sqlite3_get_autocommit(handle) != 0 { throw Self.transactionLost }
        if let cached = cache[sql] {
            cacheUse[sql] = nextUse()
            return cached
        }
        if cache.count >= Self.maxCachedStatements, let oldest = cacheUse.min(by: { $0.value < $1.value })?.key {
            // Evict the least recently used statement only: the hot ones stay prepared.
            cache[oldest] = nil
            cacheUse[oldest] = nil
        }
        let statement = try Statement(connection: self, sql: sql, persistent: true)
        cache[sql] = statement
        cacheUse[sql] = nextUse()
        return statement
    }

    // MARK: - Queries

    /// Runs one statement that returns no rows (INSERT/UPDATE/DELETE/DDL).
    public func execute(_ sql: String, _ arguments: [any SQLBindable] = []) throws {
        let statement = try statement(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        while try statement.step() {}
    }

    /// Runs one statement and returns every row.
    public func query(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [Row] {
        let statement = try statement(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        var rows: [Row] = []
        while try statement.step() { rows.append(statement.row()) }
        return rows
    }

    /// The first row, or nil.
    public func queryOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Row? {
        let statement = try statement(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        return try statement.step() ? statement.row() : nil
    }

    /// Streams rows to `body` one at a time (constant memory, for exports). Return false to stop early.
    public func forEach(_ sql: String, _ arguments: [any SQLBindable] = [], _ body: (Row) throws -> Bool) throws {
        let statement = try Statement(connection: self, sql: sql, persistent: false)
        try statement.bind(arguments)
        while try statement.step() {
            if try !body(statement.row()) { break }
        }
    }

    /// Runs the same statement once per argument list (bulk inserts), reusing one prepared statement.
    public func executeMany(_ sql: String, _ argumentLists: [[any SQLBindable]]) throws {
        let statement = try statement(sql)
        defer { statement.reset() }
        for arguments in argumentLists {
            try statement.bind(arguments)
            while try statement.step() {}
        }
    }

    /// Runs several `;`-separated statements with no arguments (migrations, pragmas).
    public func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw DatabaseError(code: sqlite3_extended_errcode(handle), message: text, sql: sql)
        }
    }

    /// The rowid of the last successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// `PRAGMA data_version`: changes whenever another connection (another process, for the writer) commits.
    public func dataVersion() throws -> Int64 {
        try queryOne("PRAGMA data_version")?.int(0) ?? 0
    }

    /// Rows changed by the last INSERT/UPDATE/DELETE.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Whether this connection may write (inside `DatabasePool.write`).
    public var isWritable: Bool { !readOnly && writeDepth > 0 }

    // MARK: - Transactions

    /// Runs `action` after the enclosing write transaction commits; dropped on rollback.
    /// Outside a write transaction (a read), the action runs when the closure returns.
    public func onCommit(_ action: @escaping @Sendable () -> Void) {
        commitActions.append(action)
    }

    func takeCommitActions() -> [@Sendable () -> Void] {
        defer { commitActions = [] }
        return commitActions
    }

    func discardCommitActions(keeping count: Int) {
        if commitActions.count > count { commitActions.removeLast(commitActions.count - count) }
    }

    var pendingCommitActionCount: Int { commitActions.count }

    /// Runs `body` in a savepoint of the open write transaction: its changes and `onCommit` actions are undone
    /// when it throws, while the enclosing transaction goes on.
    public func savepoint<T>(_ body: (Database) throws -> T) throws -> T {
        guard isWritable else { throw PersistenceUsageError("savepoint outside a write transaction") }
        return try transaction(body)
    }

    /// Runs `body` in a transaction (or a savepoint when already in one): COMMIT when it returns,
    /// ROLLBACK when it throws.
    func transaction<T>(_ body: (Database) throws -> T) throws -> T {
        if writeDepth > 0 {
            let name = "sp\(writeDepth)"
            let actionsBefore = commitActions.count
            try executeScript("SAVEPOINT \(name)")
            writeDepth += 1
            defer { writeDepth -= 1 }
            do {
                let result = try body(self)
                try executeScript("RELEASE \(name)")
                return result
            } catch {
                try? executeScript("ROLLBACK TO \(name); RELEASE \(name)")
                discardCommitActions(keeping: actionsBefore)
                throw error
            }
        }
        // A connection left inside a transaction by a failed ROLLBACK would refuse every BEGIN: clear it first.
        if sqlite3_get_autocommit(handle) == 0 { try? executeScript("ROLLBACK") }
        try executeScript("BEGIN IMMEDIATE")
        writeDepth = 1
        defer { writeDepth = 0 }
        do {
            let result = try body(self)
            if sqlite3_get_autocommit(handle) != 0 { throw Self.transactionLost }
            try executeScript("COMMIT")
            return result
        } catch {
            if sqlite3_get_autocommit(handle) == 0 { try? executeScript("ROLLBACK") }
            commitActions = []
            throw error
        }
    }

    /// Runs `body` in a deferred read transaction, so several queries see one snapshot.
    func readTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try executeScript("BEGIN DEFERRED")
        defer { if sqlite3_get_autocommit(handle) == 0 { try? executeScript("COMMIT") } }
        return try body(self)
    }
}
