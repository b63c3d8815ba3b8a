import Core
import Foundation
import Persistence
import Testing

@Suite struct TransactionSafetyTests {
    /// SQLite can roll a whole transaction back on its own (here a trigger's RAISE(ROLLBACK); in production
    /// SQLITE_FULL or an I/O error). A caller that catches the error must not go on writing in autocommit mode.
    @Test func aTransactionRolledBackBySQLiteCannotBeContinued() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("lost.sqlite"))
        try pool.write { db in
            try db.executeScript("""
                CREATE TABLE a (v INTEGER); CREATE TABLE guarded (v INTEGER); CREATE TABLE c (v INTEGER);
                CREATE TRIGGER veto BEFORE INSERT ON guarded BEGIN SELECT RAISE(ROLLBACK, 'vetoed'); END;
                """)
        }
        #expect(throws: DatabaseError.self) {
            try pool.write { db in
                try db.execute("INSERT INTO a VALUES (1)")
                _ = try? db.execute("INSERT INTO guarded VALUES (2)")   // rolls the whole transaction back
                try db.execute("INSERT INTO c VALUES (3)")             // must fail, not autocommit
            }
        }
        #expect(try pool.read { try $0.queryOne("SELECT COUNT(*) FROM a")?.int(0) } == 0)
        #expect(try pool.read { try $0.queryOne("SELECT COUNT(*) FROM c")?.int(0) } == 0)
        // The connection is usable again afterwards.
        try pool.write { db in try db.execute("INSERT INTO c VALUES (4)") }
        #expect(try pool.read { try $0.queryOne("SELECT COUNT(*) FROM c")?.int(0) } == 1)
    }

    @Test func aFailedReadsOnCommitActionsNeverRunLater() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("read.sqlite"), configuration: { var c = DatabaseConfiguration(); c.readers = 1; return c }())
        try pool.write { db in try db.execute("CREATE TABLE t (v INTEGER)") }
        let ran = Locked(0)
        #expect(throws: ExpectedFailure.self) {
            try pool.read { db in
                db.onCommit { ran.mutate { $0 += 1 } }
                throw ExpectedFailure()
            }
        }
        _ = try pool.read { try $0.queryOne("SELECT COUNT(*) FROM t") }   // same (single) reader connection
        #expect(ran.current == 0)
    }

    @Test func inMemoryReadsMayNestAndRunTheirActions() throws {
        let pool = try DatabasePool(path: ":memory:")
        try pool.write { db in try db.execute("CREATE TABLE t (v INTEGER)") }
        let ran = Locked(0)
        let count = try pool.read { db -> Int64 in
            db.onCommit { ran.mutate { $0 += 1 } }
            return try pool.read { try $0.queryOne("SELECT COUNT(*) FROM t")?.int(0) ?? -1 }   // nested: no deadlock
        }
        #expect(count == 0)
        #expect(ran.current == 1)
    }
}
