import Foundation
import Persistence
import Testing

@Suite("Migrations")
struct MigrationTests {
    static let createDevices = Migration("devices.001.create-devices", """
        CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE INDEX devices_name ON devices (name);
        """)
    static let addSerial = Migration("devices.002.add-serial", "ALTER TABLE devices ADD COLUMN serial TEXT")
    static let seed = Migration("devices.003.seed") { db in
        try db.execute("INSERT INTO devices (name, serial) VALUES (?, ?)", ["lamp", "S-1"])
    }
    static let all = [createDevices, addSerial, seed]

    private func columns(_ pool: DatabasePool, _ table: String) throws -> [String] {
        try pool.read { db in try db.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", [table]).map { $0.string(0) } }
    }

    @Test func appliesInOrderAndRecordsThem() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("migrate.sqlite"))
        #expect(try pool.appliedMigrations() == [])

        let applied = try pool.migrate(Self.all)
        #expect(applied == Self.all.map(\.name))
        #expect(try pool.appliedMigrations() == Self.all.map(\.name))
        #expect(try columns(pool, "devices") == ["id", "name", "serial"])
        let device = try pool.read { db in try db.queryOne("SELECT name, serial FROM devices")?.values }
        #expect(device == [.text("lamp"), .text("S-1")])
        let stamps = try pool.read { db in try db.query("SELECT applied_at FROM schema_migrations").map { $0.string(0) } }
        #expect(stamps.count == 3)
        #expect(stamps.allSatisfy { !$0.isEmpty })
    }

    @Test func runningTwiceIsANoOp() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("twice.sqlite")
        let pool = try DatabasePool(path: path)
        #expect(try pool.migrate(Self.all).count == 3)
        #expect(try pool.migrate(Self.all) == [])
        #expect(try pool.count("devices") == 1, "the data migration ran once")
        #expect(try pool.appliedMigrations() == Self.all.map(\.name))

        // A new pool (a restarted process) also finds nothing to do.
        pool.close()
        let reopened = try DatabasePool(path: path)
        #expect(try reopened.migrate(Self.all) == [])
        #expect(try reopened.count("devices") == 1)
    }

    @Test func appliesOnlyNewMigrations() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("incremental.sqlite"))
        #expect(try pool.migrate([Self.createDevices]) == [Self.createDevices.name])
        #expect(try columns(pool, "devices") == ["id", "name"])
        #expect(try pool.migrate(Self.all) == [Self.addSerial.name, Self.seed.name])
        #expect(try pool.appliedMigrations() == Self.all.map(\.name))
    }

    @Test func failingMigrationRollsBackAndIsNotRecorded() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("failing.sqlite"))
        let broken = Migration("devices.002.broken", """
            CREATE TABLE half_done (x INTEGER);
            INSERT INTO devices (name) VALUES ('from broken');
            INSERT INTO no_such_table VALUES (1);
            """)
        let never = Migration("devices.003.never", "CREATE TABLE never_created (x INTEGER)")
        let error = #expect(throws: DatabaseError.self) {
            try pool.migrate([Self.createDevices, broken, never])
        }
        #expect(error?.message.contains("no_such_table") == true)
        #expect(try pool.appliedMigrations() == [Self.createDevices.name])
        let tables = try pool.read { db in
            try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map { $0.string(0) }
        }
        #expect(tables.contains("devices"))
        #expect(!tables.contains("half_done"))
        #expect(!tables.contains("never_created"), "migrations after a failure do not run")
        #expect(try pool.count("devices") == 0)

        // A code migration that throws after writing is rolled back the same way.
        let throwing = Migration("devices.002.throwing") { db in
            try db.execute("INSERT INTO devices (name) VALUES (?)", ["partial"])
            throw ExpectedFailure()
        }
        #expect(throws: ExpectedFailure.self) { try pool.migrate([Self.createDevices, throwing]) }
        #expect(try pool.count("devices") == 0)
        #expect(try pool.appliedMigrations() == [Self.createDevices.name])

        // Once fixed, the remaining migrations apply.
        #expect(try pool.migrate(Self.all) == [Self.addSerial.name, Self.seed.name])
    }

    @Test func registeringANameTwiceThrows() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("duplicate.sqlite"))
        let duplicate = Migration(Self.createDevices.name, "CREATE TABLE other (x)")
        let error = #expect(throws: PersistenceUsageError.self) {
            try pool.migrate([Self.createDevices, Self.addSerial, duplicate])
        }
        #expect(error?.description.contains(Self.createDevices.name) == true)
        #expect(try pool.appliedMigrations() == [], "nothing runs when the list is invalid")
        let devices = try pool.read { db in try db.queryOne("SELECT 1 FROM sqlite_master WHERE name = 'devices'") }
        #expect(devices == nil)
    }

    @Test func pendingMigrationsListsTheMissingOnes() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try DatabasePool(path: folder.file("pending.sqlite"))
        #expect(try pool.pendingMigrations(Self.all) == Self.all.map(\.name))
        try pool.migrate([Self.createDevices, Self.addSerial])
        #expect(try pool.pendingMigrations(Self.all) == [Self.seed.name])
        try pool.migrate(Self.all)
        #expect(try pool.pendingMigrations(Self.all) == [])
    }

    @Test func concurrentMigratorsApplyEachMigrationOnce() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("race.sqlite")
        // Two pools on one file stand for two processes starting at once.
        let pools = [try DatabasePool(path: path), try DatabasePool(path: path)]
        let results = Locked<[[String]]>([])
        let failures = Locked<[String]>([])
        let threads = pools.map { pool in
            TestThread {
                do {
                    let applied = try pool.migrate(Self.all)
                    results.mutate { $0.append(applied) }
                } catch {
                    failures.mutate { $0.append("\(error)") }
                }
            }
        }
        threads.forEach { $0.join() }
        #expect(failures.current.isEmpty)
        #expect(results.current.flatMap { $0 }.sorted() == Self.all.map(\.name).sorted())
        #expect(try pools[0].count("devices") == 1)
        #expect(try pools[1].appliedMigrations() == Self.all.map(\.name))
    }
}
