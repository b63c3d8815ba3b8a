internal import CSQLite
import Foundation
import Synchronization

/// Moves the write-ahead log's frames into the database file on a thread of its own (a passive checkpoint on a
/// connection of its own), so the writer never pays a checkpoint's page copies and `fsync`s inside a commit.
///
/// SQLite's default auto-checkpoint runs in the committing connection once the log holds 1 000 frames: under a
/// steady telemetry load that put a checkpoint (two `fdatasync`s, up to tens of milliseconds on this disk) into
/// every few group commits, and every request waiting on that commit waited for it too. Here the writer's WAL
/// hook only wakes this thread once the log holds `threshold` frames. A passive checkpoint never blocks the writer
/// or readers; SQLite restarts the log from its start at the first write after a complete one. When the log keeps
/// growing past `16 × threshold` frames (long readers pin it, or the thread falls behind), the writer checkpoints
/// passively itself, exactly as SQLite's auto-checkpoint would. Durability is unchanged: a checkpoint syncs the
/// log before copying, whichever thread runs it.
final class WALCheckpointer: @unchecked Sendable {
    let threshold: Int32
    /// Checkpoints run by this thread, and by the writer as the backstop.
    let backgroundCheckpoints = Atomic<Int>(0)
    let writerCheckpoints = Atomic<Int>(0)
    /// The longest the log has been after a commit, in frames (the file itself keeps its high-water size).
    let longestLog = Atomic<Int>(0)

    /// Its own connection; closed by `detach` once the thread has stopped (so the writer's close is the last one and
    /// SQLite checkpoints and removes the log then).
    private var connection: Database?
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var frames: Int32 = 0
    /// The log's length when the last checkpoint here ended: the next one waits for `threshold` new frames beyond
    /// it (under a writer that never pauses a checkpoint rarely catches up, and re-running it after every commit
    /// would only add `fsync`s). Back to 0 when the log restarts.
    private var checkpointedLog: Int32 = 0
    private var stopping = false
    private var running = false
    /// A checkpoint is running on this thread / on the writer (they exclude each other: a second checkpoint
    /// would only get SQLITE_BUSY).
    private var checkpointing = false
    private var writerCheckpointing = false

    init(path: String, threshold: Int32, configuration: DatabaseConfiguration) throws {
        self.threshold = max(1, threshold)
        connection = try Database(path: path, readOnly: false, configuration: configuration)
    }

    /// Starts the thread and hooks it to `writer` (which no longer checkpoints on its own).
    func attach(to writer: Database) {
        running = true
        let thread = Thread { [self] in run() }
        thread.name = "wal-checkpoint"
        thread.start()
        sqlite3_wal_hook(writer.handle, { context, db, _, frames in
            guard let context else { return SQLITE_OK }
            Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().logGrew(to: frames, writer: db)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Unhooks `writer` and stops the thread after the checkpoint it may be running.
    func detach(from writer: Database) {
        sqlite3_wal_hook(writer.handle, nil, nil)
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        connection = nil
        condition.unlock()
    }

    /// Called by SQLite on the writer's thread after each commit, with the frames now in the log.
    private func logGrew(to count: Int32, writer: OpaquePointer?) {
        if Int(count) > longestLog.load(ordering: .relaxed) { longestLog.store(Int(count), ordering: .relaxed) }
        if Int(count) >= Int(threshold) * 16, let writer {
            // The backstop: wait for the thread's checkpoint to end (it has backfilled most of the log), then
            // finish the job here, where no commit can append meanwhile, so the log restarts at the next write.
            condition.lock()
            while checkpointing { condition.wait() }
            writerCheckpointing = true
            condition.unlock()
            sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            writerCheckpoints.add(1, ordering: .relaxed)
            condition.lock()
            writerCheckpointing = false
            frames = 0
            checkpointedLog = 0
            condition.broadcast()
            condition.unlock()
            return
        }
        condition.lock()
        defer { condition.unlock() }
        if count < checkpointedLog { (checkpointedLog, frames) = (0, 0) }   // the log restarted
        guard count >= threshold else { return }
        frames = count
        if count - checkpointedLog >= threshold { condition.signal() }
    }

    private func run() {
        condition.lock()
        while !stopping {
            if frames - checkpointedLog < threshold || writerCheckpointing {
                condition.wait()
                continue
            }
            frames = 0
            checkpointing = true
            condition.unlock()
            // SQLITE_BUSY (another process checkpoints) just means "next time".
            var log: Int32 = 0
            var copied: Int32 = 0
            if let handle = connection?.handle { sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) }
            backgroundCheckpoints.add(1, ordering: .relaxed)
            condition.lock()
            checkpointedLog = max(0, log)
            checkpointing = false
            condition.broadcast()
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
