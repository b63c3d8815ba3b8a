internal import CSQLite
import Core
import Foundation
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
public final class DatabasePool: @unchecked Sendable {
    public let path: String
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

    /// Opens (creating the file and its folder when missing) and configures WAL mode.
    public init(path: String, configuration: DatabaseConfiguration = DatabaseConfiguration()) throws {
        self.path = path
        self.configuration = configuration
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

    deinit { close() }

    // MARK: - Access

    /// Runs `body` in the write transaction of the single writer connection.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        let me = UInt(pthread_self())
        if writerOwner.load(ordering: .acquiring) == me || memoryReader.load(ordering: .acquiring) == me {
            throw reentered("write")
        }
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

    /// A `write`/`read` on the thread that holds the write transaction: a bug in the caller, which must pass
    /// its transaction instead. Fails loudly in debug builds; a clear error in release builds.
    private func reentered(_ call: String) -> PersistenceUsageError {
        let error = PersistenceUsageError("\(call) called inside a write transaction on the same thread; pass the transaction (in tx:)")
        if configuration.assertOnNestedTransaction { assertionFailure(error.description) }
        return error
    }

    /// Whether the calling thread is inside `write` (work that waits for another writer would deadlock).
    public var isWritingOnThisThread: Bool { writerOwner.load(ordering: .acquiring) == UInt(pthread_self()) }

    /// Runs `body` on a read-only connection inside one read transaction (one consistent snapshot).
    /// Inside a `write` on the same thread it reads through the writer (and sees the uncommitted changes).
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        let me = UInt(pthread_self())
        if writerOwner.load(ordering: .acquiring) == me { throw reentered("read") }
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

    /// Closes every connection (after in-flight closures finish). Later calls throw.
    public func close() {
        readersCondition.lock()
        if closed {
            readersCondition.unlock()
            return
        }
        closed = true
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
        readersCondition.lock()
        defer { readersCondition.unlock() }
        return (openReaders, idleReaders.count)
    }

    // MARK: - Maintenance

    /// `PRAGMA integrity_check` and `PRAGMA foreign_key_check`; empty when the file is sound.
    public func integrityCheck() throws -> [String] {
        try read { db in
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
