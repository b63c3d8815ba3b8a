import Foundation
import Persistence
import Testing

@Suite("WAL checkpoints")
struct CheckpointTests {
    static func walBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0
    }

    /// A pool on `folder/name` whose background checkpointer wakes at `frames` (0: SQLite's auto-checkpoint).
    static func pool(_ folder: TemporaryFolder, _ name: String, checkpointFrames frames: Int32) throws -> (DatabasePool, String) {
        var configuration = DatabaseConfiguration()
        configuration.backgroundCheckpointFrames = frames
        let path = folder.file(name)
        return (try DatabasePool(path: path, configuration: configuration), path)
    }

    static func fill(_ pool: DatabasePool, transactions: Int) throws {
        try pool.write { db in try db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)") }
        let blob = [UInt8](repeating: 7, count: 3000)
        for _ in 0..<transactions {
            try pool.write { db in
                for _ in 0..<4 { try db.execute("INSERT INTO t (v) VALUES (?)", [blob]) }
            }
        }
    }

    /// The background thread keeps the log short without the writer checkpointing: 400 commits of ~4 pages
    /// each would leave a log of ~1 600 frames (6 MB) without any checkpoint.
    @Test func theBackgroundThreadCheckpointsAndTheLogStaysShort() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (pool, path) = try Self.pool(folder, "wal.sqlite", checkpointFrames: 40)
        try Self.fill(pool, transactions: 400)
        let deadline = Date().addingTimeInterval(10)
        while pool.checkpointStats.background == 0, Date() < deadline { usleep(10_000) }
        #expect(pool.checkpointStats.background > 0)
        // Bounded by the writer's backstop (16 × 40 frames, plus the commits while a checkpoint is busy), far
        // below the ~2 000 frames of no checkpoint at all.
        #expect(pool.checkpointStats.longestLog < 16 * 40 + 200)
        #expect(try pool.read { try $0.queryOne("SELECT count(*) FROM t")?.int(0) } == 1600)
        pool.close()
        // The thread's connection closed first, so the writer's close was the last: SQLite folded the log in and
        // removed it (a log left behind, up to 16 × the threshold, would be replayed at the next start).
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let reopened = try DatabasePool(path: path)
        #expect(try reopened.read { try $0.queryOne("SELECT count(*) FROM t")?.int(0) } == 1600)
        #expect(try reopened.integrityCheck().isEmpty)
        reopened.close()
    }

    /// While a reader pins the log (so no checkpoint can finish and the log cannot restart), the thread checkpoints
    /// once per `threshold` new frames, not after every commit (each run costs two `fsync`s).
    @Test func aPinnedLogIsNotCheckpointedAfterEveryCommit() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (pool, _) = try Self.pool(folder, "pinned.sqlite", checkpointFrames: 40)
        try Self.fill(pool, transactions: 1)
        let reading = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let reader = TestThread {
            _ = try? pool.read { db in
                _ = try db.queryOne("SELECT count(*) FROM t")
                reading.signal()
                release.wait()
            }
        }
        reading.wait()
        let blob = [UInt8](repeating: 1, count: 3000)
        for _ in 0..<100 {
            try pool.write { db in for _ in 0..<4 { try db.execute("INSERT INTO t (v) VALUES (?)", [blob]) } }
            usleep(2_000)
        }
        release.signal()
        reader.join()
        let stats = pool.checkpointStats
        #expect(stats.longestLog > 300 && stats.longestLog < 16 * 40)
        #expect(stats.background >= 1 && stats.background <= stats.longestLog / 40 + 2)
        pool.close()
    }

    /// With the background checkpointer off, SQLite's own auto-checkpoint runs as before.
    @Test func offLeavesCheckpointsToSQLite() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (pool, path) = try Self.pool(folder, "auto.sqlite", checkpointFrames: 0)
        try Self.fill(pool, transactions: 400)
        #expect(pool.checkpointStats.background == 0 && pool.checkpointStats.writer == 0 && pool.checkpointStats.longestLog == 0)
        #expect(Self.walBytes(path) < 1200 * 4200)
        pool.close()
    }

    /// Closing the pool stops the thread and leaves a sound file, repeatedly (no hang, no use after close).
    @Test func closingStopsTheThread() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var configuration = DatabaseConfiguration()
        configuration.backgroundCheckpointFrames = 8
        let path = folder.file("close.sqlite")
        for round in 1...5 {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try Self.fill(pool, transactions: 30)
            pool.close()
            let check = try DatabasePool(path: path)
            #expect(try check.read { try $0.queryOne("SELECT count(*) FROM t")?.int(0) } == Int64(round * 120))
            check.close()
        }
    }
}
