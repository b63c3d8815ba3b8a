import Core
import Foundation
import Synchronization
import Testing
import TestSupport

/// Two `api-server` processes over one PostgreSQL database (DESIGN §3.4 "Many processes, one truth"): what one changes,
/// the other sees and enforces within a second (its caches hear the change feed), a client that asks with
/// `Cache-Control: no-cache` reads its own write back through the other at once, failure limits count in the database,
/// and a slow query does not stall the event loop. These always run on PostgreSQL (the run's test cluster), in the SQLite
/// pass too; the PostgreSQL pass skips the suite (`Tools/test`) rather than run it twice.
@Suite(.serialized) struct MultiServerTests {
    /// Two servers over one fresh PostgreSQL database; the first bootstrapped it and printed the admin token.
    static func pair(environment: [String: String] = [:]) throws -> (ServerProcess, ServerProcess) {
        let cluster = try PostgresTestCluster.get()
        let name = try cluster.createDatabase()
        let url = "postgres://\(PostgresTestCluster.appUser):\(PostgresTestCluster.appPassword)@127.0.0.1:\(cluster.port)/\(name)?sslmode=disable"
        let first = try ServerProcess(databasePath: url, environment: environment)
        let second = try ServerProcess(databasePath: url, environment: environment)
        return (first, second)
    }

