internal import CSQLite
import Core
import Postgres
import Synchronization

/// One database connection (a SQLite connection, or a PostgreSQL connection lent by the pool), handed to a closure
/// by `DatabasePool.read` / `.write` and never stored. Not `Sendable`: it belongs to the thread that runs the closure.
///
/// The same SQL runs on both drivers: `?` placeholders (numbered for PostgreSQL here), integers, reals, text and
/// bytes (`bytea`, always binary); booleans are INTEGER 0/1 columns on both. The SQLite path is the plain one:
/// every PostgreSQL branch is one nil check on `postgres`.
///
/// ```swift
/// let id = try pool.write { db in
///     try db.execute("INSERT INTO things (name) VALUES (?)", ["lamp"])
///     return db.lastInsertRowID
/// }
/// ```
public final class Database: TransactionScope {
    /// The SQLite connection; nil when this is a PostgreSQL connection.
    let handle: OpaquePointer!
    /// The PostgreSQL connection this handle wraps (nil for SQLite).
    let postgres: PostgresConnection?
    /// Rows changed by the last statement (PostgreSQL, from its command tag).
    private var postgresChanges = 0
    /// PostgreSQL statements queued to go out ahead of the next one that needs an answer, in the same round trip: a
    /// deferred `BEGIN`, and writes whose answer nobody reads (`executePipelined`, `PreparedStatement.runPipelined`).
    private var queued: [PostgresStatement] = []
    /// The SQL of each queued statement as the store wrote it (for the error of a queued statement that fails).
    private var queuedSQL: [String] = []
    /// Queued statements sent at once at most (their answers are small: a longer pipeline cannot fill the socket
    /// buffers while the server waits for us to read).
    static let maxQueued = 512
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
    /// What this write transaction announces to other processes (sent with COMMIT on PostgreSQL).
    private var announcements: [Announcement] = []
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
        self.postgres = nil
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

    /// Wraps a PostgreSQL connection lent by the pool for one `read` or `write`.
    init(postgres connection: PostgresConnection, readOnly: Bool) {
        handle = nil
        postgres = connection
        path = connection.configuration.redactedURL
        self.readOnly = readOnly
    }

    deinit {
        cache.removeAll()
        if let handle { sqlite3_close_v2(handle) }
    }

    /// The SQL dialect of this connection.
    public var dialect: SQLDialect { postgres == nil ? .sqlite : .postgres }

