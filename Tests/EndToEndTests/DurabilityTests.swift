import Core
import Foundation
import Synchronization
import Testing
import TestSupport

/// Nothing acknowledged may be lost on a crash (DESIGN §3.2): telemetry answered 202 survives `kill -9`.
@Suite struct DurabilityTests {
    /// What the posting threads share: the acknowledged batches (by their `t`) and the stop flag.
    final class Progress: Sendable {
        let acknowledged = Mutex<[Int64]>([])
        let stop = Atomic<Bool>(false)
    }

    @Test func acknowledgedTelemetrySurvivesSIGKILL() throws {
        // Own server: it is killed.
        let server = try ServerProcess()
        let adminToken = try #require(server.adminToken)
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let channels = 5
        let threads = 4
        let base: Int64 = 1_700_000_000
        // Each thread owns a t range; each batch has one unique t and `channels` points.
        let shared = Progress()
        let started = DispatchGroup()
        let finished = DispatchGroup()
        for thread in 0..<threads {
            started.enter()
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                let worker = HTTPTestClient(port: server.port, token: adminToken)
                var signalled = false
                for batch in 0..<100_000 {
                    if shared.stop.load(ordering: .relaxed) { break }
                    let t = base + Int64(thread * 1_000_000 + batch)
                    let body = DeviceAPI.points((1...channels).map { ("\(device.agriID)-\($0)", Double(batch), t) })
                    guard let response = try? worker.post(path, body) else { break }
                    if response.status == 202 {
                        shared.acknowledged.withLock { $0.append(t) }
                    } else {
                        break
                    }
                    if !signalled {
                        signalled = true
                        started.leave()
                    }
                }
                if !signalled { started.leave() }
            }
        }
        started.wait()
        usleep(1_500_000)
        server.stop(signal: SIGKILL)
        shared.stop.store(true, ordering: .relaxed)
        #expect(finished.wait(timeout: .now() + 60) == .success)
        let acked = Set(shared.acknowledged.withLock { $0 })
        #expect(acked.count >= threads, "too few acknowledged batches to mean anything: \(acked.count)")

        let restarted = try ServerProcess(databasePath: server.databasePath)
        defer {
            restarted.stop()
            server.directory.remove()
            restarted.directory.remove()
        }
        let reader = restarted.client(token: adminToken)
        var found: [Int64: Int] = [:]
        var next: String? = "\(path)?start=\(base)&limit=10000"
        var pages = 0
        while let link = next, pages < 1000 {
            let page = try reader.get(DeviceAPI.path(ofLink: link))
            #expect(page.status == 200)
            for point in page.json["results"]?.arrayValue ?? [] {
                if let t = point["t"]?.int64Value { found[t, default: 0] += 1 }
            }
            next = page.json["next"]?.stringValue
            pages += 1
        }
        let lost = acked.filter { found[$0] != channels }
        #expect(lost.isEmpty, "\(lost.count) of \(acked.count) acknowledged batches lost or partial, e.g. \(lost.sorted().prefix(5))")
        // Batches that were in flight at the kill either landed whole or not at all.
        #expect(found.values.allSatisfy { $0 == channels })
        // The latest values and the device's contact time survived too.
        let latest = try reader.get(path)
        #expect(latest.json.arrayValue?.count == channels)
        #expect(try reader.get("/api/v2/projects/\(project)/devices/\(pk)/").json["connect_time"]?.stringValue != nil)
        // The database is sound after the crash.
        let check = try runProgram("admin-cli", ["--db", server.databasePath, "check"])
        #expect(check.exitCode == 0, "\(check.stdout) \(check.stderr)")
    }
}
