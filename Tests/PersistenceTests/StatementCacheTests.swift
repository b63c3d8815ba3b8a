@testable import Persistence
import Foundation
import Testing

@Suite struct StatementCacheTests {
    @Test func aFullCacheEvictsOnlyTheLeastRecentlyUsedStatement() throws {
        let pool = try DatabasePool(path: ":memory:")
        try pool.write { db in
            try db.execute("CREATE TABLE t (n INTEGER)")
            let hot = "SELECT n FROM t WHERE n = ?"
            _ = try db.queryOne(hot, [1])
            for i in 0..<(Database.maxCachedStatements + 10) {
                _ = try db.queryOne("SELECT n + \(i) FROM t")
                if i % 50 == 0 { _ = try db.queryOne(hot, [1]) }   // keeps being used
            }
            #expect(db.cachedStatementCount == Database.maxCachedStatements)
            #expect(db.isCached(hot))
            #expect(!db.isCached("SELECT n + 0 FROM t"))
            #expect(db.isCached("SELECT n + \(Database.maxCachedStatements + 9) FROM t"))
        }
    }

    @Test func typedBindsCheckSQLitesReturnCodes() throws {
        let pool = try DatabasePool(path: ":memory:")
        try pool.write { db in
            try db.execute("CREATE TABLE t (a INTEGER, b REAL, c TEXT)")
            let insert = try db.prepared("INSERT INTO t (a, b, c) VALUES (?, ?, ?)")
            try insert.bind(1, Int64(1))
            try insert.bind(2, 2.5)
            try insert.bind(3, "x")
            try insert.run()
            // A position the statement does not have is SQLITE_RANGE: thrown, not ignored.
            #expect(throws: DatabaseError.self) { try insert.bind(4, Int64(9)) }
            #expect(throws: DatabaseError.self) { try insert.bind(0, "zero") }
            #expect(try db.queryOne("SELECT COUNT(*) FROM t")?.int(0) == 1)
        }
    }
}
