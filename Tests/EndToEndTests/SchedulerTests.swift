import Core
import Foundation
import Synchronization
import Testing
import TestSupport

/// The `scheduler` program on the api-server's database: due jobs, leases shared by two schedulers,
/// trash retention, graceful stop; and `admin-cli purge --telemetry-older-than`.
@Suite(.serialized) struct SchedulerTests {
    static let jobs = ["projects.purge-trash", "devices.expire-commands", "devices.telemetry-retention", "alerts.deliver-notifications",
                       "alerts.detect-offline", "exports.run"]

    func status(_ database: String) throws -> [String: Int64] {
        let result = try runProgram("scheduler", ["--db", database, "status", "--json"])
        var runs: [String: Int64] = [:]
        for item in try JSONParser.parse(Array(result.stdout.utf8)).arrayValue ?? [] {
            if let name = item["name"]?.stringValue { runs[name] = item["runs"]?.int64Value }
        }
        return runs
    }

    @Test func onceRunsEveryJobEachTimeOrTheNamedOnes() throws {
        let directory = TemporaryDirectory("iot-scheduler")
        defer { directory.remove() }
        let database = directory.file("iot.db")
        let first = try runProgram("scheduler", ["--db", database, "once"])
        #expect(first.exitCode == 0)
        for job in Self.jobs { #expect(first.stdout.contains("job \(job) ok"), "\(first.stdout)") }
        // Again at once: every job runs again (its interval does not matter to `once`), one line each.
        let second = try runProgram("scheduler", ["--db", database, "once"])
        #expect(second.exitCode == 0)
        #expect(second.stdout.split(separator: "\n").count == Self.jobs.count, "\(second.stdout)")
        for job in Self.jobs { #expect(second.stdout.contains("job \(job) ok"), "\(second.stdout)") }
        #expect(try status(database) == Dictionary(uniqueKeysWithValues: Self.jobs.map { ($0, 2) }))
        // Named jobs only, in the order given.
        let named = try runProgram("scheduler", ["--db", database, "once", "exports.run", "alerts.deliver-notifications"])
        #expect(named.exitCode == 0)
        #expect(named.stdout.split(separator: "\n").map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
                == ["job exports.run ok", "job alerts.deliver-notifications ok"], "\(named.stdout)")
        // An unknown name is a usage error that lists the jobs; nothing runs.
        let unknown = try runProgram("scheduler", ["--db", database, "once", "exports.run", "export.run"])
        #expect(unknown.exitCode == 2)
        #expect(unknown.stderr.contains("unknown job export.run") && Self.jobs.allSatisfy { unknown.stderr.contains($0) }, "\(unknown.stderr)")
        #expect(try status(database)["exports.run"] == 3)
    }

    /// Issue 21 §4: a second `once` two seconds after the first still runs the export created in between.
    @Test func onceRightAfterOnceStillRunsNewWork() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, _, pk) = try DeviceAPI.boundDevice(server, client)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let body = JSON.object(["start_time": .int(0), "device_id": .int64(pk)])
        let first = try #require(try client.post(base, body).json["id"]?.int64Value)
        #expect(try runProgram("scheduler", ["--db", server.databasePath, "once"]).stdout.contains("job exports.run ok"))
        #expect(try client.get("\(base)\(first)/").json["status"] == .string("succeeded"))
        let second = try #require(try client.post(base, body).json["id"]?.int64Value)
        let again = try runProgram("scheduler", ["--db", server.databasePath, "once"])
        #expect(again.exitCode == 0 && again.stdout.contains("job exports.run ok"), "\(again.stdout)")
        #expect(try client.get("\(base)\(second)/").json["status"] == .string("succeeded"))
    }

    @Test func concurrentSchedulersShareEachJobsLease() throws {
        let directory = TemporaryDirectory("iot-scheduler")
        defer { directory.remove() }
        let database = directory.file("iot.db")
        #expect(try runProgram("scheduler", ["--db", database, "status"]).exitCode == 0)   // creates and migrates
        let group = DispatchGroup()
        let outputs = Mutex<[String]>([])
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                let result = try? runProgram("scheduler", ["--db", database, "once"])
                outputs.withLock { $0.append(result?.stdout ?? "") }
                group.leave()
            }
        }
        group.wait()
        // Each program says, per job, that it ran it or that another scheduler held it; the runs counted are the runs said.
        let lines = outputs.withLock { $0 }.flatMap { $0.split(separator: "\n") }
        #expect(lines.count == 4 * Self.jobs.count, "\(lines)")
        let runs = try status(database)
        for job in Self.jobs {
            let ran = lines.filter { $0.hasPrefix("job \(job) ok") }.count
            let skipped = lines.filter { $0 == "job \(job) skipped: another scheduler is running it" }.count
            #expect(ran >= 1 && ran + skipped == 4 && runs[job] == Int64(ran), "\(job): \(lines)")
        }
    }

    @Test func theTrashRetentionJobPurgesOldTrashedProjects() throws {
        // Its own server: purging the whole trash must not disturb other suites' trashed projects.
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let id = try DeviceAPI.project(client)
        #expect(try client.delete("/api/v2/projects/\(id)/").status == 204)
        let trashed = try client.get("/api/v2/projects/trash/")
        #expect(trashed.json["results"]?.arrayValue?.contains { $0["project_id"]?.stringValue == id } == true)
        let result = try runProgram("scheduler", ["--db", server.databasePath, "once"], environment: ["IOT_PROJECTS_TRASH_RETENTION": "0s"])
        #expect(result.exitCode == 0)
        #expect(result.stdout.contains("job projects.purge-trash ok"))
        let after = try client.get("/api/v2/projects/trash/")
        #expect(after.json["results"]?.arrayValue?.contains { $0["project_id"]?.stringValue == id } == false)
        #expect(try client.request("POST", "/api/v2/projects/\(id)/restore/").status == 404)
    }

    /// `scheduler run` as a process on `database`, returned once it says it runs (with what it printed so far).
    func startRun(_ database: String, environment: [String: String] = [:]) throws -> (process: Process, printed: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("scheduler"))
        process.arguments = ["--db", database, "run"]
        process.environment = Binaries.environment([:], arguments: process.arguments ?? []).merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("scheduler running"), Date() < deadline {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        return (process, text)
    }

    @Test func runStopsGracefullyOnSIGTERM() throws {
        let directory = TemporaryDirectory("iot-scheduler")
        defer { directory.remove() }
        let (process, text) = try startRun(directory.file("iot.db"))
        #expect(text.contains("scheduler running \(Self.jobs.count) jobs"))
        usleep(300_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try status(directory.file("iot.db")).values.allSatisfy { $0 == 1 })
    }

    /// Like the api-server, `scheduler run` gives back the file pages only its startup touched
    /// (`server.release_startup_memory`): seen from /proc against the switch turned off.
    @Test func runGivesBackStartupPages() throws {
        let directory = TemporaryDirectory("iot-scheduler-memory")
        defer { directory.remove() }
        func residentFileKB(_ environment: [String: String]) throws -> Int {
            let (process, text) = try startRun(directory.file("iot.db"), environment: environment)
            defer {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            #expect(text.contains("scheduler running"))
            usleep(300_000)
            let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("RssFile:") } ?? ""
            return Int(line.split { $0 == " " || $0 == "\t" }.dropFirst().first ?? "") ?? -1
        }
        let released = try residentFileKB([:])
        let kept = try residentFileKB(["IOT_SERVER_RELEASE_STARTUP_MEMORY": "false"])
        #expect(released > 0 && kept > 0)
        #expect(Double(released) < Double(kept) * 0.75, "file pages \(released) kB vs \(kept) kB kept")
    }

    @Test func purgeRemovesOnlyTelemetryOlderThanTheCutoff() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let now = Int64(Date().timeIntervalSince1970)
        let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/",
                                     DeviceAPI.points([(device.agriID + "-01", 1, 1_000_000), (device.agriID + "-01", 2, now - 60)]))
        #expect(posted.status == 202)
        let purge = try runProgram("admin-cli", ["--db", server.databasePath, "purge", "--telemetry-older-than", "1d"])
        #expect(purge.exitCode == 0)
        #expect(purge.stdout.contains("purged"))
        let history = try client.get("/api/v2/projects/\(project)/devices/\(pk)/data/?agri_id=\(device.agriID)-01&start=0")
        #expect(history.json["results"]?.arrayValue?.map { $0["value"] } == [.number(2)])
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "purge"]).exitCode == 2)
    }
}
