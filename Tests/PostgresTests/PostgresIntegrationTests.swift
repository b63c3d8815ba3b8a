import TestSupport
import Foundation
import Synchronization
import Testing
@testable import Postgres

/// Against a real PostgreSQL (the run's test cluster, a fresh database per suite). One serialized suite: the
/// restart test stops the server that the others use.
@Suite(.serialized) struct PostgresIntegrationTests {
    let cluster: PostgresTestCluster
    let database: String

    init() throws {
        cluster = try PostgresTestCluster.get()
        database = try cluster.createDatabase()
    }

    private func connect(_ configure: (inout PostgresConfiguration) -> Void = { _ in }) throws -> PostgresConnection {
        var configuration = cluster.configuration(database: database)
        configure(&configuration)
        let connection = try PostgresConnection.connect(configuration)
        connection.defaultStatementTimeout = 60
        return connection
    }

    // MARK: Login

    @Test func scramLoginWorksAndTheServerProvedItsKey() throws {
        let connection = try connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT current_user").rows.first?[0] == .text(PostgresTestCluster.appUser))
        #expect(connection.processID != 0)
        #expect(connection.serverParameters["server_version"] != nil)
        #expect(!connection.isTLS)
    }

    @Test func aWrongPasswordFailsWithTheServersMessage() throws {
        do {
            _ = try connect { $0.password = "wrong" }
            Issue.record("a wrong password logged in")
        } catch let error as PostgresError {
            #expect(error.kind == .authenticationFailed)
            #expect(error.sqlState == "28P01")
            #expect(error.message.contains("password authentication failed for user \"\(PostgresTestCluster.appUser)\""))
        }
    }

