import Core
import Foundation
import Testing
import TestSupport

/// `admin-cli db copy` (DESIGN §6) through the real binaries: an installation filled through the API moves to the other
/// backend and back (SQLite → PostgreSQL → SQLite, or the reverse in the PostgreSQL pass), and on both copies tokens,
/// password logins, device keys, pre-signed links and telemetry keep working, new rows get fresh ids and `admin-cli check`
/// passes. A TARGET holding data is refused and left unchanged (exit 1); a malformed URL is a usage error (exit 2).
@Suite(.serialized) struct DatabaseCopyTests {
    /// A fresh, empty PostgreSQL database of the run's test cluster.
    static func postgresDatabase() throws -> String {
        let cluster = try PostgresTestCluster.get()
        let name = try cluster.createDatabase()
        return "postgres://\(PostgresTestCluster.appUser):\(PostgresTestCluster.appPassword)@127.0.0.1:\(cluster.port)/\(name)?sslmode=disable"
    }

    /// A database of the other backend than `location`'s: a PostgreSQL database for a SQLite file, a SQLite file in
    /// `directory` for a PostgreSQL URL.
    static func otherBackend(than location: String, in directory: TemporaryDirectory, name: String) throws -> String {
        location.hasPrefix("postgres") ? directory.file(name + ".db") : try postgresDatabase()
    }

    /// `admin-cli init` of org `acme` with owner `alice` on `location`.
    static func initialize(_ location: String) throws -> CommandResult {
        try runProgram("admin-cli", ["--db", location, "init", "--org", "acme", "--org-name", "Acme", "--user", "alice",
                                     "--password", "alice-password"])
    }

    static func copy(_ from: String, _ to: String, json: Bool = true) throws -> CommandResult {
        try runProgram("admin-cli", ["db", "copy", "--from", from, "--to", to] + (json ? ["--json"] : []))
    }

    /// What the installation answered before the copy, to be answered the same by each copy.
    struct Installation {
        let project: String
        let device: DeviceAPI.Device
        let pk: Int64
        let factor: String
        let user: String
        let password: String
        let ownerToken: String
        let scopedToken: String
        let signedLink: String
        let export: [UInt8]
        let exportID: Int64
        let alertID: Int64
        let tokenIDs: [Int64]
        let history: [String: JSON]
        let aggregate: JSON
        let current: JSON
    }

    static func historyPaths(_ project: String, _ pk: Int64, _ agriIDs: [String]) -> [String] {
        agriIDs.map { "/api/v2/projects/\(project)/devices/\(pk)/data/?agri_id=\($0)&start=0&end=2000000000&limit=10000" }
    }