    /// Polls `condition` every 20 ms for up to `seconds`; true as soon as it holds.
    static func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(20_000)
        } while Date() < deadline
        return try condition()
    }

    @Test func whatOneServerChangesTheOtherEnforcesWithinASecond() throws {
        let (a, b) = try Self.pair()
        defer {
            a.stop()
            b.stop()
        }
        let clientA = a.client()
        let clientB = b.client(token: a.adminToken)

        // A token minted and then revoked through A: B accepts it (and caches it), then refuses it.
        let minted = try clientA.post("/api/v2/tokens/", .object(["name": .string("short"), "role": .string("viewer")]))
        #expect(minted.status == 201)
        let tokenID = try #require(minted.json["id"]?.int64Value)
        let secret = try #require(minted.json["token"]?.stringValue)
        let viewerOnB = b.client(token: secret)
        #expect(try viewerOnB.get("/api/v2/projects/").status == 200)
        #expect(try clientA.delete("/api/v2/tokens/\(tokenID)/").status == 204)
        #expect(try Self.eventually(within: 1) { try viewerOnB.get("/api/v2/projects/").status == 401 })

        // A project renamed through A: B's cached row and list page follow.
        let project = try DeviceAPI.project(clientA, name: "Before")
        #expect(try clientB.get("/api/v2/projects/\(project)/").json["name"] == .string("Before"))
        #expect(try clientB.get("/api/v2/projects/").text.contains("Before"))
        #expect(try clientA.patch("/api/v2/projects/\(project)/", .object(["name": .string("After")])).status == 200)
        #expect(try Self.eventually(within: 1) { try clientB.get("/api/v2/projects/\(project)/").json["name"] == .string("After") })
        #expect(try Self.eventually(within: 1) { try clientB.get("/api/v2/projects/").text.contains("After") })

        // A device bound through A appears in B's cached device list, and in its project's count.
        #expect(try clientB.get("/api/v2/projects/\(project)/devices/").json["count"]?.int64Value == 0)
        let device = try DeviceAPI.provision(a)[0]
        let pk = try DeviceAPI.bind(clientA, project, device)
        #expect(try Self.eventually(within: 1) { try clientB.get("/api/v2/projects/\(project)/devices/").json["count"]?.int64Value == 1 })
        #expect(try Self.eventually(within: 1) { try clientB.get("/api/v2/projects/\(project)/").json["device_count"]?.int64Value == 1 })

        // A threshold set through A is enforced by B's rule engine on the next point it ingests.
        let factor = "\(device.agriID)-01"
        let created = try clientA.post("/api/v2/projects/\(project)/devices/\(pk)/factors/", .object([
            "agri_id": .string(factor), "name": .string("temperature"), "unit": .string("C"), "register": .int(0), "decimals": .int(1),
            "threshold_min": .number(0), "threshold_max": .number(50), "alarm_enabled": .bool(true),
        ]))
        #expect(created.status == 201, "\(created.text)")
        let factorID = try #require(created.json["id"]?.int64Value)
        let data = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let current = "/api/v2/projects/\(project)/alert/items/current/"
        // B has read the rules now (40 is inside 0..50: no alert).
        #expect(try clientB.post(data, DeviceAPI.points([(factor, 40, nil)])).status == 202)
        #expect(try clientB.get(current).json.arrayValue?.count == 0)
        let patched = try clientA.patch("/api/v2/projects/\(project)/devices/\(pk)/factors/\(factorID)/", .object(["threshold_max": .number(30)]))
        #expect(patched.status == 200, "\(patched.text)")
        usleep(300_000)   // well within the second the feed is given; it usually takes milliseconds
        #expect(try clientB.post(data, DeviceAPI.points([(factor, 41, nil)])).status == 202)
        let items = try clientA.get(current).json.arrayValue ?? []
        #expect(items.count == 1)
        let alertID = try #require(items.first?["id"]?.int64Value)

        // The cooldown lifted through A (B holds the project's config since it opened the alert) and the alert cancelled
        // through A: B no longer believes it active and knows no cooldown, so its next point above opens a new one.
        #expect(try clientA.patch("/api/v2/projects/\(project)/alert/config/", .object(["cooldown_minutes": .int(0)])).status == 200)
        #expect(try clientA.post("/api/v2/projects/\(project)/alert/items/\(alertID)/cancel/", .object([:])).status == 200)
        usleep(300_000)
        #expect(try clientB.post(data, DeviceAPI.points([(factor, 42, nil)])).status == 202)
        let after = try clientA.get(current).json.arrayValue ?? []
        #expect(after.count == 1)
        #expect(after.first?["id"]?.int64Value != alertID)

        // The device switched off through A: B, which has been taking its points, refuses the next ones.
        #expect(try clientA.patch("/api/v2/projects/\(project)/devices/\(pk)/", .object(["allow": .bool(false)])).status == 200)
        #expect(try Self.eventually(within: 1) { try clientB.post(data, DeviceAPI.points([(factor, 1, nil)])).status == 403 })
    }

    @Test func aClientReadsItsOwnWriteThroughTheOtherServerAtOnceWhenItAsks() throws {
        let (a, b) = try Self.pair()
        defer {
            a.stop()
            b.stop()
        }
        let clientA = a.client()
        let clientB = b.client(token: a.adminToken)
        let fresh = [("Cache-Control", "no-cache")]
        for round in 0..<20 {
            // B caches the list page, A adds a project, and B answers the next list with it, at once.
            _ = try clientB.get("/api/v2/projects/?page_size=100")
            let project = try DeviceAPI.project(clientA, name: "Round \(round)")
            let list = try clientB.request("GET", "/api/v2/projects/?page_size=100", headers: fresh)
            #expect(list.text.contains(project), "round \(round)")
        }
    }

    @Test func loginFailuresCountAcrossServers() throws {
        let (a, b) = try Self.pair(environment: ["IOT_AUTH_LOGIN_MAX_FAILURES": "3"])
        defer {
            a.stop()
            b.stop()
        }
        let (name, _) = try a.user(role: "viewer")
        func login(_ server: ServerProcess, _ password: String) throws -> TestResponse {
            try server.client(token: nil).request("POST", "/api/v2/auth/login/",
                                                  json: .object(["username": .string(name), "password": .string(password)]), token: .some(nil))
        }
        for _ in 0..<3 { #expect(try login(a, "wrong").status == 401) }
        // The fourth attempt goes to the other server: the limit is the database's, not a process's.
        let blocked = try login(b, "secret-\(name)")
        #expect(blocked.status == 429)
        #expect(blocked.code == "RATE_LIMITED")
        #expect(Int(blocked.header("Retry-After") ?? "") ?? 0 > 0)
    }

    @Test func aSlowQueryDoesNotStallTheEventLoop() throws {
        let (a, b) = try Self.pair(environment: ["IOT_DEBUG_ROUTES": "true", "IOT_SERVER_EVENT_LOOPS": "1"])
        defer {
            a.stop()
            b.stop()
        }
        let client = a.client()
        _ = try DeviceAPI.project(client)
        let finished = Mutex<[String]>([])
        let slow = Thread {
            let response = try? a.client(token: nil).get("/api/v2/debug/db-sleep/?seconds=2")
            finished.withLock { $0.append("slow \(response?.status ?? 0)") }
        }
        slow.start()
        usleep(200_000)   // the slow request holds its connection in pg_sleep now
        // Other connections of the same (single) event loop, each reading the database, are answered meanwhile.
        for index in 0..<10 {
            let response = try a.client(token: nil).request("GET", "/api/v2/projects/", headers: [("Cache-Control", "no-cache")],
                                                              token: .some(a.adminToken))
            #expect(response.status == 200)
            finished.withLock { $0.append("fast \(index)") }
        }
        let order = finished.withLock { $0 }
        #expect(order.first == "fast 0", "\(order)")
        #expect(!order.contains { $0.hasPrefix("slow") }, "the slow request finished before the fast ones: \(order)")
        #expect(Self.eventually(within: 10) { finished.withLock { $0.contains("slow 200") } })
    }
}