    @Test func md5AndTrustUsersLogIn() throws {
        let md5 = try connect {
            $0.user = PostgresTestCluster.md5User
            $0.password = PostgresTestCluster.md5Password
        }
        defer { md5.close() }
        #expect(try md5.query("SELECT current_user").rows.first?[0] == .text(PostgresTestCluster.md5User))
        let trust = try connect {
            $0.user = PostgresTestCluster.trustUser
            $0.password = nil
        }
        defer { trust.close() }
        #expect(try trust.query("SELECT current_user").rows.first?[0] == .text(PostgresTestCluster.trustUser))
        #expect(throws: PostgresError.self) {
            try connect {
                $0.user = PostgresTestCluster.md5User
                $0.password = "wrong"
            }
        }
    }

    @Test func anUnknownDatabaseIsReportedByName() throws {
        do {
            _ = try connect { $0.database = "no_such_db" }
            Issue.record("connected to a missing database")
        } catch let error as PostgresError {
            #expect(error.sqlState == "3D000")
            #expect(error.message.contains("no_such_db"))
        }
    }

    @Test func aClosedPortFailsToConnectWithoutHanging() throws {
        do {
            _ = try connect { $0.port = 1 }
            Issue.record("connected to port 1")
        } catch let error as PostgresError {
            #expect(error.kind == .connectFailed)
            #expect(error.message.contains("127.0.0.1:1"))
        }
    }

    // MARK: TLS

    @Test func verifyFullAcceptsTheRightHostName() throws {
        let connection = try connect {
            $0.host = "localhost"
            $0.sslMode = .verifyFull
            $0.sslRootCert = cluster.caFile
        }
        defer { connection.close() }
        #expect(connection.isTLS)
        #expect(try connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").rows.first?[0] == .bool(true))
    }

    @Test func verifyFullRefusesAWrongHostNameAndSaysWhy() throws {
        do {
            _ = try connect {
                $0.host = "127.0.0.1"  // the certificate names only localhost
                $0.sslMode = .verifyFull
                $0.sslRootCert = cluster.caFile
            }
            Issue.record("verify-full accepted a certificate for another name")
        } catch let error as PostgresError {
            #expect(error.kind == .tls)
            #expect(error.message.contains("mismatch"), "\(error.message)")
        }
    }

    @Test func verifyCAChecksTheChainButNotTheName() throws {
        let connection = try connect {
            $0.sslMode = .verifyCA
            $0.sslRootCert = cluster.caFile
        }
        defer { connection.close() }
        #expect(connection.isTLS)
        do {
            _ = try connect {
                $0.sslMode = .verifyCA
                $0.sslRootCert = cluster.otherCAFile
            }
            Issue.record("verify-ca accepted a certificate from another CA")
        } catch let error as PostgresError {
            #expect(error.kind == .tls)
            #expect(error.message.contains("certificate verification failed"), "\(error.message)")
        }
        let required = try connect { $0.sslMode = .require }
        defer { required.close() }
        #expect(required.isTLS)
    }

    // MARK: Values and statements

    @Test func everyTypeRoundTripsInBinary() throws {
        let connection = try connect()
        defer { connection.close() }
        try connection.simpleQuery("""
            CREATE TABLE types (id serial PRIMARY KEY, a int2, b int4, c int8, d float8, e bool, f text, g bytea, h timestamptz, i varchar(20))
            """)
        let rows: [[PostgresValue]] = [
            [.int(-32768), .int(Int64(Int32.max)), .int(Int64.min), .double(-0.1), .bool(true), .text("héllo ✓ \u{1F600}"), .bytes(Array(0...255)),
             .timestamp(microseconds: 1_700_000_000_123_456), .text("v")],
            [.int(32767), .int(Int64(Int32.min)), .int(Int64.max), .double(1e300), .bool(false), .text(""), .bytes([]),
             .timestamp(microseconds: -86_400_000_001), .text("")],
            Array(repeating: .null, count: 9),
        ]
        for row in rows {
            try connection.execute("INSERT INTO types (a, b, c, d, e, f, g, h, i) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", row)
        }
        let back = try connection.query("SELECT a, b, c, d, e, f, g, h, i FROM types ORDER BY id").rows.map(\.values)
        #expect(back.count == 3)
        #expect(back == rows)
        #expect(try connection.query("SELECT length(g) FROM types WHERE id = 1").rows.first?[0] == .int(256))
        // Parameters adapt to the column type, and a value too large for it is refused before anything is sent.
        #expect(throws: PostgresError.self) { try connection.execute("INSERT INTO types (a) VALUES ($1)", [.int(70_000)]) }
        #expect(try connection.query("SELECT count(*) FROM types").rows.first?["count"] == .int(3))
        #expect(try connection.query("SELECT 1.5::numeric AS n, '\"x\"'::json AS j").rows.first?.values == [.text("1.5"), .text("\"x\"")])
        // A NUL cannot live in text: the server refuses it with its own error.
        #expect(throws: PostgresError.self) { try connection.execute("INSERT INTO types (f) VALUES ($1)", [.text("a\0b")]) }
    }

    @Test func errorsKeepEveryFieldAndUniqueViolationsAreTyped() throws {
        let connection = try connect()
        defer { connection.close() }
        try connection.simpleQuery("CREATE TABLE uniq (k int CONSTRAINT uniq_k UNIQUE)")
        try connection.execute("INSERT INTO uniq VALUES ($1)", [.int(1)])
        do {
            try connection.execute("INSERT INTO uniq VALUES ($1)", [.int(1)])
            Issue.record("a duplicate was inserted")
        } catch {
            #expect(error.kind == .uniqueViolation)
            #expect(error.sqlState == "23505")
            #expect(error.constraint == "uniq_k")
            #expect(error.fields?.table == "uniq")
            #expect(error.fields?.detail == "Key (k)=(1) already exists.")
            #expect(error.fields?.severity == "ERROR")
        }
        do {
            try connection.query("SELECT 1 / 0")
            Issue.record("division by zero succeeded")
        } catch {
            #expect(error.kind == .server)
            #expect(error.sqlState == "22012")
            #expect(error.fields?["F"] != nil)  // source file: every field is kept
        }
        #expect(try connection.query("SELECT 2").rows.first?[0] == .int(2))
    }

    @Test func preparedStatementsAreCachedPerConnection() throws {
        let connection = try connect()
        defer { connection.close() }
        for value in 0..<5 { #expect(try connection.query("SELECT $1::int8 + 1", [.int(Int64(value))]).rows.first?[0] == .int(Int64(value + 1))) }
        #expect(connection.statements.count == 1)
        // A table changed under a cached statement: prepared again transparently.
        try connection.simpleQuery("CREATE TABLE morph (a int)")
        try connection.query("SELECT * FROM morph")
        try connection.simpleQuery("ALTER TABLE morph ADD COLUMN b text")
        #expect(try connection.query("SELECT * FROM morph").columns.names == ["a", "b"])
    }

    @Test func aPipelinedTransactionIsAllOrNothing() throws {
        let connection = try connect()
        defer { connection.close() }
        try connection.simpleQuery("CREATE TABLE pipe (k int PRIMARY KEY, v text)")
        let results = try connection.transaction { tx in
            try tx.pipeline((1...3).map { PostgresStatement("INSERT INTO pipe VALUES ($1, $2)", [.int(Int64($0)), .text("v\($0)")]) }
                + [PostgresStatement("SELECT count(*) FROM pipe")])
        }
        #expect(results.map(\.affectedRows) == [1, 1, 1, 1])
        #expect(results[3].rows.first?[0] == .int(3))
        // Outside a transaction block a pipeline is one implicit transaction: the failure of the third undoes the first two.
        #expect(throws: PostgresError.self) {
            try connection.pipeline([4, 5, 1].map { PostgresStatement("INSERT INTO pipe VALUES ($1, 'x')", [.int($0)]) })
        }
        #expect(try connection.query("SELECT count(*) FROM pipe").rows.first?[0] == .int(3))
        // A failing body rolls its transaction back.
        #expect(throws: PostgresError.self) {
            try connection.transaction { tx in
                try tx.execute("INSERT INTO pipe VALUES (10, 'y')")
                try tx.execute("INSERT INTO pipe VALUES (1, 'dup')")
            }
        }
        #expect(connection.transactionStatus == .idle)
        #expect(try connection.query("SELECT count(*) FROM pipe").rows.first?[0] == .int(3))
    }

    @Test func rowsStreamToACallbackWithoutBeingKept() throws {
        struct Enough: Error {}
        let connection = try connect()
        defer { connection.close() }
        var count = 0
        var sum: Int64 = 0
        let total = try connection.query("SELECT g, 'row ' || g FROM generate_series(1, $1::int4) AS g", [.int(100_000)]) { row in
            count += 1
            sum += row[0].intValue ?? 0
        }
        #expect(total == 100_000)
        #expect(count == 100_000)
        #expect(sum == 5_000_050_000)
        var seen = 0
        #expect(throws: Enough.self) {
            try connection.query("SELECT g FROM generate_series(1, 50000) AS g") { _ in
                seen += 1
                if seen == 10 { throw Enough() }
            }
        }
        #expect(seen == 10)
        #expect(try connection.query("SELECT 3").rows.first?[0] == .int(3))
    }

    @Test func simpleQueriesRunScripts() throws {
        let connection = try connect()
        defer { connection.close() }
        let results = try connection.simpleQuery("CREATE TABLE s (a int); INSERT INTO s VALUES (1), (2); SELECT a, 'x' AS b FROM s ORDER BY a")
        #expect(results.map(\.commandTag) == ["CREATE TABLE", "INSERT 0 2", "SELECT 2"])
        #expect(results[2].rows.map(\.values) == [[.int(1), .text("x")], [.int(2), .text("x")]])
    }

    // MARK: COPY

    @Test func copyInOfAMillionRows() throws {
        let connection = try connect()
        defer { connection.close() }
        try connection.simpleQuery("CREATE TABLE points (series int4, t int8, v float8, raw bytea)")
        let count = 1_000_000
        let copied = try connection.copyIn("COPY points (series, t, v, raw) FROM STDIN") { writer in
            for index in 0..<count {
                writer.encoder.appendInteger(Int64(index % 200))
                writer.encoder.bytes.append(0x09)
                writer.encoder.appendInteger(Int64(index))
                writer.encoder.bytes.append(0x09)
                writer.encoder.appendInteger(Int64(index % 1000))
                writer.encoder.bytes.append(0x09)
                writer.encoder.append(index % 100_000 == 0 ? .bytes([0, 9, 10, 92, 255]) : .null)
                writer.encoder.bytes.append(0x0A)
                if writer.encoder.bytes.count >= writer.chunkSize { try writer.send() }
            }
        }
        #expect(copied == count)
        let summary = try connection.query("SELECT count(*), sum(t), count(DISTINCT series), count(raw) FROM points").rows.first?.values
        #expect(summary == [.int(Int64(count)), .text(String(count * (count - 1) / 2)), .int(200), .int(10)])
        #expect(try connection.query("SELECT raw FROM points WHERE t = 0").rows.first?[0] == .bytes([0, 9, 10, 92, 255]))
    }

    @Test func aFailedOrAbortedCopyInsertsNothingAndTheConnectionGoesOn() throws {
        struct Stop: Error {}
        let connection = try connect()
        defer { connection.close() }
        try connection.simpleQuery("CREATE TABLE c (a int)")
        #expect(throws: Stop.self) {
            try connection.copyIn("COPY c FROM STDIN") { writer in
                try writer.append(row: [.int(1)])
                throw Stop()
            }
        }
        do {
            try connection.copyIn("COPY c FROM STDIN") { writer in try writer.append(row: [.text("not a number")]) }
            Issue.record("bad COPY data was accepted")
        } catch let error as PostgresError {
            #expect(error.sqlState == "22P02")
        }
        // Refused at the first row while megabytes follow: the server's error ends the copy.
        do {
            try connection.copyIn("COPY c FROM STDIN") { writer in
                try writer.append(row: [.text("bad")])
                for index in 0..<400_000 { try writer.append(row: [.int(Int64(index))]) }
            }
            Issue.record("a copy with a bad first row was accepted")
        } catch let error as PostgresError {
            #expect(error.sqlState == "22P02")
        }
        #expect(throws: PostgresError.self) { try connection.copyIn("COPY missing FROM STDIN") { _ in } }
        #expect(try connection.query("SELECT count(*) FROM c").rows.first?[0] == .int(0))
        #expect(try connection.copyIn("COPY c FROM STDIN") { writer in try writer.append(row: [.int(7)]) } == 1)
    }

    // MARK: LISTEN/NOTIFY and cancellation

    @Test func notificationsCrossConnections() throws {
        let listener = try connect()
        let sender = try connect()
        defer {
            listener.close()
            sender.close()
        }
        try listener.listen("device events")
        try sender.notify("device events", payload: "hello")
        try sender.transaction { tx in try tx.notify("device events", payload: "after commit") }
        var received: [PostgresNotification] = []
        for _ in 0..<20 where received.count < 2 { received += try listener.waitForNotifications(timeout: 5) }
        #expect(received.map(\.payload) == ["hello", "after commit"])
        #expect(received.allSatisfy { $0.channel == "device events" && $0.processID == sender.processID })
        // Nothing more queued: an empty wait returns empty.
        #expect(try listener.waitForNotifications(timeout: 0.05).isEmpty)
        // With a callback, notifications arrive while other statements run.
        var seen: [String] = []
        listener.onNotification = { seen.append($0.payload) }
        try sender.notify("device events", payload: "callback")
        for _ in 0..<50 where seen.isEmpty {
            try listener.query("SELECT 1")
            _ = try listener.waitForNotifications(timeout: 0.1)
        }
        #expect(seen == ["callback"])
    }

    @Test func aStatementPastItsDeadlineIsCancelledAndTheConnectionStaysUsable() throws {
        let connection = try connect()
        defer { connection.close() }
        do {
            try connection.query("SELECT pg_sleep(5)", timeout: 0.5)
            Issue.record("pg_sleep(5) finished within a 0.5 s deadline")
        } catch {
            #expect(error.kind == .statementTimeout)
            #expect(error.sqlState == "57014")
        }
        #expect(!connection.isBroken)
        #expect(try connection.query("SELECT 41 + 1").rows.first?[0] == .int(42))
    }

    @Test func aTerminatedSessionIsAConnectionLostWithTheServersWords() throws {
        let victim = try connect()
        let admin = try connect {
            $0.user = "postgres"
            $0.password = PostgresTestCluster.superuserPassword
        }
        defer {
            victim.close()
            admin.close()
        }
        let pid = Int64(victim.processID)
        let adminConfiguration = cluster.configuration(user: "postgres", password: PostgresTestCluster.superuserPassword, database: database)
        let killer = Thread {
            usleep(300_000)
            guard let other = try? PostgresConnection.connect(adminConfiguration) else { return }
            _ = try? other.query("SELECT pg_terminate_backend($1::int4)", [.int(pid)])
            other.close()
        }
        killer.start()
        do {
            try victim.query("SELECT pg_sleep(5)")
            Issue.record("a terminated session finished its statement")
        } catch {
            #expect(error.kind == .connectionLost)
            #expect(error.sqlState == "57P01")
            #expect(error.message.contains("terminating connection"))
        }
        #expect(victim.isBroken)
        // An idle session terminated meanwhile is noticed before it is used.
        let idle = try connect()
        defer { idle.close() }
        try admin.query("SELECT pg_terminate_backend($1::int4)", [.int(Int64(idle.processID))])
        for _ in 0..<100 where idle.checkIdle() { usleep(20_000) }
        #expect(!idle.checkIdle())
    }

    // MARK: Pool

    @Test func thePoolReconnectsAfterAServerRestart() throws {
        let pool = PostgresPool(configuration: cluster.configuration(database: database), size: 2, acquireTimeout: 30)
        defer { pool.close() }
        #expect(try pool.query("SELECT 1").rows.first?[0] == .int(1))
        #expect(pool.statistics.idle == 1)
        try cluster.restart()
        #expect(try pool.query("SELECT 2").rows.first?[0] == .int(2))
        #expect(pool.statistics.open == 1)
    }

    @Test func manyThreadsShareAPoolWithinItsLimit() throws {
        let pool = PostgresPool(configuration: cluster.configuration(database: database), size: 3, acquireTimeout: 30)
        defer { pool.close() }
        let failures = Mutex(0)
        let maxOpen = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<25 {
                do {
                    let value = try pool.query("SELECT $1::int8 * 2", [.int(Int64(worker * 100 + index))]).rows.first?[0]
                    if value != .int(Int64(2 * (worker * 100 + index))) { failures.withLock { $0 += 1 } }
                } catch {
                    failures.withLock { $0 += 1 }
                }
                let open = pool.statistics.open
                maxOpen.withLock { $0 = max($0, open) }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(maxOpen.withLock { $0 } <= 3)
    }

    @Test func thePoolLimitsConnectionsAndTimesOutWhenAllAreLent() throws {
        let pool = PostgresPool(configuration: cluster.configuration(database: database), size: 1, acquireTimeout: 0.2)
        defer { pool.close() }
        try pool.withConnection { _ in
            do {
                try pool.query("SELECT 1")
                Issue.record("a second connection was lent from a pool of one")
            } catch let error as PostgresError {
                #expect(error.kind == .poolTimeout)
            }
        }
        // A connection left inside a transaction is not reused.
        _ = try pool.withConnection { connection in try connection.simpleQuery("BEGIN") }
        #expect(pool.statistics.open == 0)
        let sum = try pool.transaction { tx in try tx.query("SELECT 20 + 22").rows.first?[0] }
        #expect(sum == .int(42))
    }
}