    /// The locking clause that ends a claim's `SELECT` inside `write`: ` FOR UPDATE SKIP LOCKED` on PostgreSQL (rows
    /// another transaction is claiming are passed over, not waited for, and the rows found stay locked until COMMIT, so
    /// two processes never take one row), ` FOR UPDATE OF table SKIP LOCKED` when `table` names the claimed table of a join;
    /// empty on SQLite, whose single writer already makes the select-then-update of a `write` atomic.
    ///
    /// ```swift
    /// try db.query("SELECT id FROM tasks WHERE status = 'pending' ORDER BY id LIMIT ?\(db.skipLocked())", [n])
    /// ```
    public func skipLocked(of table: String? = nil) -> String {
        guard postgres != nil else { return "" }
        return table.map { " FOR UPDATE OF \($0) SKIP LOCKED" } ?? " FOR UPDATE SKIP LOCKED"
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
        if let postgres {
            postgresChanges = try pgRun(postgres, sql, arguments).affectedRows
            return
        }
        let statement = try statement(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        while try statement.step() {}
    }

    /// Runs one statement and returns every row.
    public func query(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [Row] {
        if let postgres {
            let result = try pgRun(postgres, sql, arguments)
            postgresChanges = result.affectedRows
            return result.rows.map(PostgresDialect.row)
        }
        let statement = try statement(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        var rows: [Row] = []
        while try statement.step() { rows.append(statement.row()) }
        return rows
    }

    /// The first row, or nil.
    public func queryOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Row? {
        if let postgres {
            let result = try pgRun(postgres, sql, arguments)
            postgresChanges = result.affectedRows
            return result.rows.first.map(PostgresDialect.row)
        }
        let statement = try statement(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        return try statement.step() ? statement.row() : nil
    }

    /// Streams rows to `body` one at a time (constant memory, for exports). Return false to stop early.
    public func forEach(_ sql: String, _ arguments: [any SQLBindable] = [], _ body: (Row) throws -> Bool) throws {
        if let postgres {
            // Rows stream as they arrive; after `body` says stop, the rest are read and dropped. `body` must not run
            // statements on this connection (the answer is still arriving).
            var going = true
            try flushQueued(postgres)
            do {
                try postgres.query(PostgresDialect.placeholders(sql), arguments.map { PostgresDialect.value($0.sqlValue) }) { row in
                    if going { going = try body(PostgresDialect.row(row)) }
                }
            } catch {
                throw PostgresDialect.error(error, sql: sql)
            }
            return
        }
        let statement = try Statement(connection: self, sql: sql, persistent: false)
        try statement.bind(arguments)
        while try statement.step() {
            if try !body(statement.row()) { break }
        }
    }

    /// Runs the same statement once per argument list (bulk inserts), reusing one prepared statement.
    public func executeMany(_ sql: String, _ argumentLists: [[any SQLBindable]]) throws {
        if let postgres {
            // Pipelined, `maxQueued` statements per round trip (with what was queued before them).
            let text = PostgresDialect.placeholders(sql)
            var start = 0
            while start < argumentLists.count {
                let end = min(argumentLists.count, start + Self.maxQueued)
                let statements = argumentLists[start..<end].map { PostgresStatement(text, $0.map { PostgresDialect.value($0.sqlValue) }) }
                postgresChanges = try pgSend(postgres, statements, sql: sql).last?.affectedRows ?? 0
                start = end
            }
            return
        }
        let statement = try statement(sql)
        defer { statement.reset() }
        for arguments in argumentLists {
            try statement.bind(arguments)
            while try statement.step() {}
        }
    }

    /// Runs SQLite DDL (`;`-separated, no arguments) in this connection's dialect: on PostgreSQL rewritten as a
    /// plain-SQL `Migration` is (identity ids, `BIGINT`, `BYTEA`, no `WITHOUT ROWID`). For migrations in code.
    public func executeSchema(_ sql: String) throws {
        try executeScript(postgres == nil ? sql : PostgresDialect.ddl(sql))
    }

    /// Runs several `;`-separated statements with no arguments (migrations, pragmas).
    public func executeScript(_ sql: String) throws {
        if let postgres {
            try flushQueued(postgres)
            do {
                try postgres.simpleQuery(sql)
            } catch {
                throw PostgresDialect.error(error, sql: sql)
            }
            return
        }
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw DatabaseError(code: sqlite3_extended_errcode(handle), message: text, sql: sql)
        }
    }

    /// The rowid of the last successful INSERT on this connection.
    /// On PostgreSQL, the value the last INSERT drew from an identity column or sequence (`lastval()`) in this
    /// session; 0 when none.
    public var lastInsertRowID: Int64 {
        if let postgres {
            return (try? pgSend(postgres, [PostgresStatement("SELECT lastval()")], sql: "SELECT lastval()").first?.rows.first?[0].intValue) ?? 0
        }
        return sqlite3_last_insert_rowid(handle)
    }

    /// Runs one INSERT of one row and returns its generated id: through `RETURNING column` on PostgreSQL (no `lastval()`
    /// round trip), `last_insert_rowid()` on SQLite (`column` must then be the rowid alias, an `INTEGER PRIMARY KEY`).
    /// `sql` must not have a RETURNING clause of its own.
    ///
    /// ```swift
    /// let id = try db.insertReturningID("INSERT INTO things (name) VALUES (?)", ["lamp"])
    /// ```
    public func insertReturningID(_ sql: String, _ arguments: [any SQLBindable] = [], column: String = "id") throws -> Int64 {
        if let postgres {
            let returning = sql + " RETURNING " + column
            let result = try pgRun(postgres, returning, arguments)
            postgresChanges = result.affectedRows
            guard let id = result.rows.first?[0].intValue else { throw PersistenceUsageError("INSERT returned no \(column): \(sql.prefix(200))") }
            return id
        }
        try execute(sql, arguments)
        return sqlite3_last_insert_rowid(handle)
    }

    /// Runs the same query once per argument list and returns each one's rows, in order: on PostgreSQL in one round
    /// trip (pipelined, with what was queued before), on SQLite one after the other through the cached statement.
    public func queryMany(_ sql: String, _ argumentLists: [[any SQLBindable]]) throws -> [[Row]] {
        try queryPipeline(argumentLists.map { (sql, $0) })
    }

    /// Runs several queries and returns each one's rows, in order: on PostgreSQL in one round trip (pipelined, with what
    /// was queued before), on SQLite one after the other. A failure throws (on PostgreSQL the ones after it did not run).
    public func queryPipeline(_ queries: [(sql: String, arguments: [any SQLBindable])]) throws -> [[Row]] {
        guard let postgres else { return try queries.map { try query($0.sql, $0.arguments) } }
        var answers: [[Row]] = []
        answers.reserveCapacity(queries.count)
        var start = 0
        while start < queries.count {
            let end = min(queries.count, start + Self.maxQueued)
            let statements = queries[start..<end].map {
                PostgresStatement(PostgresDialect.placeholders($0.sql), $0.arguments.map { PostgresDialect.value($0.sqlValue) })
            }
            for result in try pgSend(postgres, statements, sql: queries[start].sql) { answers.append(result.rows.map(PostgresDialect.row)) }
            start = end
        }
        return answers
    }

    /// Runs a write whose answer nobody reads. On PostgreSQL inside a write transaction it is queued and sent with the
    /// next statement that needs an answer (or the COMMIT), in the same round trip; a failure surfaces there (and fails
    /// the transaction, as any failed statement does). `changes` does not count it. On SQLite (or outside a write) it
    /// runs now.
    public func executePipelined(_ sql: String, _ arguments: [any SQLBindable] = []) throws {
        guard let postgres, writeDepth > 0 else { return try execute(sql, arguments) }
        try enqueue(postgres, PostgresStatement(PostgresDialect.placeholders(sql), arguments.map { PostgresDialect.value($0.sqlValue) }), sql: sql)
    }

    /// Queues an already numbered statement (see `executePipelined`); sends the queue when it is full.
    func enqueue(_ connection: PostgresConnection, _ statement: PostgresStatement, sql: String) throws {
        if writeDepth > 0, connection.transactionStatus == .failed { throw Self.transactionLost }
        queued.append(statement)
        queuedSQL.append(sql)
        if queued.count >= Self.maxQueued { try flushQueued(connection) }
    }

    /// Sends what is queued, if anything (one round trip).
    private func flushQueued(_ connection: PostgresConnection) throws {
        guard !queued.isEmpty else { return }
        _ = try pgSend(connection, [], sql: nil)
    }

    /// Sends what is queued followed by `statements` in one round trip and returns the answers to `statements`.
    private func pgSend(_ connection: PostgresConnection, _ statements: [PostgresStatement], sql: String?) throws -> [PostgresResult] {
        if writeDepth > 0, connection.transactionStatus == .failed { throw Self.transactionLost }
        let ahead = queued.count
        let all = ahead == 0 ? statements : queued + statements
        let aheadSQL = queuedSQL
        queued.removeAll(keepingCapacity: true)
        queuedSQL.removeAll(keepingCapacity: true)
        guard !all.isEmpty else { return [] }
        do {
            let results = try connection.pipeline(all)
            return ahead == 0 ? results : Array(results[ahead...])
        } catch {
            // The failing statement is one of the queued ones or `sql`; the error names them all (no values).
            var texts: [String] = []
            for text in aheadSQL + [sql].compactMap({ $0 }) where !texts.contains(text) { texts.append(text) }
            let named = ahead == 0 ? sql : texts.joined(separator: "; ")
            throw PostgresDialect.error(error, sql: named)
        }
    }

    /// Drops what is queued unsent (the transaction or savepoint it belonged to is being rolled back).
    private func dropQueued() {
        queued.removeAll(keepingCapacity: true)
        queuedSQL.removeAll(keepingCapacity: true)
    }

    /// `PRAGMA data_version`: changes whenever another connection (another process, for the writer) commits.
    /// PostgreSQL has no such counter: each call there answers a new value, so caches keyed by it are dropped at
    /// every check (correct, if less thrifty, with other processes writing).
    public func dataVersion() throws -> Int64 {
        if postgres != nil {
            return Self.postgresDataVersion.add(1, ordering: .relaxed).newValue
        }
        return try queryOne("PRAGMA data_version")?.int(0) ?? 0
    }

    private static let postgresDataVersion = Atomic<Int64>(0)

    /// Rows changed by the last INSERT/UPDATE/DELETE.
    public var changes: Int {
        if postgres != nil { return postgresChanges }
        return Int(sqlite3_changes64(handle))
    }

    /// Runs one already numbered statement on PostgreSQL (`PreparedStatement`); failures as `DatabaseError`.
    func postgresQuery(_ sql: String, _ values: [PostgresValue]) throws -> PostgresResult {
        guard let postgres else { throw PersistenceUsageError("not a PostgreSQL connection") }
        let result = try pgSend(postgres, [PostgresStatement(sql, values)], sql: sql)[0]
        postgresChanges = result.affectedRows
        return result
    }

    /// Queues an already numbered statement on PostgreSQL (`PreparedStatement.runPipelined`); runs it now outside a write.
    func postgresQueue(_ sql: String, _ values: [PostgresValue]) throws {
        guard let postgres else { throw PersistenceUsageError("not a PostgreSQL connection") }
        guard writeDepth > 0 else { return _ = try postgresQuery(sql, values) }
        try enqueue(postgres, PostgresStatement(sql, values), sql: sql)
    }

    /// Runs one statement on PostgreSQL with numbered placeholders; failures as `DatabaseError`.
    private func pgRun(_ connection: PostgresConnection, _ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresResult {
        try pgSend(connection, [PostgresStatement(PostgresDialect.placeholders(sql), arguments.map { PostgresDialect.value($0.sqlValue) })], sql: sql)[0]
    }

    /// Whether this connection may write (inside `DatabasePool.write`).
    public var isWritable: Bool { !readOnly && writeDepth > 0 }

    /// Whether the open write transaction can still commit: false once PostgreSQL aborted it (a failed statement outside
    /// a savepoint that was rolled back) or SQLite rolled it back on its own.
    public var isTransactionUsable: Bool {
        guard writeDepth > 0 else { return false }
        if let postgres { return !postgres.isBroken && postgres.transactionStatus != .failed }
        return sqlite3_get_autocommit(handle) == 0
    }

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

    /// Tells every process over this database, once the enclosing write transaction commits, that `topic` changed (for
    /// `scope`, an id, when given): their `ChangeFeed` handlers of the topic run. On PostgreSQL the announcements ride
    /// with the COMMIT (one round trip); on SQLite they are dropped (see `ChangeFeed`). Dropped on rollback.
    public func announce(_ topic: String, scope: Int64? = nil) {
        guard postgres != nil, writeDepth > 0 else { return }
        announcements.append(Announcement(topic, scope: scope))
    }

    /// `announce` for several scopes of one topic.
    public func announce(_ topic: String, scopes: some Sequence<Int64>) {
        guard postgres != nil, writeDepth > 0 else { return }
        for scope in scopes { announcements.append(Announcement(topic, scope: scope)) }
    }

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
            let announcementsBefore = announcements.count
            try executeScript("SAVEPOINT \(name)")
            writeDepth += 1
            defer { writeDepth -= 1 }
            do {
                let result = try body(self)
                try executeScript("RELEASE \(name)")
                return result
            } catch {
                dropQueued()
                try? executeScript("ROLLBACK TO \(name); RELEASE \(name)")
                discardCommitActions(keeping: actionsBefore)
                if announcements.count > announcementsBefore { announcements.removeLast(announcements.count - announcementsBefore) }
                throw error
            }
        }
        if postgres != nil { return try postgresTransaction(body) }
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

    /// The PostgreSQL write transaction: BEGIN … COMMIT, ROLLBACK when `body` throws.
    private func postgresTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        guard let postgres else { throw PersistenceUsageError("not a PostgreSQL connection") }
        dropQueued()
        if postgres.transactionStatus != .idle { _ = try? postgres.simpleQuery("ROLLBACK") }
        // BEGIN goes out with the first statement, and the last writes with COMMIT: a group commit that reads once
        // and writes costs two round trips.
        queued.append(PostgresStatement("BEGIN"))
        queuedSQL.append("BEGIN")
        writeDepth = 1
        announcements = []
        defer {
            writeDepth = 0
            announcements = []
        }
        do {
            let result = try body(self)
            if postgres.transactionStatus == .failed { throw Self.transactionLost }
            if queued.count == 1, postgres.transactionStatus == .idle, announcements.isEmpty {
                dropQueued()   // nothing ran: no transaction to commit
                return result
            }
            // The announcements go out with COMMIT (one round trip): delivered to listeners only if it commits.
            let notifications = ChangeFeed.payloads(announcements).map {
                PostgresStatement("SELECT pg_notify($1, $2)", [.text(ChangeFeed.channel), .text($0)])
            }
            let answers = try pgSend(postgres, notifications + [PostgresStatement("COMMIT")], sql: "COMMIT")
            if answers.last?.commandTag == "ROLLBACK" { throw Self.transactionLost }
            return result
        } catch {
            dropQueued()
            if !postgres.isBroken, postgres.transactionStatus != .idle { _ = try? postgres.simpleQuery("ROLLBACK") }
            commitActions = []
            throw error
        }
    }

    /// Runs `body` in a deferred read transaction, so several queries see one snapshot.
    func readTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        if let postgres {
            // One snapshot for the whole closure, as SQLite's deferred read transaction gives; BEGIN goes out with the
            // first query (a read that finds everything in caches costs no round trip).
            dropQueued()
            queued.append(PostgresStatement("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            queuedSQL.append("BEGIN")
            defer {
                dropQueued()
                if !postgres.isBroken, postgres.transactionStatus != .idle { _ = try? postgres.simpleQuery("COMMIT") }
            }
            return try body(self)
        }
        try executeScript("BEGIN DEFERRED")
        defer { if sqlite3_get_autocommit(handle) == 0 { try? executeScript("COMMIT") } }
        return try body(self)
    }
}
