import Foundation
import Persistence
import Testing
import TestSupport

/// `Database.copyRows` between the two drivers (the run's PostgreSQL test cluster): every value byte-exact both ways,
/// ids kept and continued, batches bounded, refusals for odd names and differing columns.
@Suite struct TableCopyTests {
    static let migrations = [
        Migration("copy.001.tables", """
            CREATE TABLE parents (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                score REAL,
                flag INTEGER NOT NULL
            );
            CREATE TABLE children (
                parent_id INTEGER NOT NULL REFERENCES parents(id),
                t INTEGER NOT NULL,
                data BLOB NOT NULL,
                note TEXT,
                PRIMARY KEY (parent_id, t)
            ) WITHOUT ROWID;
            """),
    ]

    static func postgres() throws -> DatabasePool {
        let cluster = try PostgresTestCluster.get()
        return DatabasePool(postgres: cluster.configuration(database: try cluster.createDatabase()), size: 2)
    }

    /// Every row of both tables in key order.
    static func dump(_ pool: DatabasePool) throws -> [[SQLValue]] {
        try pool.read { db in
            try db.query("SELECT id, name, score, flag FROM parents ORDER BY id").map(\.values)
                + db.query("SELECT parent_id, t, data, note FROM children ORDER BY parent_id, t").map(\.values)
        }
    }

    static func copy(_ source: DatabasePool, _ target: DatabasePool) throws -> [Int] {
        try source.read { from in
            try target.write { to in try ["parents", "children"].map { try from.copyRows(of: $0, to: to) } }
        }
    }

