import Foundation
import Persistence
import Testing

@Suite("Backup and integrity")
struct BackupTests {
    private func allRows(_ pool: DatabasePool, _ sql: String) throws -> [[SQLValue]] {
        try pool.read { db in try db.query(sql).map(\.values) }
    }

    @Test func backupOfAnIdleDatabaseIsAStandaloneCopy() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let source = try DatabasePool(path: folder.file("source.sqlite"))
        try source.write { db in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
            try db.executeMany("INSERT INTO t (name, data) VALUES (?, ?)", (0..<200).map { ["row-\($0)", [UInt8](repeating: UInt8($0 % 256), count: 100)] })
        }
        let destination = folder.file("backups/nested/copy.sqlite")
        try source.backup(to: destination)

        // The main file alone (no -wal / -shm) holds everything.
        let standalone = folder.file("standalone.sqlite")
        try FileManager.default.copyItem(atPath: destination, toPath: standalone)
        for path in [destination, standalone] {
            let copy = try DatabasePool(path: path)
            #expect(try allRows(copy, "SELECT * FROM t ORDER BY id") == allRows(source, "SELECT * FROM t ORDER BY id"))
            #expect(try copy.integrityCheck() == [])
            copy.close()
        }

        // Backing up again over an existing file replaces its contents.
        try source.write { db in try db.execute("DELETE FROM t WHERE id > 10") }
        try source.backup(to: destination)
        let again = try DatabasePool(path: destination)
        #expect(try again.count("t") == 10)
    }

    @Test(.timeLimit(.minutes(1)))
    func backupWhileAnotherThreadKeepsWriting() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let source = try DatabasePool(path: folder.file("busy.sqlite"))
        // Large enough (~20 MB, ~5000 pages) that the backup takes many steps, with commits between them.
        let initialCount = 10_000
        try source.write { db in
            try db.executeScript("""
                CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
                CREATE TABLE log (id INTEGER PRIMARY KEY, note TEXT);
                """)
            try db.executeMany("INSERT INTO t (id, name, data) VALUES (?, ?, ?)", (1...initialCount).map {
                [$0, "row-\($0)", [UInt8](repeating: UInt8($0 % 256), count: 2000)]
            })
        }
        let expected = try allRows(source, "SELECT * FROM t ORDER BY id")

        let stop = Locked(false)
        let started = DispatchSemaphore(value: 0)
        let writes = Locked(0)
        let writerErrors = Locked<[String]>([])
        let writer = TestThread {
            var first = true
            while !stop.current {
                do {
                    try source.write { db in try db.execute("INSERT INTO log (note) VALUES (?)", ["during backup"]) }
                    writes.mutate { $0 += 1 }
                } catch {
                    writerErrors.mutate { $0.append("\(error)") }
                }
                if first { first = false; started.signal() }
            }
        }
        started.wait()
        // If the backup cannot finish while the writer runs, stop the writer after 15 s so the test ends.
        let backupDone = Locked(false)
        let backupStarved = Locked(false)
        let watchdog = TestThread {
            for _ in 0..<150 where !backupDone.current { usleep(100_000) }
            if !backupDone.current {
                backupStarved.mutate { $0 = true }
                stop.mutate { $0 = true }
            }
        }
        let writesBefore = writes.current
        let destination = folder.file("busy-copy.sqlite")
        try source.backup(to: destination)
        backupDone.mutate { $0 = true }
        let writesAfter = writes.current
        stop.mutate { $0 = true }
        writer.join()
        watchdog.join()

        #expect(!backupStarved.current, "the backup must complete while the writer keeps committing")
        #expect(writerErrors.current.isEmpty)
        #expect(writesAfter > writesBefore, "the writer kept writing while the backup ran")
        let copy = try DatabasePool(path: destination)
        #expect(try allRows(copy, "SELECT * FROM t ORDER BY id") == expected)
        let copiedLog = try copy.count("log")
        #expect(copiedLog >= Int64(writesBefore))
        let finalLog = try source.count("log")
        #expect(copiedLog <= finalLog)
        #expect(try copy.integrityCheck() == [])
        #expect(try source.integrityCheck() == [])
        // The copy is a working database.
        try copy.write { db in try db.execute("INSERT INTO log (note) VALUES (?)", ["in the copy"]) }
        #expect(try copy.count("log") == copiedLog + 1)
    }

    @Test func integrityCheckIsEmptyForASoundFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("sound.sqlite"))
        #expect(try pool.integrityCheck() == [])
        try pool.write { db in
            try db.executeScript("""
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
                CREATE INDEX child_parent ON child (parent_id);
                """)
            try db.executeMany("INSERT INTO parent (id) VALUES (?)", (1...50).map { [$0] })
            try db.executeMany("INSERT INTO child (parent_id) VALUES (?)", (1...500).map { [$0 % 50 + 1] })
        }
        #expect(try pool.integrityCheck() == [])
    }
}
