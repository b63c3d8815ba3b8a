import Core
import Foundation
import Testing
import TestSupport

/// Two `scheduler run` processes over one PostgreSQL database (whatever `IOT_TEST_DB` says): one killed with `kill -9`
/// mid-export or mid-delivery leaves its work to the other, which takes it over once the short lease ran out; while
/// the first lives, its renewed leases keep the other off. And in one scheduler a slow export does not hold back a
/// notification.
@Suite(.serialized) struct SchedulerTakeoverTests {
    /// A short lease for jobs, messages and tasks, so takeovers happen within seconds.
    static let leases = ["IOT_SCHEDULER_LEASE": "3s", "IOT_EXPORTS_LEASE": "2s", "IOT_LOG_LEVEL": "error"]

    /// `scheduler run` on `database` (with the short leases unless `shortLeases` is false), returned once it says it runs.
    static func scheduler(_ database: String, _ environment: [String: String], shortLeases: Bool = true) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("scheduler"))
        process.arguments = ["--db", database, "run"]
        process.environment = Binaries.environment((shortLeases ? leases : [:]).merging(environment) { $1 }, arguments: process.arguments ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("scheduler running"), Date() < deadline, process.isRunning {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        guard text.contains("scheduler running") else { throw TestClientError2("scheduler did not start: \(text)") }
        return process
    }

    static func stop(_ process: Process, _ signal: Int32 = SIGTERM) {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
    }

    /// Polls `condition` every 100 ms for up to `timeout` seconds; true once it held.
    static func eventually(_ timeout: Double = 60, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(100_000)
        }
        return try condition()
    }

    @Test func aSchedulerKilledMidExportIsTakenOverByTheOtherAfterTheLease() throws {
        let server = try ServerProcess(databasePath: TestDatabase.postgresLocation())
        defer { server.stop() }
        let client = server.client()
        let (project, pk, _, points) = try ExportsE2ETests.seed(server, count: 4_000)
        let id = try ExportsE2ETests.create(client, project, pk, format: "csv")
        // The first writes slowly (3 000 rows/s of 12 000): it is mid-export when killed.
        let first = try Self.scheduler(server.databasePath, ["IOT_EXPORTS_MAX_ROWS_PER_SECOND": "3000"])
        defer { Self.stop(first, SIGKILL) }
        #expect(try Self.eventually {
            let task = try ExportsE2ETests.task(client, project, id)
            return task["status"]?.stringValue == "running" && (task["row_count"]?.int64Value ?? 0) > 0
        })
        let second = try Self.scheduler(server.databasePath, [:])
        defer { Self.stop(second) }
        // While the first renews its leases (the task's 2 s every 0.5 s, the job's 2 s every ≈ 0.7 s), the second leaves the task alone.
        usleep(2_500_000)
        var task = try ExportsE2ETests.task(client, project, id)
        #expect(task["status"]?.stringValue == "running")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        // The second takes the job and the task once their leases ran out, and writes the whole file.
        #expect(try Self.eventually { try ExportsE2ETests.task(client, project, id)["status"]?.stringValue == "succeeded" })
        task = try ExportsE2ETests.task(client, project, id)
        #expect(task["row_count"]?.int64Value == Int64(points.count))
        let file = try ExportsE2ETests.download(server, project, id)
        #expect(file.text.split(separator: "\r\n").count == points.count + 1)
        #expect(ExportsE2ETests.files(server).filter { $0.contains(".part") }.isEmpty)
        let listed = try runProgram("admin-cli", ["--db", server.databasePath, "exports", "list", "--json"])
        #expect((try JSONParser.parse(Array(listed.stdout.utf8)).arrayValue ?? []).first { $0["id"]?.int64Value == id }?["attempts"] == .int64(2))
    }

    /// A project whose alerts go to a webhook at `sink`; returns the project and a function that opens an alert.
    static func webhookProject(_ server: ServerProcess, _ sink: SinkProcess) throws -> (String, () throws -> Void) {
        let client = server.client()
        let (project, pk, factor) = try AlertsE2ETests.thresholdProject(server)
        let created = try client.post("/api/v2/projects/\(project)/alert/webhook-notifications/", .object([
            "url": .string("http://127.0.0.1:\(sink.port)/hook"),
        ]))
        guard created.status == 201 else { throw TestClientError2("webhook receiver: \(created.text)") }
        return (project, {
            let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(factor, 40, nil)]))
            guard posted.status == 202 else { throw TestClientError2("point: \(posted.text)") }
        })
    }

    static func notifications(_ server: ServerProcess, _ project: String) throws -> [JSON] {
        let items = try server.client().get("/api/v2/projects/\(project)/alert/items/current/").json.arrayValue ?? []
        return items.flatMap { $0["notifications"]?.arrayValue ?? [] }
    }

    @Test func aSchedulerKilledMidDeliveryIsTakenOverByTheOtherAfterTheLease() throws {
        let allowed = ["IOT_NOTIFICATIONS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32"]
        // The webhook answers its first request only after two minutes: the first scheduler is mid-delivery.
        let sink = try SinkProcess("http_sink.py", ["--hold-first", "1", "--hold", "120"])
        let server = try ServerProcess(databasePath: TestDatabase.postgresLocation(), environment: allowed)
        defer { server.stop() }
        let (project, openAlert) = try Self.webhookProject(server, sink)
        try openAlert()
        let patient = allowed.merging(["IOT_NOTIFICATIONS_TIMEOUT": "300s"]) { $1 }
        let first = try Self.scheduler(server.databasePath, patient)
        defer { Self.stop(first, SIGKILL) }
        #expect(sink.waitFor(1, timeout: 30).count == 1)
        let second = try Self.scheduler(server.databasePath, patient)
        defer { Self.stop(second) }
        // While the first waits for the answer and renews its leases (3 s, every second), the second sends nothing.
        usleep(4_000_000)
        #expect(sink.received.count == 1)
        #expect(try Self.notifications(server, project).map { $0["status"]?.stringValue } == ["pending"])
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        // The second takes the job and the message once their leases ran out, and sends it (answered at once).
        let requests = sink.waitFor(2, timeout: 60)
        #expect(requests.count == 2)
        let ids = requests.compactMap { try? JSONParser.parse(Array(($0["body"]?.stringValue ?? "").utf8))["notification_id"]?.int64Value }
        #expect(ids.count == 2 && ids[0] == ids[1])
        #expect(try Self.eventually { try Self.notifications(server, project).map { $0["status"]?.stringValue } == ["sent"] })
        #expect(try Self.notifications(server, project).first?["attempts"]?.int64Value == 1)
    }

    @Test func aSlowExportDoesNotDelayANotification() throws {
        let allowed = ["IOT_NOTIFICATIONS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32"]
        let sink = try SinkProcess("http_sink.py", [])
        let server = try ServerProcess(databasePath: TestDatabase.postgresLocation(), environment: allowed)
        defer { server.stop() }
        let client = server.client()
        let (exportProject, pk, _, _) = try ExportsE2ETests.seed(server, count: 20_000)
        let (project, openAlert) = try Self.webhookProject(server, sink)
        let id = try ExportsE2ETests.create(client, exportProject, pk, format: "csv")
        // 60 000 rows, throttled (the throttle sleeps at most 0.5 s per 1 024 rows: ≈ 2 000 rows/s): the export runs for
        // about 30 seconds, the delivery job every 5.
        let scheduler = try Self.scheduler(server.databasePath, allowed.merging(["IOT_EXPORTS_MAX_ROWS_PER_SECOND": "500"]) { $1 },
                                           shortLeases: false)
        defer { Self.stop(scheduler, SIGKILL) }
        #expect(try Self.eventually {
            let task = try ExportsE2ETests.task(client, exportProject, id)
            return task["status"]?.stringValue == "running" && (task["row_count"]?.int64Value ?? 0) > 0
        })
        // An alert opens while the export runs: its webhook is delivered while the export is still running.
        try openAlert()
        #expect(sink.waitFor(1, timeout: 30).count == 1)
        let export = try ExportsE2ETests.task(client, exportProject, id)
        #expect(export["status"]?.stringValue == "running", "\(export)")
        #expect(try Self.eventually { try Self.notifications(server, project).map { $0["status"]?.stringValue } == ["sent"] })
    }
}
