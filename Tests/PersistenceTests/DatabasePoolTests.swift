import Foundation
import Persistence
import Testing

@Suite("DatabasePool")
struct DatabasePoolTests {
    // MARK: - Values

    @Test func roundTripsEveryValueKind() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("values.sqlite"))
        let text = "héllo wörld — 日本語 🚀 \u{0} end"
        let blob: [UInt8] = [0, 1, 2, 127, 128, 254, 255, 0]
        try pool.write { db in
            try db.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n)")
            try db.execute("INSERT INTO v (i, r, t, b, n) VALUES (?, ?, ?, ?, ?)", [Int64.max, 3.25, text, blob, SQLValue.null])
            try db.execute("INSERT INTO v (i, r, t, b, n) VALUES (?, ?, ?, ?, ?)", [Int64.min, -1.5e300, "", [UInt8](), SQLValue.null])
            try db.execute("INSERT INTO v (i, r, t, b, n) VALUES (?, ?, ?, ?, ?)", [Int32(-7), 0.1, Substring("sub"), SQLValue.blob([9]), SQLValue.integer(5)])
        }
        let rows = try pool.read { db in try db.query("SELECT i, r, t, b, n FROM v ORDER BY id") }
        #expect(rows.count == 3)
        #expect(rows[0].values == [.integer(Int64.max), .real(3.25), .text(text), .blob(blob), .null])
        #expect(rows[0].string(2) == text)
        #expect(rows[0].blob(3) == blob)
        #expect(rows[0].isNull(4))
        #expect(rows[1].values == [.integer(Int64.min), .real(-1.5e300), .text(""), .blob([]), .null])
        #expect(rows[2].values == [.integer(-7), .real(0.1), .text("sub"), .blob([9]), .integer(5)])
        #expect(rows[2].int(0) == -7)
        #expect(rows[2].double(1) == 0.1)

        let types = try #require(try pool.read { db in
            try db.queryOne("SELECT typeof(i), typeof(r), typeof(t), typeof(b), typeof(n) FROM v WHERE id = 1")
        })
        #expect(types.values == [.text("integer"), .text("real"), .text("text"), .text("blob"), .text("null")])

        // queryOne with a WHERE binding and no match.
        let text2 = try pool.read { db in try db.queryOne("SELECT t FROM v WHERE t = ?", [text])?.string(0) }
        #expect(text2 == text)
        let none = try pool.read { db in try db.queryOne("SELECT t FROM v WHERE id = ?", [999]) }
        #expect(none == nil)
    }

    @Test func bindsOptionalsAndBools() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("optional.sqlite"))
        let some: String? = "present"
        let missing: Int? = nil
        let missingText: String? = nil
        try pool.write { db in
            try db.execute("CREATE TABLE o (a, b, c, yes, no)")
            try db.execute("INSERT INTO o VALUES (?, ?, ?, ?, ?)", [some, missing, missingText, true, false])
        }
        let row = try #require(try pool.read { db in try db.queryOne("SELECT a, b, c, yes, no FROM o") })
        #expect(row.values == [.text("present"), .null, .null, .integer(1), .integer(0)])
        #expect(row.optionalString(0) == "present")
        #expect(row.optionalInt(1) == nil)
        #expect(row.optionalString(2) == nil)
        #expect(row.int(1) == 0)
        #expect(row.bool(3) == true)
        #expect(row.bool(4) == false)
        #expect(row.optionalBool(3) == true)
        #expect(row.optionalBool(1) == nil)

        // Binding nil in a WHERE clause matches nothing (NULL = NULL is not true), IS matches.
        let isNull = try pool.read { db in try db.query("SELECT a FROM o WHERE b IS ?", [missing]) }
        #expect(isNull.count == 1)
        let equalsNull = try pool.read { db in try db.query("SELECT a FROM o WHERE b = ?", [missing]) }
        #expect(equalsNull.isEmpty)
        let byBool = try pool.read { db in try db.query("SELECT a FROM o WHERE yes = ?", [true]) }
        #expect(byBool.count == 1)
    }

    @Test func reportsLastInsertRowIDAndChanges() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("ids.sqlite"))
        let ids = try pool.write { db -> [Int64] in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
            var ids: [Int64] = []
            for name in ["a", "b", "c"] {
                try db.execute("INSERT INTO t (name) VALUES (?)", [name])
                #expect(db.changes == 1)
                ids.append(db.lastInsertRowID)
            }
            return ids
        }
        #expect(ids == [1, 2, 3])

        let (updated, deleted, noMatch) = try pool.write { db -> (Int, Int, Int) in
            try db.execute("UPDATE t SET name = name || '!' WHERE id >= ?", [2])
            let updated = db.changes
            try db.execute("DELETE FROM t WHERE id = ?", [1])
            let deleted = db.changes
            try db.execute("DELETE FROM t WHERE id = ?", [42])
            return (updated, deleted, db.changes)
        }
        #expect(updated == 2)
        #expect(deleted == 1)
        #expect(noMatch == 0)
        let names = try pool.read { db in try db.query("SELECT name FROM t ORDER BY id").map { $0.string(0) } }
        #expect(names == ["b!", "c!"])

        let explicit = try pool.write { db -> Int64 in
            try db.execute("INSERT INTO t (id, name) VALUES (?, ?)", [100, "x"])
            return db.lastInsertRowID
        }
        #expect(explicit == 100)
    }

    // MARK: - Errors

    @Test func wrongArgumentCountThrowsUsageError() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("args.sqlite"))
        try pool.write { db in try db.execute("CREATE TABLE t (a, b)") }
        #expect(throws: PersistenceUsageError.self) {
            try pool.write { db in try db.execute("INSERT INTO t VALUES (?, ?)", [1]) }
        }
        #expect(throws: PersistenceUsageError.self) {
            try pool.write { db in try db.execute("INSERT INTO t VALUES (?, ?)", [1, 2, 3]) }
        }
        #expect(throws: PersistenceUsageError.self) {
            try pool.read { db in try db.query("SELECT * FROM t WHERE a = ?") }
        }
        #expect(throws: PersistenceUsageError.self) {
            try pool.write { db in try db.executeMany("INSERT INTO t VALUES (?, ?)", [[1, 2], [3]]) }
        }
        // Nothing of the failed writes remains, and the cached statement still works afterwards.
        #expect(try pool.count("t") == 0)
        try pool.write { db in try db.execute("INSERT INTO t VALUES (?, ?)", [1, 2]) }
        #expect(try pool.count("t") == 1)
    }

    @Test func badSQLThrowsDatabaseErrorCarryingTheSQL() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("bad.sqlite"))
        let sql = "SELEKT nonsense FROM nowhere"
        let error = #expect(throws: DatabaseError.self) {
            try pool.read { db in try db.query(sql) }
        }
        #expect(error?.sql == sql)
        #expect(error?.primaryCode == 1) // SQLITE_ERROR
        #expect(error?.message.isEmpty == false)
        #expect(error?.description.contains(sql) == true)

        let missingTable = "INSERT INTO missing VALUES (1)"
        let writeError = #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.execute(missingTable) }
        }
        #expect(writeError?.sql == missingTable)
        #expect(writeError?.message.contains("missing") == true)

        let script = "CREATE TABLE ok (a); THIS IS NOT SQL"
        let scriptError = #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.executeScript(script) }
        }
        #expect(scriptError?.sql == script)
        // The script ran in a write that rolled back: its first statement is gone too.
        let tables = try pool.read { db in try db.query("SELECT name FROM sqlite_master WHERE name = 'ok'") }
        #expect(tables.isEmpty)
    }

    @Test func uniqueViolationIsRecognised() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("unique.sqlite"))
        try pool.write { db in
            try db.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)")
            try db.execute("INSERT INTO u (id, email) VALUES (?, ?)", [1, "a@example.com"])
        }
        let error = #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.execute("INSERT INTO u (email) VALUES (?)", ["a@example.com"]) }
        }
        #expect(error?.isUniqueViolation == true)
        #expect(error?.isConstraintViolation == true)
        #expect(error?.isForeignKeyViolation == false)
        #expect(error?.extendedCode == 2067)

        let primaryKey = #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.execute("INSERT INTO u (id, email) VALUES (?, ?)", [1, "b@example.com"]) }
        }
        #expect(primaryKey?.isUniqueViolation == true)

        let notNull = #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.execute("INSERT INTO u (email) VALUES (?)", [String?.none]) }
        }
        #expect(notNull?.isUniqueViolation == false)
        #expect(notNull?.isConstraintViolation == true)
        #expect(try pool.count("u") == 1)
    }

    @Test func foreignKeysAreEnforced() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("fk.sqlite"))
        try pool.write { db in
            try db.executeScript("""
                CREATE TABLE parent (id INTEGER PRIMARY KEY);
                CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));
                """)
        }
        let error = #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.execute("INSERT INTO child (parent_id) VALUES (?)", [42]) }
        }
        #expect(error?.isForeignKeyViolation == true)
    }

    // MARK: - Transactions

    @Test func throwingWriteRollsBackAndDropsOnCommitActions() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("rollback.sqlite"))
        try pool.write { db in try db.execute("CREATE TABLE t (name TEXT)") }
        let ran = Locked(0)
        #expect(throws: ExpectedFailure.self) {
            try pool.write { db in
                try db.execute("INSERT INTO t VALUES (?)", ["first"])
                db.onCommit { ran.mutate { $0 += 1 } }
                try db.execute("INSERT INTO t VALUES (?)", ["second"])
                throw ExpectedFailure()
            }
        }
        #expect(try pool.count("t") == 0)
        #expect(ran.current == 0)

        // A later successful write does not resurrect the dropped action.
        try pool.write { db in try db.execute("INSERT INTO t VALUES (?)", ["third"]) }
        #expect(ran.current == 0)
        let names = try pool.read { db in try db.query("SELECT name FROM t").map { $0.string(0) } }
        #expect(names == ["third"])
    }

    @Test func successfulWriteRunsOnCommitActionsOnceAfterCommit() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("commit.sqlite"))
        try pool.write { db in try db.execute("CREATE TABLE t (name TEXT)") }
        // What each action saw: the row count through an independent reader connection.
        let seen = Locked<[String]>([])
        try pool.write { db in
            try db.execute("INSERT INTO t VALUES (?)", ["a"])
            db.onCommit {
                let count = (try? pool.count("t")) ?? -1
                seen.mutate { $0.append("first:\(count)") }
            }
            db.onCommit { seen.mutate { $0.append("second") } }
            try db.execute("INSERT INTO t VALUES (?)", ["b"])
            #expect(seen.current.isEmpty, "onCommit must not run before the transaction commits")
        }
        #expect(seen.current == ["first:2", "second"])

        try pool.write { db in try db.execute("INSERT INTO t VALUES (?)", ["c"]) }
        #expect(seen.current == ["first:2", "second"], "actions run exactly once")
    }

    @Test func savepointsNestInsideOneTransaction() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("nested.sqlite"))
        try pool.write { db in try db.execute("CREATE TABLE t (name TEXT)") }
        let actions = Locked<[String]>([])
        try pool.write { db in
            try db.execute("INSERT INTO t VALUES (?)", ["outer-1"])
            db.onCommit { actions.mutate { $0.append("outer") } }
            do {
                try db.savepoint { inner in
                    try inner.execute("INSERT INTO t VALUES (?)", ["inner-failed"])
                    inner.onCommit { actions.mutate { $0.append("inner-failed") } }
                    throw ExpectedFailure()
                }
                Issue.record("the savepoint should have thrown")
            } catch is ExpectedFailure {}
            try db.savepoint { inner in
                try inner.execute("INSERT INTO t VALUES (?)", ["inner-ok"])
                inner.onCommit { actions.mutate { $0.append("inner-ok") } }
            }
            #expect(actions.current.isEmpty)
            try db.execute("INSERT INTO t VALUES (?)", ["outer-2"])
        }
        let names = try pool.read { db in try db.query("SELECT name FROM t ORDER BY rowid").map { $0.string(0) } }
        #expect(names == ["outer-1", "inner-ok", "outer-2"])
        #expect(actions.current == ["outer", "inner-ok"])

        // An outer failure rolls back a savepoint that succeeded.
        #expect(throws: ExpectedFailure.self) {
            try pool.write { db in
                try db.savepoint { inner in try inner.execute("INSERT INTO t VALUES (?)", ["doomed"]) }
                throw ExpectedFailure()
            }
        }
        #expect(try pool.count("t") == 3)
        // A savepoint needs a write transaction.
        #expect(throws: PersistenceUsageError.self) { try pool.read { db in try db.savepoint { _ in } } }
    }

    @Test func aWriteOrReadInsideAWriteOnTheSameThreadIsRefused() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var configuration = DatabaseConfiguration()
        configuration.assertOnNestedTransaction = false   // report instead of stopping the test process
        for path in [folder.file("reentry.sqlite"), ":memory:"] {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in try db.execute("CREATE TABLE t (name TEXT)") }
            #expect(throws: PersistenceUsageError.self) {
                try pool.write { db in
                    try db.execute("INSERT INTO t VALUES (?)", ["outer"])
                    try pool.write { inner in try inner.execute("INSERT INTO t VALUES (?)", ["joined"]) }
                }
            }
            #expect(throws: PersistenceUsageError.self) {
                try pool.write { _ in _ = try pool.count("t") }
            }
            // Nothing of the refused transactions was committed; the pool still works.
            #expect(try pool.count("t") == 0)
            try pool.write { db in try db.execute("INSERT INTO t VALUES (?)", ["after"]) }
            #expect(try pool.count("t") == 1)
        }
    }

    @Test func readIsOneSnapshot() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("snapshot.sqlite"))
        try pool.write { db in try db.execute("CREATE TABLE t (n INTEGER)") }
        let counts = try pool.read { db -> [Int64] in
            let before = try db.queryOne("SELECT count(*) FROM t")?.int(0) ?? -1
            // A commit from another thread during this read transaction.
            let thread = TestThread { try? pool.write { w in try w.execute("INSERT INTO t VALUES (1)") } }
            thread.join()
            let after = try db.queryOne("SELECT count(*) FROM t")?.int(0) ?? -1
            return [before, after]
        }
        #expect(counts == [0, 0])
        #expect(try pool.count("t") == 1)
    }

    // MARK: - Concurrency

    @Test func readersAreNotBlockedByALongWrite() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("readers.sqlite"))
        try pool.write { db in
            try db.execute("CREATE TABLE t (name TEXT)")
            try db.execute("INSERT INTO t VALUES (?)", ["committed"])
        }
        let insideWrite = DispatchSemaphore(value: 0)
        let readsDone = DispatchSemaphore(value: 0)
        let writerCommitted = Locked(false)
        let writerTimedOut = Locked(false)
        let writerError = Locked<String?>(nil)
        let writer = TestThread {
            do {
                try pool.write { db in
                    try db.execute("INSERT INTO t VALUES (?)", ["uncommitted"])
                    insideWrite.signal()
                    // Hold the transaction open until the reads are done (at most 10 s).
                    if readsDone.wait(timeout: .now() + 10) == .timedOut { writerTimedOut.mutate { $0 = true } }
                }
                writerCommitted.mutate { $0 = true }
            } catch {
                writerError.mutate { $0 = "\(error)" }
                insideWrite.signal()
            }
        }
        insideWrite.wait()
        var observed: [[String]] = []
        for _ in 0..<20 {
            observed.append(try pool.read { db in try db.query("SELECT name FROM t ORDER BY rowid").map { $0.string(0) } })
        }
        // Several readers at once, from other threads, too.
        let parallel = Locked<[Int64]>([])
        let readers = (0..<4).map { _ in TestThread { parallel.mutate { $0.append((try? pool.count("t")) ?? -1) } } }
        readers.forEach { $0.join() }
        let committedBeforeReadsFinished = writerCommitted.current
        readsDone.signal()
        writer.join()

        #expect(writerError.current == nil)
        #expect(!committedBeforeReadsFinished, "the reads completed while the write was still open")
        #expect(!writerTimedOut.current)
        #expect(observed.allSatisfy { $0 == ["committed"] })
        #expect(parallel.current == [1, 1, 1, 1])
        let after = try pool.read { db in try db.query("SELECT name FROM t ORDER BY rowid").map { $0.string(0) } }
        #expect(after == ["committed", "uncommitted"])
    }

    @Test func concurrentWritesAllLand() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("concurrent.sqlite"))
        try pool.write { db in try db.execute("CREATE TABLE t (thread INTEGER, seq INTEGER, UNIQUE (thread, seq))") }
        let failures = Locked<[String]>([])
        let threads = (0..<8).map { thread in
            TestThread {
                for seq in 0..<50 {
                    do {
                        try pool.write { db in try db.execute("INSERT INTO t VALUES (?, ?)", [thread, seq]) }
                        // Interleave reads with the writes.
                        if seq % 10 == 0 { _ = try pool.count("t") }
                    } catch {
                        failures.mutate { $0.append("\(error)") }
                    }
                }
            }
        }
        threads.forEach { $0.join() }
        #expect(failures.current.isEmpty)
        #expect(try pool.count("t") == 400)
        let perThread = try pool.read { db in
            try db.query("SELECT thread, count(*) FROM t GROUP BY thread ORDER BY thread").map { $0.int(1) }
        }
        #expect(perThread == Array(repeating: 50, count: 8))
    }

    @Test func twoPoolsOnOneFileShareCommittedData() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("shared.sqlite")
        let first = try DatabasePool(path: path)
        let second = try DatabasePool(path: path)
        try first.write { db in
            try db.execute("CREATE TABLE t (origin TEXT, n INTEGER)")
            try db.execute("INSERT INTO t VALUES (?, ?)", ["first", 0])
        }
        #expect(try second.read { db in try db.queryOne("SELECT origin FROM t")?.string(0) } == "first")
        try second.write { db in try db.execute("INSERT INTO t VALUES (?, ?)", ["second", 0]) }
        #expect(try first.count("t") == 2)

        // Both write at the same time; the busy timeout serializes them instead of failing.
        let failures = Locked<[String]>([])
        let threads = [("first", first), ("second", second)].map { origin, pool in
            TestThread {
                for n in 1...100 {
                    do {
                        try pool.write { db in try db.execute("INSERT INTO t VALUES (?, ?)", [origin, n]) }
                    } catch {
                        failures.mutate { $0.append("\(error)") }
                    }
                }
            }
        }
        threads.forEach { $0.join() }
        #expect(failures.current.isEmpty)
        for pool in [first, second] {
            let counts = try pool.read { db in
                try db.query("SELECT origin, count(*) FROM t GROUP BY origin ORDER BY origin").map { "\($0.string(0))=\($0.int(1))" }
            }
            #expect(counts == ["first=101", "second=101"])
        }
        first.close()
        second.close()
    }

    // MARK: - Streaming and bulk

    @Test func forEachStreamsRowsAndStopsEarly() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("foreach.sqlite"))
        try pool.write { db in
            try db.execute("CREATE TABLE t (n INTEGER)")
            try db.executeMany("INSERT INTO t VALUES (?)", (1...100).map { [$0] })
        }
        let all = try pool.read { db -> [Int64] in
            var values: [Int64] = []
            try db.forEach("SELECT n FROM t WHERE n > ? ORDER BY n", [90]) { row in
                values.append(row.int(0))
                return true
            }
            return values
        }
        #expect(all == Array(91...100))

        let (firstFive, calls) = try pool.read { db -> ([Int64], Int) in
            var values: [Int64] = []
            var calls = 0
            try db.forEach("SELECT n FROM t ORDER BY n") { row in
                calls += 1
                values.append(row.int(0))
                return values.count < 5
            }
            return (values, calls)
        }
        #expect(firstFive == [1, 2, 3, 4, 5])
        #expect(calls == 5)

        #expect(throws: ExpectedFailure.self) {
            try pool.read { db in try db.forEach("SELECT n FROM t") { _ in throw ExpectedFailure() } }
        }
        // The pool's connections are still usable after an early stop / a throw.
        #expect(try pool.count("t") == 100)
        try pool.write { db in try db.execute("DELETE FROM t WHERE n > 50") }
        #expect(try pool.count("t") == 50)
    }

    @Test func executeManyInsertsManyRows() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("many.sqlite"))
        let rows: [[any SQLBindable]] = (0..<5000).map { [$0, "name-\($0)", $0 % 2 == 0 ? nil : Double($0) / 2] as [any SQLBindable] }
        try pool.write { db in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, half REAL)")
            try db.executeMany("INSERT INTO t VALUES (?, ?, ?)", rows)
        }
        #expect(try pool.count("t") == 5000)
        let sample = try pool.read { db in try db.query("SELECT id, name, half FROM t WHERE id IN (0, 1, 4999) ORDER BY id") }
        #expect(sample.map(\.values) == [
            [.integer(0), .text("name-0"), .null],
            [.integer(1), .text("name-1"), .real(0.5)],
            [.integer(4999), .text("name-4999"), .real(2499.5)],
        ])
        // A failing row rolls back the whole batch.
        #expect(throws: DatabaseError.self) {
            try pool.write { db in try db.executeMany("INSERT INTO t VALUES (?, ?, ?)", [[6000, "new", 1.0], [0, "duplicate", 1.0]]) }
        }
        #expect(try pool.count("t") == 5000)
    }

    // MARK: - Lifecycle

    @Test func closeMakesLaterCallsThrow() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("close.sqlite"))
        try pool.write { db in
            try db.execute("CREATE TABLE t (n INTEGER)")
            try db.execute("INSERT INTO t VALUES (1)")
        }
        #expect(try pool.count("t") == 1)
        pool.close()
        #expect(throws: PersistenceUsageError.self) { try pool.read { db in try db.query("SELECT 1") } }
        #expect(throws: PersistenceUsageError.self) { try pool.write { db in try db.execute("INSERT INTO t VALUES (2)") } }
        pool.close() // idempotent

        // The data is on disk: a new pool sees it.
        let reopened = try DatabasePool(path: folder.file("close.sqlite"))
        #expect(try reopened.count("t") == 1)
    }

    @Test func inMemoryDatabaseReadsAndWrites() throws {
        let pool = try DatabasePool(path: ":memory:")
        try pool.write { db in
            try db.execute("CREATE TABLE t (name TEXT)")
            try db.execute("INSERT INTO t VALUES (?)", ["memory"])
        }
        #expect(try pool.read { db in try db.queryOne("SELECT name FROM t")?.string(0) } == "memory")
        #expect(throws: ExpectedFailure.self) {
            try pool.write { db in
                try db.execute("INSERT INTO t VALUES (?)", ["rolled back"])
                throw ExpectedFailure()
            }
        }
        #expect(try pool.count("t") == 1)
        let inside = try pool.write { db -> Int64 in
            try db.execute("INSERT INTO t VALUES (?)", ["second"])
            return try db.queryOne("SELECT count(*) FROM t")?.int(0) ?? -1
        }
        #expect(inside == 2)
        #expect(try pool.integrityCheck() == [])

        // Two in-memory pools are independent databases.
        let other = try DatabasePool(path: ":memory:")
        #expect(throws: DatabaseError.self) { try other.count("t") }
        pool.close()
        #expect(throws: PersistenceUsageError.self) { try pool.read { db in try db.query("SELECT 1") } }
    }

    @Test func createsMissingFolders() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("a/b/c/db.sqlite")
        let pool = try DatabasePool(path: path)
        try pool.write { db in try db.execute("CREATE TABLE t (n)") }
        #expect(FileManager.default.fileExists(atPath: path))
        let mode = try pool.read { db in try db.queryOne("PRAGMA journal_mode")?.string(0) }
        #expect(mode == "wal")
    }
}