    /// Fills the server's database through the API: a user with a password, a scoped token, a project with a bound device,
    /// a factor with thresholds, telemetry (thousands of points: sealed chunks and open ones, with a breach that raises an
    /// alert), a manual alert, an export written by `scheduler once` with its pre-signed link.
    static func fill(_ server: ServerProcess) throws -> Installation {
        let owner = try #require(server.adminToken)
        let client = server.client()
        let (user, _) = try server.user(role: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let factor = device.agriID + "-01"
        let created = try client.post("/api/v2/projects/\(project)/devices/\(pk)/factors/", .object([
            "agri_id": .string(factor), "name": .string("温度"), "unit": .string("°C"), "register": .int(0), "decimals": .int(1),
            "threshold_min": .number(-100), "threshold_max": .number(1_000), "alarm_enabled": .bool(true),
        ]))
        #expect(created.status == 201, "\(created.text)")
        let scoped = try DeviceAPI.scopedToken(client, role: "viewer", projects: [project])
        // 6 000 points of one series and 500 of another (irregular values: every chunk shape), then one breach.
        let other = device.agriID + "-02"
        var items: [(String, Double, Int64?)] = []
        let start: Int64 = 1_706_745_600
        for i in 0..<6_000 {
            let value: Double = Double((i * 7_919) % 1_000) / 8 - 20
            items.append((factor, value, start + Int64(i) * 30))
        }
        for i in 0..<500 {
            let value: Double = Double(i) * 0.001
            items.append((other, value, start + Int64(i) * 3_600))
        }
        let data = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        for first in stride(from: 0, to: items.count, by: 2_000) {
            let posted = try client.post(data, DeviceAPI.points(Array(items[first..<min(items.count, first + 2_000)])))
            #expect(posted.status == 202, "\(posted.text)")
        }
        #expect(try client.post(data, DeviceAPI.points([(factor, 1_234.5, 1_706_950_000)])).status == 202)
        let levels = try client.get("/api/v2/projects/\(project)/alert/levels/").json.arrayValue ?? []
        let level = try #require(levels.first { $0["the_type"] == .string("manual") }?["id"])
        let alert = try client.post("/api/v2/projects/\(project)/alert/items/", .object([
            "device": .int64(pk), "level": level, "description": .string("manual check"),
        ]))
        let alertID = try #require(alert.json["id"]?.int64Value, "\(alert.text)")
        let task = try client.post("/api/v2/projects/\(project)/data-download-tasks/", .object([
            "device_id": .int64(pk), "start_time": .int(0), "end_time": .int64(1_800_000_000), "format": .string("csv"),
        ]))
        let exportID = try #require(task.json["id"]?.int64Value, "\(task.text)")
        let run = try runProgram("scheduler", ["--db", server.databasePath, "once"])
        #expect(run.exitCode == 0, "\(run.stdout) \(run.stderr)")
        let redirect = try client.get("/api/v2/projects/\(project)/data-download-tasks/\(exportID)/download/")
        let link = try #require(redirect.header("Location"), "\(redirect.status) \(redirect.text)")
        let file = try HTTPTestClient(port: server.port).request("GET", link, token: .some(nil))
        #expect(file.status == 200 && file.body.count > 1_000)
        let tokens = try client.get("/api/v2/tokens/").json
        let tokenIDs = (tokens.arrayValue ?? tokens["results"]?.arrayValue ?? []).compactMap { $0["id"]?.int64Value }
        var history: [String: JSON] = [:]
        for path in historyPaths(project, pk, [factor, other]) { history[path] = try client.get(path).json }
        let aggregate = try client.get(data + "?agri_id=\(factor)&start=0&interval=1d&agg=count,min,max,sum").json
        let current = try client.get("/api/v2/projects/\(project)/alert/items/current/").json
        #expect((current.arrayValue ?? []).contains { $0["trigger_data"]?["direction"] == .string("above") }, "\(current)")
        return Installation(project: project, device: device, pk: pk, factor: factor, user: user, password: "secret-\(user)", ownerToken: owner,
                            scopedToken: scoped, signedLink: link, export: file.body, exportID: exportID, alertID: alertID,
                            tokenIDs: tokenIDs.isEmpty ? [0] : tokenIDs, history: history, aggregate: aggregate, current: current)
    }

    /// Checks a copy, served by a new api-server: every credential works, the data reads back the same, and new rows get
    /// ids that do not collide with the copied ones; then `admin-cli check` passes.
    static func verify(_ location: String, _ origin: Installation, exportsDir: String) throws {
        let environment = ["IOT_EXPORTS_DIR": exportsDir]
        let server = try ServerProcess(databasePath: location, environment: environment)
        defer { server.stop() }
        #expect(server.adminToken == nil, "the copy has organizations: no bootstrap")
        let owner = server.client(token: origin.ownerToken)
        #expect(try owner.get("/api/v2/me/").json["organization"]?["slug"] == .string("default"))
        #expect(try server.client(token: origin.scopedToken).get("/api/v2/projects/\(origin.project)/").status == 200)
        let login = try server.client(token: nil).request("POST", "/api/v2/auth/login/", json: .object([
            "username": .string(origin.user), "password": .string(origin.password),
        ]), token: .some(nil))
        #expect(login.status == 200 && login.json["token"]?.stringValue != nil, "\(login.text)")
        let wrong = try server.client(token: nil).request("POST", "/api/v2/auth/login/", json: .object([
            "username": .string(origin.user), "password": .string("not-" + origin.password),
        ]), token: .some(nil))
        #expect(wrong.status == 401)

        // Telemetry, its summaries and the alerts read back as before.
        for (path, expected) in origin.history { #expect(try owner.get(path).json == expected, "\(path)") }
        let data = "/api/v2/projects/\(origin.project)/devices/\(origin.pk)/data/"
        #expect(try owner.get(data + "?agri_id=\(origin.factor)&start=0&interval=1d&agg=count,min,max,sum").json == origin.aggregate)
        #expect(try owner.get("/api/v2/projects/\(origin.project)/alert/items/current/").json == origin.current)

        // The pre-signed link of the origin still downloads the same file.
        let file = try HTTPTestClient(port: server.port).request("GET", origin.signedLink, token: .some(nil))
        #expect(file.status == 200)
        #expect(file.body == origin.export)

        // The device key still works on the gateway, and its point lands after the copied ones.
        let basic = "Basic " + Data("\(origin.device.deviceID):\(origin.device.key)".utf8).base64EncodedString()
        let ingest = try HTTPTestClient(port: server.port).request("POST", "/api/v2/gateway/data/",
                                                                     json: DeviceAPI.points([(origin.factor, 21.5, 1_707_000_000)]),
                                                                     headers: [("Authorization", basic)], token: .some(nil))
        #expect(ingest.status == 202, "\(ingest.text)")
        let history = try owner.get(historyPaths(origin.project, origin.pk, [origin.factor])[0]).json
        let previous = origin.history[historyPaths(origin.project, origin.pk, [origin.factor])[0]]
        let count = { (json: JSON?) in (json?.arrayValue ?? json?["results"]?.arrayValue ?? json?["data"]?.arrayValue ?? []).count }
        #expect(count(history) == count(previous) + 1, "\(history)")

        // New rows draw fresh ids on every table that has them.
        let project = JSON.object(["project_id": .string("p-\(RandomID.make(length: 10))"), "name": .string("after the copy")])
        #expect(try owner.post("/api/v2/projects/", project).status == 201)
        let minted = try owner.post("/api/v2/tokens/", .object(["role": .string("viewer"), "projects": .array([.string(origin.project)])]))
        #expect(minted.status == 201, "\(minted.text)")
        #expect((minted.json["id"]?.int64Value ?? 0) > origin.tokenIDs.max()!)
        let levels = try owner.get("/api/v2/projects/\(origin.project)/alert/levels/").json.arrayValue ?? []
        let level = try #require(levels.first { $0["the_type"] == .string("manual") }?["id"])
        let alert = try owner.post("/api/v2/projects/\(origin.project)/alert/items/", .object([
            "device": .int64(origin.pk), "level": level, "description": .string("after the copy"),
        ]))
        #expect(alert.status == 201 && (alert.json["id"]?.int64Value ?? 0) > origin.alertID, "\(alert.text)")
        let task = try owner.post("/api/v2/projects/\(origin.project)/data-download-tasks/", .object([
            "device_id": .int64(origin.pk), "start_time": .int(0), "format": .string("ndjson"),
        ]))
        #expect(task.status == 201 && (task.json["id"]?.int64Value ?? 0) > origin.exportID, "\(task.text)")
        let device = try DeviceAPI.provision(server)[0]
        #expect(try DeviceAPI.bind(owner, origin.project, device) > origin.pk)

        let check = try runProgram("admin-cli", ["--db", location, "check"], environment: environment)
        #expect(check.exitCode == 0, "\(check.stdout) \(check.stderr)")
    }

    @Test func anInstallationMovesToTheOtherBackendAndBackAndKeepsWorking() throws {
        let directory = TemporaryDirectory("iot-db-copy")
        defer { directory.remove() }
        let origin = try ServerProcess()
        let installation = try Self.fill(origin)
        origin.stop()
        let exportsDir = TestDatabase.dataFolder(for: origin.databasePath) + "/exports"

        let middle = try Self.otherBackend(than: origin.databasePath, in: directory, name: "middle")
        let there = try Self.copy(origin.databasePath, middle)
        #expect(there.exitCode == 0, "\(there.stderr)")
        #expect(there.stderr.isEmpty, "every table of SOURCE belongs to a module: \(there.stderr)")
        let report = try JSONParser.parse(there.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let tables = try #require(report["tables"]?.objectValue)
        for table in ["organizations", "users", "api_tokens", "projects", "devices", "telemetry_series", "telemetry_chunks", "factors",
                      "alert_items", "exports_tasks", "exports_secrets"] {
            #expect((tables[table]?.int64Value ?? 0) > 0, "\(table) in \(there.stdout)")
        }
        #expect(report["unclaimed_tables"] == .array([]))
        #expect(tables["schema_migrations"] == nil && tables["scheduler_jobs"] == nil)

        // And back to the origin's backend, from the copy (plain text output: one line per table and a total).
        let back = origin.databasePath.hasPrefix("postgres") ? try Self.postgresDatabase() : directory.file("back.db")
        let again = try Self.copy(middle, back, json: false)
        #expect(again.exitCode == 0, "\(again.stderr)")
        #expect(again.stdout.contains("telemetry_chunks\t\(tables["telemetry_chunks"]?.int64Value ?? -1)\n"), "\(again.stdout)")
        #expect(again.stdout.contains("copied \(report["rows"]?.int64Value ?? -1) rows of \(tables.count) tables"), "\(again.stdout)")

        try Self.verify(middle, installation, exportsDir: exportsDir)
        try Self.verify(back, installation, exportsDir: exportsDir)
    }

    @Test func aTargetHoldingDataIsRefusedAndLeftUnchanged() throws {
        let directory = TemporaryDirectory("iot-db-copy")
        defer { directory.remove() }
        let source = directory.file("source.db")
        #expect(try Self.initialize(source).exitCode == 0)
        for target in [directory.file("target.db"), try Self.postgresDatabase()] {
            let made = try runProgram("admin-cli", ["--db", target, "init", "--org", "globex", "--org-name", "Globex", "--user", "bob",
                                                    "--password", "bob-password"])
            #expect(made.exitCode == 0, "\(made.stderr)")
            let before = try [["org", "list", "--json"], ["user", "list", "--org", "globex", "--json"], ["token", "list", "--json"]].map {
                try runProgram("admin-cli", ["--db", target] + $0).stdout
            }
            let refused = try Self.copy(source, target)
            #expect(refused.exitCode == 1)
            #expect(refused.stderr.contains("TARGET holds data") && refused.stderr.contains("table organizations has 1 row"), "\(refused.stderr)")
            #expect(refused.stdout.isEmpty)
            let after = try [["org", "list", "--json"], ["user", "list", "--org", "globex", "--json"], ["token", "list", "--json"]].map {
                try runProgram("admin-cli", ["--db", target] + $0).stdout
            }
            #expect(after == before)
            #expect(!after[0].contains("acme"))
        }
        // A SOURCE that does not exist is a failure, and is not created.
        let missing = try Self.copy(directory.file("missing.db"), directory.file("t.db"))
        #expect(missing.exitCode == 1 && missing.stderr.contains("no such file"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("missing.db")))
        // A SOURCE that is not migrated to this version is refused before TARGET is even created.
        #expect(FileManager.default.createFile(atPath: directory.file("blank.db"), contents: nil))
        let blank = try Self.copy(directory.file("blank.db"), directory.file("t.db"))
        #expect(blank.exitCode == 1 && blank.stderr.contains("SOURCE is not migrated") && blank.stderr.contains("auth.001"), "\(blank.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("t.db")))
    }

    @Test func aMalformedURLIsAUsageErrorNamingThePart() throws {
        let directory = TemporaryDirectory("iot-db-copy")
        defer { directory.remove() }
        let source = directory.file("source.db")
        #expect(try Self.initialize(source).exitCode == 0)
        let badPort = try Self.copy(source, "postgres://iot@127.0.0.1:notaport/iot")
        #expect(badPort.exitCode == 2)
        #expect(badPort.stderr.contains("--to") && badPort.stderr.contains("port"), "\(badPort.stderr)")
        let badMode = try Self.copy("postgresql://iot@127.0.0.1/iot?sslmode=sometimes", source)
        #expect(badMode.exitCode == 2)
        #expect(badMode.stderr.contains("--from") && badMode.stderr.contains("sslmode"), "\(badMode.stderr)")
        let missing = try runProgram("admin-cli", ["db", "copy", "--from", source])
        #expect(missing.exitCode == 2 && missing.stderr.contains("--to is required"), "\(missing.stderr)")
        let same = try Self.copy(source, source)
        #expect(same.exitCode == 2)
        // No database file appeared for the refused commands, nor under the default `--db`.
        #expect((try FileManager.default.contentsOfDirectory(atPath: directory.path)).filter { !$0.hasPrefix("source.db") } == [])
    }
}
