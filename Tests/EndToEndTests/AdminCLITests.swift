import Core
import Foundation
import Testing
import TestSupport

@Suite struct AdminCLITests {
    func cli(_ db: String, _ arguments: [String]) throws -> CommandResult {
        try runProgram("admin-cli", ["--db", db] + arguments)
    }

    @Test func initPrintsTheOwnerTokenAndJSON() throws {
        let directory = TemporaryDirectory("iot-cli")
        defer { directory.remove() }
        let db = directory.file("data/iot.db")
        let result = try cli(db, ["init", "--org", "acme", "--org-name", "Acme", "--user", "alice", "--password", "alice-password", "--json"])
        #expect(result.exitCode == 0)
        let json = try JSONParser.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["organization"] == .string("acme") && json["user"] == .string("alice"))
        let token = try #require(json["token"]?.stringValue)
        #expect(FileManager.default.fileExists(atPath: db))
        // The printed token works against a server on the same file.
        let server = try ServerProcess(databasePath: db)
        defer { server.stop() }
        #expect(server.adminToken == nil)
        #expect(try server.client(token: token).get("/api/v2/me/").json["organization"]?["slug"] == .string("acme"))
        // Again: the organization exists → failure, exit 1.
        let again = try cli(db, ["init", "--org", "acme", "--org-name", "Acme", "--user", "alice2", "--password", "alice-password"])
        #expect(again.exitCode == 1)
        #expect(again.stderr.contains("acme"))
    }

    @Test func orgsUsersAndTokens() throws {
        let directory = TemporaryDirectory("iot-cli")
        defer { directory.remove() }
        let db = directory.file("iot.db")
        #expect(try cli(db, ["org", "create", "acme", "--name", "Acme Corp"]).exitCode == 0)
        #expect(try cli(db, ["org", "create", "globex", "--name", "Globex"]).exitCode == 0)
        let orgs = try JSONParser.parse(try cli(db, ["org", "list", "--json"]).stdout)
        #expect(orgs.arrayValue?.compactMap { $0["slug"]?.stringValue } == ["acme", "globex"])
        #expect(try cli(db, ["org", "list"]).stdout.contains("acme\tAcme Corp"))
        #expect(try cli(db, ["user", "create", "bob", "--org", "acme", "--role", "manager", "--password", "bob-password"]).exitCode == 0)
        let users = try JSONParser.parse(try cli(db, ["user", "list", "--org", "acme", "--json"]).stdout)
        #expect(users.arrayValue?.first?["role"] == .string("manager"))
        let plain = try cli(db, ["token", "create", "--user", "bob", "--projects", "p1,p2", "--expires-in", "30d"])
        #expect(plain.exitCode == 0 && plain.stdout.hasPrefix("iot_"))
        let created = try JSONParser.parse(try cli(db, ["token", "create", "--user", "bob", "--role", "viewer", "--json"]).stdout)
        let id = try #require(created["id"]?.int64Value)
        #expect(created["token"]?.stringValue?.hasPrefix("iot_") == true)
        let list = try JSONParser.parse(try cli(db, ["token", "list", "--json"]).stdout)
        #expect(list.arrayValue?.count == 2)
        #expect(!(try cli(db, ["token", "list"]).stdout.contains("iot_")))
        #expect(try cli(db, ["token", "revoke", String(id)]).exitCode == 0)
        let after = try JSONParser.parse(try cli(db, ["token", "list", "--json"]).stdout)
        #expect(after.arrayValue?.first { $0["id"]?.int64Value == id }?["revoked"] == .bool(true))
        // A viewer-only user cannot receive a higher-role token.
        #expect(try cli(db, ["user", "create", "carol", "--org", "acme", "--role", "viewer", "--password", "carol-password"]).exitCode == 0)
        #expect(try cli(db, ["token", "create", "--user", "carol", "--role", "owner"]).exitCode == 1)
    }

    /// Tenant-supplied text (a project name, an alert description, an export task name) carrying terminal escapes, CR/LF,
    /// tabs and a bidi override reaches the operator's terminal escaped: no control byte, no forged row or column.
    @Test func listingsEscapeTenantText() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let evil = "ok\u{1B}[2J\u{1B}]0;pwned\u{07}\r\n999\tactive\tforged\u{202E}gnp.exe\u{1}"
        let (project, _, pk) = try DeviceAPI.boundDevice(server, client)
        #expect(try client.patch("/api/v2/projects/\(project)/", .object(["name": .string(evil)])).status == 200)
        // NUL is refused outright (PostgreSQL text cannot hold it; both backends answer the same).
        let nul = try client.patch("/api/v2/projects/\(project)/", .object(["name": .string("a\u{0}b")]))
        #expect(nul.status == 400 && nul.json["fields"]?["name"] != nil, "\(nul.text)")
        let levels = try client.get("/api/v2/projects/\(project)/alert/levels/").json.arrayValue ?? []
        let level = try #require(levels.first { $0["the_type"] == .string("manual") }?["id"])
        #expect(try client.post("/api/v2/projects/\(project)/alert/items/", .object([
            "device": .int64(pk), "level": level, "description": .string(evil),
        ])).status == 201)
        #expect(try client.post("/api/v2/projects/\(project)/data-download-tasks/", .object([
            "name": .string(evil), "start_time": .int(0), "device_id": .int64(pk),
        ])).status == 201)

        for arguments in [["alerts", "list"], ["exports", "list"], ["projects", "list", "--org", "default"]] {
            let result = try cli(server.databasePath, arguments)
            #expect(result.exitCode == 0, "\(arguments): \(result.stderr)")
            let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("ok\\u{1B}") }, "\(arguments): \(result.stdout)")
            #expect(!result.stdout.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F || $0 == "\u{202E}" },
                    "\(arguments): \(result.stdout.debugDescription)")
            #expect(line.contains("\\r\\n999\\tactive\\tforged\\u{202E}gnp.exe\\u{1}"), "\(arguments): \(line)")
            #expect(!result.stdout.contains("\n999"), "\(arguments): a row was forged")
        }
    }

    @Test func usageErrorsExit2FailuresExit1HelpExits0() throws {
        let directory = TemporaryDirectory("iot-cli")
        defer { directory.remove() }
        let db = directory.file("iot.db")
        #expect(try cli(db, ["--help"]).exitCode == 0)
        #expect(try cli(db, ["--help"]).stdout.contains("token create"))
        #expect(try cli(db, ["token", "create", "--help"]).exitCode == 0)
        #expect(try cli(db, ["token", "create", "--help"]).stdout.contains("--user"))
        #expect(try cli(db, []).exitCode == 2)
        #expect(try cli(db, ["frobnicate"]).exitCode == 2)
        #expect(try cli(db, ["org", "create"]).exitCode == 2)
        #expect(try cli(db, ["org", "create", "x1", "--name"]).exitCode == 2)
        #expect(try cli(db, ["org", "create", "x1", "--name", "X", "--bogus"]).exitCode == 2)
        #expect(try cli(db, ["user", "create", "u", "--org", "acme", "--role", "emperor", "--password", "password1"]).exitCode == 2)
        #expect(try cli(db, ["org", "create", "Bad Slug", "--name", "X"]).exitCode == 1)
        #expect(try cli(db, ["user", "list", "--org", "nope"]).exitCode == 1)
        #expect(try cli(db, ["token", "revoke", "999"]).exitCode == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.file("help-only.db")))
        _ = try runProgram("admin-cli", ["--db", directory.file("help-only.db"), "--help"])
        #expect(!FileManager.default.fileExists(atPath: directory.file("help-only.db")))
    }

    @Test func migrateCheckAndBackup() throws {
        let directory = TemporaryDirectory("iot-cli")
        defer { directory.remove() }
        let db = directory.file("iot.db")
        let pending = try cli(db, ["check", "--json"])
        #expect(pending.exitCode == 1)
        #expect(try JSONParser.parse(pending.stdout)["pending_migrations"]?.arrayValue?.isEmpty == false)
        let first = try cli(db, ["migrate"])
        #expect(first.exitCode == 0 && first.stdout.contains("applied auth.001"))
        let second = try cli(db, ["migrate"])
        #expect(second.exitCode == 0 && second.stdout.contains("up to date"))
        let check = try cli(db, ["check"])
        #expect(check.exitCode == 0 && check.stdout.contains("invariants: ok"))
        #expect(try JSONParser.parse(try cli(db, ["check", "--json"]).stdout)["invariants"] == .array([]))
        #expect(try cli(db, ["org", "create", "acme", "--name", "Acme"]).exitCode == 0)
        let backup = directory.file("backup/copy.db")
        #expect(try cli(db, ["backup", backup]).exitCode == 0)
        #expect(try cli(backup, ["check"]).exitCode == 0)
        #expect(try cli(backup, ["org", "list"]).stdout.contains("acme"))
    }

    /// `telemetry recompress` is wired (its work is tested in DevicesTests' TelemetrySummaryTests).
    @Test func telemetryRecompressRunsAndChecksItsOptions() throws {
        let directory = TemporaryDirectory("iot-cli")
        defer { directory.remove() }
        let db = directory.file("iot.db")
        #expect(try cli(db, ["migrate"]).exitCode == 0)
        let dry = try cli(db, ["telemetry", "recompress", "--dry-run"])
        #expect(dry.exitCode == 0 && dry.stdout.hasPrefix("dry run: 0/0 series, 0 chunks"))
        let done = try cli(db, ["telemetry", "recompress", "--codec", "2"])
        #expect(done.exitCode == 0 && done.stdout.contains("re-encoded in v2"))
        #expect(try cli(db, ["telemetry", "recompress", "--codec", "3"]).exitCode == 2)
    }

    @Test func serverAndCLIShareOneDatabaseAtOnce() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let db = server.databasePath
        // Writes from the CLI while the server answers requests on the same file.
        let port = server.port
        let token = server.adminToken
        let stop = Mutex(false)
        let served = Mutex(0)
        let loop = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let client = HTTPTestClient(port: port, token: token)
            while !stop.withLock({ $0 }) {
                if (try? client.get("/api/v2/me/").status) == 200 { served.withLock { $0 += 1 } }
            }
            loop.signal()
        }
        var tokens: [(Int64, String)] = []
        for index in 0..<5 {
            let created = try cli(db, ["user", "create", "worker\(index)", "--org", "default", "--role", "viewer", "--password", "password-\(index)"])
            #expect(created.exitCode == 0)
            let minted = try JSONParser.parse(try cli(db, ["token", "create", "--user", "worker\(index)", "--json"]).stdout)
            tokens.append((try #require(minted["id"]?.int64Value), try #require(minted["token"]?.stringValue)))
        }
        stop.withLock { $0 = true }
        loop.wait()
        #expect(served.withLock { $0 } > 0)
        for (id, secret) in tokens {
            #expect(try server.client(token: secret).get("/api/v2/me/").status == 200)
            #expect(try cli(db, ["token", "revoke", String(id)]).exitCode == 0)
            // Revoked by another process: refused within the token cache's bound (`auth.token_cache_ttl`, at most 1 s).
            let deadline = Date().addingTimeInterval(1.5)
            var status = try server.client(token: secret).get("/api/v2/me/").status
            while status != 401, Date() < deadline {
                usleep(50_000)
                status = try server.client(token: secret).get("/api/v2/me/").status
            }
            #expect(status == 401)
        }
    }
}

import Synchronization
