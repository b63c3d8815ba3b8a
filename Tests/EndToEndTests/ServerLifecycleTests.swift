import Core
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct ServerLifecycleTests {
    @Test func firstStartPrintsAnOwnerTokenOnceAndRestartKeepsData() throws {
        let directory = TemporaryDirectory("iot-lifecycle")
        defer { directory.remove() }
        let database = directory.file("nested/folder/iot.db")
        let first = try ServerProcess(databasePath: database)
        let token = try #require(first.adminToken)
        #expect(first.outputLines.contains { $0 == "listening on http://127.0.0.1:\(first.port)" })
        #expect(try first.client().get("/api/v2/me/").status == 200)
        #expect(first.stop() == 0)
        let second = try ServerProcess(databasePath: database)
        defer { second.stop() }
        #expect(second.adminToken == nil)
        #expect(try second.client(token: token).get("/api/v2/me/").status == 200)
    }

    @Test func sigtermLetsAnInFlightRequestFinish() throws {
        let server = try ServerProcess(environment: ["IOT_DEBUG_ROUTES": "true"])
        let result = Mutex<TestResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        let port = server.port
        Thread.detachNewThread {
            let response = try? HTTPTestClient(port: port).get("/api/v2/debug/sleep/?seconds=1.5")
            result.withLock { $0 = response }
            done.signal()
        }
        usleep(400_000)
        kill(server.process.processIdentifier, SIGTERM)
        #expect(done.wait(timeout: .now() + 30) == .success)
        let response = result.withLock { $0 }
        #expect(response?.status == 200)
        #expect(response?.json["slept"] == .number(1.5))
        #expect(server.stop() == 0)
        #expect(throws: (any Error).self) { _ = try HTTPTestClient(port: port).get("/healthz") }
    }

    @Test func slowHandlerDoesNotDelayOtherRequests() throws {
        let server = try Shared.get()
        let port = server.port
        let slowDone = Mutex<Date?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? HTTPTestClient(port: port).get("/api/v2/debug/sleep/?seconds=2")
            slowDone.withLock { $0 = Date() }
            finished.signal()
        }
        usleep(200_000)
        let fast = try server.client().get("/healthz")
        let fastDone = Date()
        #expect(fast.status == 200)
        #expect(finished.wait(timeout: .now() + 30) == .success)
        let slowFinished = try #require(slowDone.withLock { $0 })
        #expect(fastDone < slowFinished)
    }

    @Test func usageErrorsExitWith2AndHelpWith0() throws {
        #expect(try runProgram("api-server", ["--help"]).exitCode == 0)
        #expect(try runProgram("api-server", ["--help"]).stdout.contains("--port"))
        #expect(try runProgram("api-server", ["--bogus"]).exitCode == 2)
        #expect(try runProgram("api-server", ["--port", "notaport"]).exitCode == 2)
        #expect(try runProgram("api-server", ["--port", "70000"]).exitCode == 2)
    }

    /// Once up, the server gives back the file pages only startup touched (`server.release_startup_memory`) and
    /// runs no idle handler-pool threads (they start on demand): both seen from /proc, against the switch turned off.
    @Test func anIdleServerGivesBackStartupPagesAndRunsNoIdlePoolThreads() throws {
        func idleStatus(_ environment: [String: String]) throws -> (fileKB: Int, threads: Int) {
            let server = try ServerProcess(environment: environment)
            defer { server.stop() }
            for _ in 0..<20 { #expect(try server.client().get("/healthz").status == 200) }
            usleep(300_000)
            let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
            func field(_ name: String) -> Int {
                let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
                // "RssFile:\t   12672 kB", "Threads:\t6"
                return Int(line.split { $0 == " " || $0 == "\t" }.dropFirst().first ?? "") ?? -1
            }
            return (field("RssFile"), field("Threads"))
        }
        let released = try idleStatus([:])
        let kept = try idleStatus(["IOT_SERVER_RELEASE_STARTUP_MEMORY": "false"])
        #expect(released.fileKB > 0 && kept.fileKB > 0 && released.threads > 0 && kept.threads > 0)
        #expect(Double(released.fileKB) < Double(kept.fileKB) * 0.75, "file pages \(released.fileKB) kB vs \(kept.fileKB) kB kept")
        #expect(released.threads < 16 && kept.threads < 16, "threads \(released.threads), \(kept.threads) (32 pool threads would be started eagerly)")
    }

    @Test func aMissingConfigFileIsAFailure() throws {
        let result = try runProgram("api-server", ["--config", "/nonexistent/iot.json", "--port", "0"])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("config"))
    }
}

import Synchronization
