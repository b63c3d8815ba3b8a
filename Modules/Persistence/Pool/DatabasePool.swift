internal import CSQLite
import Core
import Foundation
import Postgres
import Synchronization

/// The process's access to one SQLite file: one serialized writer connection plus a pool of read-only
/// WAL readers, so reads never wait for a long write. A connection exists only inside a closure.
///
/// ```swift
/// let name = try pool.read { db in try db.queryOne("SELECT name FROM organizations WHERE id = ?", [id])?.string(0) }
/// try pool.write { db in try db.execute("UPDATE organizations SET name = ? WHERE id = ?", [name, id]) }
/// ```
///
/// `write` is a transaction: COMMIT when the closure returns, ROLLBACK when it throws; actions
/// registered with `onCommit` run after COMMIT, outside the writer lock.
///
/// Transactions are passed, never joined: a `write` or `read` called on the thread that is inside a `write`
/// is a programming error (an assertion in debug builds, `PersistenceUsageError` in release). Code that must
/// run inside a caller's transaction takes it as a parameter (`in tx: Database`); nested work inside one
/// module uses `tx.savepoint { }`.
///
/// On PostgreSQL (`DatabasePool(postgres:)`, or `open(location:)` with a `postgres://` URL) each `read` and each `write`
/// borrows a connection of a `PostgresPool`; writes of this process still run one at a time (a writer lock), as on
/// SQLite, so the stores' assumptions hold on both.
public final class DatabasePool: @unchecked Sendable {
    /// The SQLite file, or the PostgreSQL URL without its password.
    public let path: String
    /// The PostgreSQL connections (nil for SQLite).
    let postgres: PostgresPool?
    let configuration: DatabaseConfiguration
    private let writerLock = NSLock()
    private var writer: Database?
    /// The thread currently inside `write` (0 = none), to refuse re-entrant calls.
    private let writerOwner = Atomic<UInt>(0)
    /// The thread reading an in-memory database through the writer connection (0 = none).
    private let memoryReader = Atomic<UInt>(0)
    private let readersCondition = NSCondition()
    private var idleReaders: [Database] = []
    private var openReaders = 0
    private var closed = false
    private let isMemory: Bool
    private let checkpointer: WALCheckpointer?
    /// Announcements of what other processes over the same database changed (PostgreSQL; silent on SQLite).
    public let changes: ChangeFeed

    /// Opens (creating the file and its folder when missing) and configures WAL mode.
    public init(path: String, configuration: DatabaseConfiguration = DatabaseConfiguration()) throws {
        self.path = path
        self.configuration = configuration
        postgres = nil
        changes = ChangeFeed(postgres: nil)
        isMemory = path == ":memory:" || path.isEmpty
        if !isMemory {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        }
        let writer = try Database(path: isMemory ? ":memory:" : path, readOnly: false, configuration: configuration)
        self.writer = writer
        if !isMemory, configuration.backgroundCheckpointFrames > 0 {
            let checkpointer = try WALCheckpointer(path: path, threshold: configuration.backgroundCheckpointFrames, configuration: configuration)
            checkpointer.attach(to: writer)
            self.checkpointer = checkpointer
        } else {
            checkpointer = nil
        }
    }

    /// A pool over a PostgreSQL database: `size` connections at most, each lent to one `read` or `write` at a time.
    public init(postgres settings: PostgresConfiguration, size: Int = 16, configuration: DatabaseConfiguration = DatabaseConfiguration()) {
        path = settings.redactedURL
        self.configuration = configuration
        postgres = PostgresPool(configuration: settings, size: max(1, size), acquireTimeout: max(1, settings.connectTimeout))
        changes = ChangeFeed(postgres: settings)
        isMemory = false
        writer = nil
        checkpointer = nil
    }

    /// Opens `location`: a `postgres://` or `postgresql://` URL (the password may come from `IOT_DB_PASSWORD` of
    /// `environment`), else a SQLite file path. A PostgreSQL pool connects once here, so a wrong address or password
    /// fails now with the server's message. A malformed URL throws `DatabaseURLError` naming the part.
    public static func open(location: String, configuration: DatabaseConfiguration = DatabaseConfiguration(),
                            environment: [String: String] = ProcessInfo.processInfo.environment, poolSize: Int = 16) throws -> DatabasePool {
        guard PostgresConfiguration.isURL(location) else { return try DatabasePool(path: location, configuration: configuration) }
        let settings: PostgresConfiguration
        do {
            settings = try PostgresConfiguration(url: location, environment: environment)
        } catch {
            throw DatabaseURLError(description: error.description)
        }
        let pool = DatabasePool(postgres: settings, size: poolSize, configuration: configuration)
        do {
            try pool.postgres?.withConnection { connection in try connection.ping() }
        } catch {
            pool.close()
            throw PostgresDialect.error(error, sql: nil)
        }
        return pool
    }

    /// Whether `location` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgresLocation(_ location: String) -> Bool { PostgresConfiguration.isURL(location) }

    /// True when this pool is over PostgreSQL.
    public var isPostgreSQL: Bool { postgres != nil }