    @Test func rowsGoToPostgreSQLAndBackByteExactlyAndIdsContinue() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sqlite = try DatabasePool(path: folder.file("source.db"))
        defer { sqlite.close() }
        try sqlite.migrate(Self.migrations)
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }   // more than one batch's bytes in a row
        try sqlite.write { db in
            for id in 1...1_300 where id % 7 != 0 {   // gaps: ids are copied, not renumbered
                try db.execute("INSERT INTO parents (id, name, score, flag) VALUES (?, ?, ?, ?)",
                               [id, "név \(id) 温度 'q' \"d\"", id % 3 == 0 ? SQLValue.null : .real(Double(id) / 3), id % 2])
            }
            try db.execute("INSERT INTO children (parent_id, t, data, note) VALUES (?, ?, ?, ?)", [1, 0, [UInt8](), "empty"])
            try db.execute("INSERT INTO children (parent_id, t, data, note) VALUES (?, ?, ?, ?)", [1, 1, Array(0...255) as [UInt8], SQLValue.null])
            try db.execute("INSERT INTO children (parent_id, t, data, note) VALUES (?, ?, ?, ?)", [2, -5, big, "big"])
            for t in 0..<700 {
                try db.execute("INSERT INTO children (parent_id, t, data, note) VALUES (?, ?, ?, ?)",
                               [3, Int64(t) * 1_000_000_007, [UInt8(t & 0xFF), 0, 0x5C, 0x78], SQLValue.null])
            }
        }
        let original = try Self.dump(sqlite)

        let postgres = try Self.postgres()
        defer { postgres.close() }
        try postgres.migrate(Self.migrations)
        #expect(try Self.copy(sqlite, postgres) == [1_115, 703])
        #expect(try Self.dump(postgres) == original)

        let back = try DatabasePool(path: folder.file("back.db"))
        defer { back.close() }
        try back.migrate(Self.migrations)
        #expect(try Self.copy(postgres, back) == [1_115, 703])
        #expect(try Self.dump(back) == original)

        // The next row without an id draws one after the largest copied, on both drivers.
        for pool in [postgres, back] {
            let id = try pool.write { db in
                try db.execute("INSERT INTO parents (name, flag) VALUES (?, ?)", ["new", 1])
                return db.lastInsertRowID
            }
            #expect(id == 1_301)
        }
        let catalog = { (pool: DatabasePool) throws in
            try pool.read { db throws -> (TableColumns, [String], [String], Bool, Bool, Int) in
                (try db.columns(of: "parents"), try db.columns(of: "children").primaryKey, try db.tableNames(), try db.tableExists("children"),
                 try db.tableExists("nothing"), try db.rowCount(of: "parents"))
            }
        }
        let onPostgres = try catalog(postgres)
        #expect(onPostgres.0 == TableColumns(names: ["id", "name", "score", "flag"], primaryKey: ["id"], identity: ["id"]))
        #expect(onPostgres.1 == ["parent_id", "t"])
        #expect(onPostgres.2 == ["children", "parents", "schema_migrations"])
        #expect(onPostgres.3 && !onPostgres.4)
        #expect(onPostgres.5 == 1_116)
        let onSQLite = try catalog(back)
        #expect(onSQLite.0 == TableColumns(names: ["id", "name", "score", "flag"], primaryKey: ["id"], identity: []))
        #expect(onSQLite.1 == ["parent_id", "t"])
        #expect(onSQLite.2 == ["children", "parents", "schema_migrations"])
        #expect(onSQLite.3 && !onSQLite.4)
        #expect(onSQLite.5 == 1_116)
    }

    /// A writer keeps committing a parent with its child while the copy runs, and commits more between the copy of the
    /// parents and that of the children: the copy still holds exactly the pairs of one moment (one snapshot of SOURCE),
    /// from SQLite and from PostgreSQL.
    @Test func aCopyIsOneSnapshotWhileAWriterGoesOn() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sqlite = try DatabasePool(path: folder.file("source.db"))
        defer { sqlite.close() }
        let postgres = try Self.postgres()
        defer { postgres.close() }
        let back = try DatabasePool(path: folder.file("back.db"))
        defer { back.close() }
        for pool in [sqlite, postgres, back] { try pool.migrate(Self.migrations) }
        for (source, target) in [(sqlite, postgres), (postgres, back)] {
            let committed = Locked(0)
            let stop = Locked(false)
            let writer = TestThread {
                while !stop.current {
                    do {
                        try source.write { db in
                            try db.execute("INSERT INTO parents (name, flag) VALUES (?, ?)", ["pair", 1])
                            try db.execute("INSERT INTO children (parent_id, t, data) VALUES (?, ?, ?)", [db.lastInsertRowID, 0, [UInt8(1)]])
                        }
                        committed.mutate { $0 += 1 }
                    } catch {
                        Issue.record("writer: \(error)")
                        return
                    }
                }
            }
            defer {
                stop.mutate { $0 = true }
                writer.join()
            }
            while committed.current < 20 { usleep(1_000) }
            let counts = try source.read { from in
                try target.write { to -> (Int, Int) in
                    let parents = try from.copyRows(of: "parents", to: to)
                    let seen = committed.current
                    while committed.current < seen + 20 { usleep(1_000) }   // more pairs commit between the two tables
                    return (parents, try from.copyRows(of: "children", to: to))
                }
            }
            #expect(counts.0 == counts.1 && counts.0 >= 20)
            let orphans = try target.read { db throws -> Int64 in
                try db.queryOne("SELECT count(*) FROM parents p WHERE NOT EXISTS (SELECT 1 FROM children c WHERE c.parent_id = p.id)")?.int(0) ?? -1
            }
            #expect(orphans == 0)
            #expect(try source.count("parents") > Int64(counts.0))
        }
    }

    @Test func oddNamesAndDifferentColumnsAreRefusedAndNothingIsWritten() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let source = try DatabasePool(path: folder.file("source.db"))
        defer { source.close() }
        try source.migrate(Self.migrations)
        try source.write { db in try db.execute("INSERT INTO parents (id, name, flag) VALUES (1, 'a', 0)") }
        let target = try DatabasePool(path: folder.file("target.db"))
        defer { target.close() }
        try target.migrate(Self.migrations + [Migration("copy.002.more", "ALTER TABLE parents ADD COLUMN extra TEXT")])
        #expect(throws: TableCopyError.self) { try Self.copy(source, target) }
        #expect(throws: TableCopyError.self) {
            try source.read { from in try target.write { to in try from.copyRows(of: "parents; DROP TABLE parents", to: to) } }
        }
        #expect(throws: TableCopyError.self) {
            try source.read { from in try target.write { to in try from.copyRows(of: "Parents", to: to) } }
        }
        // A failure after a table was copied takes that table's rows back too (one write transaction).
        let clean = try DatabasePool(path: folder.file("clean.db"))
        defer { clean.close() }
        try clean.migrate(Self.migrations)
        #expect(throws: TableCopyError.self) {
            try source.read { from in
                try clean.write { to in
                    #expect(try from.copyRows(of: "parents", to: to) == 1)
                    _ = try from.copyRows(of: "no_such_table", to: to)
                }
            }
        }
        for pool in [target, clean] {
            let rows = try pool.read { db throws -> Int in try db.rowCount(of: "parents") }
            #expect(rows == 0)
        }
    }
}
