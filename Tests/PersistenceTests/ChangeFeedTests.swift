import Foundation
@testable import Persistence
import Synchronization
import Testing
import TestSupport

/// The change feed over a real PostgreSQL database (the run's test cluster, in the SQLite pass too): what one pool's
/// committed write announces reaches another pool's handlers; a rollback, or a rolled-back savepoint, announces nothing;
/// a pool does not hear its own announcements back; SQLite's feed stays silent.
@Suite struct ChangeFeedTests {
    /// Two pools over one fresh database (two processes, as far as PostgreSQL can tell), with a table to write to.
    static func pools() throws -> (DatabasePool, DatabasePool) {
        let cluster = try PostgresTestCluster.get()
        let settings = cluster.configuration(database: try cluster.createDatabase())
        let writer = DatabasePool(postgres: settings, size: 2)
        let listener = DatabasePool(postgres: settings, size: 2)
        try writer.write { try $0.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)") }
        return (writer, listener)
    }

    /// Polls until `condition` holds, for up to `seconds`.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    @Test func aCommittedWriteIsHeardByAnotherPoolAndARollbackIsNot() throws {
        let (writer, listener) = try Self.pools()
        defer {
            writer.close()
            listener.close()
        }
        let heard = Mutex<[String]>([])
        listener.changes.subscribe("things") { scope in heard.withLock { $0.append("things \(scope.map(String.init) ?? "*")") } }
        listener.changes.subscribe("other") { scope in heard.withLock { $0.append("other \(scope.map(String.init) ?? "*")") } }
        listener.changes.start()
        #expect(listener.changes.waitUntilListening(timeout: 10))
        // Connecting, the listener told every handler that anything may have changed.
        #expect(Self.eventually(5) { heard.withLock { $0.contains("things *") && $0.contains("other *") } })
        heard.withLock { $0.removeAll() }

        struct Refused: Error {}
        // Rolled back: nothing is announced.
        #expect(throws: Refused.self) {
            try writer.write { tx in
                try tx.execute("INSERT INTO things (id, name) VALUES (1, 'lamp')")
                tx.announce("things", scope: 1)
                throw Refused()
            }
        }
        // Committed, with a savepoint that rolled back: only what survived is announced, each once.
        try writer.write { tx in
            try tx.execute("INSERT INTO things (id, name) VALUES (2, 'desk')")
            tx.announce("things", scope: 2)
            tx.announce("things", scope: 2)
            _ = try? tx.savepoint { inner in
                inner.announce("other", scope: 9)
                throw Refused()
            }
            tx.announce("other")
        }
        #expect(Self.eventually(5) { heard.withLock { $0.count >= 2 } })
        usleep(200_000)   // anything else would have arrived by now
        #expect(heard.withLock { $0 } == ["things 2", "other *"])
    }

    @Test func aPoolDoesNotHearItsOwnAnnouncements() throws {
        let (writer, listener) = try Self.pools()
        defer {
            writer.close()
            listener.close()
        }
        let own = Mutex(0)
        let others = Mutex(0)
        writer.changes.subscribe("things") { scope in if scope != nil { own.withLock { $0 += 1 } } }
        listener.changes.subscribe("things") { scope in if scope != nil { others.withLock { $0 += 1 } } }
        writer.changes.start()
        listener.changes.start()
        #expect(writer.changes.waitUntilListening(timeout: 10) && listener.changes.waitUntilListening(timeout: 10))
        for id in 1...3 {
            try writer.write { tx in
                try tx.execute("INSERT INTO things (id, name) VALUES (?, 'x')", [Int64(id)])
                tx.announce("things", scope: Int64(id))
            }
        }
        #expect(Self.eventually(5) { others.withLock { $0 } == 3 })
        usleep(200_000)
        #expect(own.withLock { $0 } == 0)
    }

    @Test func payloadsAreDeduplicatedAndSplitBelowPostgresLimit() {
        let many = (0..<3_000).map { Announcement("devices.data", scope: Int64($0)) }
        let payloads = ChangeFeed.payloads(many + many)
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count <= ChangeFeed.maxPayload })
        let lines = payloads.flatMap { $0.split(separator: "\n") }
        #expect(lines.count == 3_000)
        #expect(Set(lines).count == 3_000)
        let heard = Mutex<[Int64]>([])
        let feed = ChangeFeed(postgres: nil)
        feed.subscribe("devices.data") { scope in if let scope { heard.withLock { $0.append(scope) } } }
        for payload in payloads { feed.deliver(payload: payload) }
        #expect(heard.withLock { $0 } == (0..<3_000).map(Int64.init))
    }

    @Test func sqliteAnnouncesNothing() throws {
        let directory = TemporaryDirectory("iot-feed")
        defer { directory.remove() }
        let pool = try DatabasePool(path: directory.file("x.db"))
        defer { pool.close() }
        #expect(!pool.changes.isShared)
        pool.changes.start()
        #expect(!pool.changes.isListening)
        try pool.write { tx in
            try tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            tx.announce("t", scope: 1)
        }
        #expect(pool.changes.receivedCount == 0)
    }
}