    /// The SQL dialect of this pool's connections.
    public var dialect: SQLDialect { postgres == nil ? .sqlite : .postgres }

    deinit { close() }

    // MARK: - Access

    /// Runs `body` in the write transaction of the single writer connection.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        let me = UInt(pthread_self())
        if writerOwner.load(ordering: .acquiring) == me || memoryReader.load(ordering: .acquiring) == me {
            throw reentered("write")
        }
        if let postgres { return try postgresWrite(postgres, me: me, body) }
        writerLock.lock()
        guard let writer, !closed else {
            writerLock.unlock()
            throw PersistenceUsageError("database is closed")
        }
        writerOwner.store(me, ordering: .releasing)
        let result: T
        let actions: [@Sendable () -> Void]
        do {
            result = try writer.transaction(body)
            actions = writer.takeCommitActions()
        } catch {
            writerOwner.store(0, ordering: .releasing)
            writerLock.unlock()
            throw error
        }
        writerOwner.store(0, ordering: .releasing)
        writerLock.unlock()
        for action in actions { action() }
        return result
    }

    private func postgresWrite<T>(_ postgres: PostgresPool, me: UInt, _ body: (Database) throws -> T) throws -> T {
        try refuseOnEventLoop()
        writerLock.lock()
        if closed {
            writerLock.unlock()
            throw PersistenceUsageError("database is closed")
        }
        writerOwner.store(me, ordering: .releasing)
        let outcome: Result<(T, [@Sendable () -> Void]), any Error> = Result {
            do {
                return try postgres.withConnection { connection in
                    changes.noteOwnBackend(connection.processID)
                    let db = Database(postgres: connection, readOnly: false)
                    let result = try db.transaction(body)
                    return (result, db.takeCommitActions())
                }
            } catch {
                throw PostgresDialect.error(error, sql: nil)
            }
        }
        writerOwner.store(0, ordering: .releasing)
        writerLock.unlock()
        let (result, actions) = try outcome.get()
        for action in actions { action() }
        return result
    }

    /// A PostgreSQL round trip never runs on an event-loop thread: the request runs again on a worker (`EventLoopThread`).
    private func refuseOnEventLoop() throws {
        guard EventLoopThread.isCurrent else { return }
        EventLoopThread.recordRefusal()
        throw MustRunOffLoop()
    }

    private func postgresRead<T>(_ postgres: PostgresPool, snapshot: Bool = true, _ body: (Database) throws -> T) throws -> T {
        try refuseOnEventLoop()
        if closed { throw PersistenceUsageError("database is closed") }
        let (result, actions) = try { () throws -> (T, [@Sendable () -> Void]) in
            do {
                return try postgres.withConnection { connection in
                    let db = Database(postgres: connection, readOnly: true)
                    let result = try snapshot ? db.readTransaction(body) : body(db)
                    return (result, db.takeCommitActions())
                }
            } catch {
                throw PostgresDialect.error(error, sql: nil)
            }
        }()
        for action in actions { action() }
        return result
    }

    /// A `write`/`read` on the thread that holds the write transaction: a bug in the caller, which must pass
    /// its transaction instead. Fails loudly in debug builds; a clear error in release builds.
    private func reentered(_ call: String) -> PersistenceUsageError {
        let error = PersistenceUsageError("\(call) called inside a write transaction on the same thread; pass the transaction (in tx:)")
        if configuration.assertOnNestedTransaction { assertionFailure(error.description) }
        return error
    }

    /// Whether the calling thread is inside `write` (work that waits for another writer would deadlock).
    public var isWritingOnThisThread: Bool { writerOwner.load(ordering: .acquiring) == UInt(pthread_self()) }

    /// Runs `body` on a read-only connection; with `snapshot: false` its statements need not share one snapshot, which
    /// on PostgreSQL saves the BEGIN and COMMIT round trips around a read of one statement (the hot path's lookups). On
    /// SQLite the same as `read`.
    public func read<T>(snapshot: Bool, _ body: (Database) throws -> T) throws -> T {
        guard !snapshot, let postgres else { return try read(body) }
        if writerOwner.load(ordering: .acquiring) == UInt(pthread_self()) { throw reentered("read") }
        return try postgresRead(postgres, snapshot: false, body)
    }

    /// Runs `body` on a read-only connection inside one read transaction (one consistent snapshot).
    /// Inside a `write` on the same thread it reads through the writer (and sees the uncommitted changes).
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        let me = UInt(pthread_self())
        if writerOwner.load(ordering: .acquiring) == me { throw reentered("read") }
        if let postgres { return try postgresRead(postgres, body) }
        if isMemory {
            // An in-memory database has a single connection: reads share the writer. A read nested in a read
            // on this thread reuses the open read transaction (reads may nest; only writes are exclusive).
            if memoryReader.load(ordering: .acquiring) == me, let writer { return try body(writer) }
            writerLock.lock()
            guard let writer, !closed else {
                writerLock.unlock()
                throw PersistenceUsageError("database is closed")
            }
            memoryReader.store(me, ordering: .releasing)
            let outcome = Result { try writer.readTransaction(body) }
            let actions = writer.takeCommitActions()
            memoryReader.store(0, ordering: .releasing)
            writerLock.unlock()
            if case .success = outcome { for action in actions { action() } }
            return try outcome.get()
        }
        let reader = try checkoutReader()
        defer { checkin(reader) }
        let result: T
        do {
            result = try reader.readTransaction(body)
        } catch {
            _ = reader.takeCommitActions()   // a failed read's actions never leak into the next read
            throw error
        }
        let actions = reader.takeCommitActions()
        for action in actions { action() }
        return result
    }

    private func checkoutReader() throws -> Database {
        readersCondition.lock()
        defer { readersCondition.unlock() }
        while true {
            if closed { throw PersistenceUsageError("database is closed") }
            if let reader = idleReaders.popLast() { return reader }
            if openReaders < max(1, configuration.readers) {
                openReaders += 1
                do {
                    return try Database(path: path, readOnly: true, configuration: configuration)
                } catch {
                    openReaders -= 1
                    throw error
                }
            }
            readersCondition.wait()
        }
    }

    private func checkin(_ reader: Database) {
        readersCondition.lock()
        if closed {
            openReaders -= 1
        } else {
            idleReaders.append(reader)
        }
        readersCondition.signal()
        readersCondition.unlock()
    }

    /// Holds one connection for `seconds` inside a read (`pg_sleep` on PostgreSQL): the diagnostics route that shows a slow
    /// query does not stall other requests.
    public func sleepInDatabase(seconds: Double) throws {
        try read { db in
            if db.dialect == .postgres {
                _ = try db.queryOne("SELECT pg_sleep(?)", [seconds])
            } else {
                usleep(UInt32(seconds * 1_000_000))
            }
        }
    }

    /// Closes every connection (after in-flight closures finish). Later calls throw.
    public func close() {
        readersCondition.lock()
        if closed {
            readersCondition.unlock()
            return
        }
        closed = true
        changes.stop()
        postgres?.close()
        idleReaders.removeAll()
        readersCondition.broadcast()
        readersCondition.unlock()
        writerLock.lock()
        if let writer { checkpointer?.detach(from: writer) }
        writer?.close()
        writer = nil
        writerLock.unlock()
    }

    /// Checkpoints of the write-ahead log so far: by the background thread, and by the writer itself when the
    /// log outgrew the background thread; and the longest the log has been after a commit, in frames (for
    /// `/metrics` and tests; zeros when SQLite checkpoints on its own).
    public var checkpointStats: (background: Int, writer: Int, longestLog: Int) {
        guard let checkpointer else { return (0, 0, 0) }
        return (checkpointer.backgroundCheckpoints.load(ordering: .relaxed), checkpointer.writerCheckpoints.load(ordering: .relaxed),
                checkpointer.longestLog.load(ordering: .relaxed))
    }

    /// Reader connections opened and idle right now (for `/metrics`).
    public var readerStats: (open: Int, idle: Int) {
        if let postgres { return postgres.statistics }
        readersCondition.lock()
        defer { readersCondition.unlock() }
        return (openReaders, idleReaders.count)
    }

    // MARK: - Maintenance

    /// `PRAGMA integrity_check` and `PRAGMA foreign_key_check`; empty when the file is sound.
    public func integrityCheck() throws -> [String] {
        if postgres != nil { return [] }   // PostgreSQL checks its own pages; constraints are enforced on write
        return try read { db in
            var problems = try db.query("PRAGMA integrity_check").map { $0.string(0) }.filter { $0 != "ok" }
            for row in try db.query("PRAGMA foreign_key_check") {
                problems.append("foreign key violation in \(row.string(0)) rowid \(row.int(1)) → \(row.string(2))")
            }
            return problems
        }
    }

    /// Writes an online, consistent copy of the database to `destination` through `sqlite3_backup_*`.
    /// Other connections keep reading and writing while it runs.
    public func backup(to destination: String) throws {
        if postgres != nil { throw PersistenceUsageError("backup of a PostgreSQL database: use pg_dump") }
        let folder = (destination as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let target = try Database(path: destination, readOnly: false, configuration: configuration)
        try read { source in
            // Start the read transaction now: every step then copies this one snapshot. Otherwise each
            // step opens its own, and any commit in between restarts the backup (forever, under load).
            _ = try source.queryOne("SELECT count(*) FROM sqlite_master")
            guard let backup = sqlite3_backup_init(target.handle, "main", source.handle, "main") else {
                throw target.error(code: sqlite3_errcode(target.handle), sql: nil)
            }
            var code: Int32
            repeat {
                code = sqlite3_backup_step(backup, 256)
                if code == SQLITE_BUSY || code == SQLITE_LOCKED { usleep(10_000) }
            } while code == SQLITE_OK || code == SQLITE_BUSY || code == SQLITE_LOCKED
            let finish = sqlite3_backup_finish(backup)
            guard code == SQLITE_DONE, finish == SQLITE_OK else { throw target.error(code: finish, sql: nil) }
        }
        // A standalone copy: fold the copy's WAL into its main file.
        try target.executeScript("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// A malformed database URL (`--db`, `db.url`): a usage error naming the part (`invalid database URL (port): …`).
public struct DatabaseURLError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
