import Core
import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport

/// Faults of the scaled setup (DESIGN §3.4, issue 23 §4), end to end with the built programs over PostgreSQL: the
/// database restarted under ingestion load, an api-server killed while a second one serves the same database, and
/// `Tools/run-cluster` started and stopped. PostgreSQL whatever `IOT_TEST_DB` says: Tools/test runs this suite in its
/// PostgreSQL pass only.
@Suite struct ClusterFaultTests {
    /// What the posting threads share: acknowledged batches (by their `t`), answers that break the contract, and the
    /// 503s seen (each checked for its `code` and `Retry-After`).
    final class Load: Sendable {
        let acknowledged = Mutex<[Int64]>([])
        let unavailable = Atomic<Int>(0)
        let broken = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)

        func record(_ t: Int64, _ response: TestResponse) {
            switch response.status {
            case 202:
                acknowledged.withLock { $0.append(t) }
            case 503 where response.code == "UNAVAILABLE" && (response.header("Retry-After").flatMap { Int($0) } ?? 0) > 0:
                unavailable.add(1, ordering: .relaxed)
            default:
                broken.withLock { $0.append("\(response.status) \(response.header("Retry-After") ?? "-") \(response.text.prefix(200))") }
            }
        }

        var acknowledgedCount: Int { acknowledged.withLock { $0.count } }
    }

    /// Scripts started here, killed if the test process ends first.
    static let spawnedPIDs: Mutex<[pid_t]> = {
        atexit { for pid in ClusterFaultTests.spawnedPIDs.withLock({ $0 }) { kill(pid, SIGKILL) } }
        return Mutex([])
    }()

    /// Starts `argv` with stdin from /dev/null, stdout and stderr to `output`, and no signal blocked or ignored: a
    /// shell's traps never fire for a signal blocked when it started, and this process's threads block some (Foundation's
    /// `Process` passes that mask on).
    static func spawnWithSignals(_ argv: [String], environment: [String: String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        arguments.append(nil)
        var variables: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") }
        variables.append(nil)
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, variables)
        guard result == 0 else { throw TestClientError2("cannot start \(argv[0]): \(String(cString: strerror(result)))") }
        return pid
    }

    static let channels = 5
    static let base: Int64 = 1_700_000_000

    /// `threads` threads post `channels`-point batches, one unique `t` per batch, to `port` until `load.stop`; a
    /// transport failure (a refused or dropped connection, a 30 s silence) ends that thread's loop after it is noted,
    /// unless `tolerateDisconnect` (the server under test is being killed). The group finishes when every thread is done.
    static func post(load: Load, port: Int, token: String, path: String, agriID: String, threads: Int, tolerateDisconnect: Bool = false) -> DispatchGroup {
        let finished = DispatchGroup()
        for thread in 0..<threads {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                let client = HTTPTestClient(port: port, token: token)
                for batch in 0..<1_000_000 {
                    if load.stop.load(ordering: .relaxed) { break }
                    let t = base + Int64(thread * 10_000_000 + batch)
                    let body = DeviceAPI.points((1...channels).map { ("\(agriID)-\($0)", Double(batch), t) })
                    do {
                        let response = try client.post(path, body)
                        load.record(t, response)
                        // A polite client waits before retrying (less than Retry-After, to keep the test short).
                        if response.status == 503 { usleep(20_000) }
                    } catch {
                        if !tolerateDisconnect { load.broken.withLock { $0.append("transport: \(error)") } }
                        break
                    }
                }
            }
        }
        return finished
    }

    /// Every stored point of the device's data path, counted per `t`.
    static func storedPoints(_ client: HTTPTestClient, path: String) throws -> [Int64: Int] {
        var found: [Int64: Int] = [:]
        var next: String? = "\(path)?start=\(base)&limit=10000"
        var pages = 0
        while let link = next, pages < 1000 {
            let page = try client.get(DeviceAPI.path(ofLink: link))
            #expect(page.status == 200, "\(page.status) \(page.text.prefix(200))")
            for point in page.json["results"]?.arrayValue ?? [] {
                if let t = point["t"]?.int64Value { found[t, default: 0] += 1 }
            }
            next = page.json["next"]?.stringValue
            pages += 1
        }
        return found
    }

    /// Waits up to `seconds` for `condition`, polling every 20 ms.
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// PostgreSQL stopped (fast shutdown) for a few seconds under ingestion load, then started again: while it is down
    /// the server answers 503 `UNAVAILABLE` with `Retry-After` (no other error, no hang, no crash), it takes points again
    /// soon after the database is back, and every point answered 202 is stored.
    @Test func postgresRestartUnderIngestion() throws {
        let cluster = try PostgresTestCluster.makePrivate()
        let server = try ServerProcess(databasePath: cluster.url(database: try cluster.createDatabase()))
        defer {
            server.stop()
            server.directory.remove()
        }
        let token = try #require(server.adminToken)
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let load = Load()
        let finished = Self.post(load: load, port: server.port, token: token, path: path, agriID: device.agriID, threads: 3)
        #expect(Self.waitFor(30) { load.acknowledgedCount >= 20 }, "no ingestion before the restart")

        try cluster.stop()
        let downAcknowledged = load.acknowledgedCount
        // While it is down: 503s (the points are refused, not acknowledged); the process and its health route stay up.
        #expect(Self.waitFor(30) { load.unavailable.load(ordering: .relaxed) >= 3 }, "no 503 while PostgreSQL was down")
        usleep(2_000_000)
        #expect(server.process.isRunning)
        #expect(try client.get("/healthz").status == 200)
        let ready = try client.get("/readyz")
        #expect(ready.status == 503, "\(ready.status) \(ready.text.prefix(200))")
        // A commit can be in flight at the stop; after that nothing is acknowledged until the database returns.
        let acknowledgedWhileDown = load.acknowledgedCount - downAcknowledged
        #expect(acknowledgedWhileDown <= 3 * 1, "\(acknowledgedWhileDown) batches acknowledged with PostgreSQL down")

        try cluster.start()
        let back = Date()
        let before = load.acknowledgedCount
        #expect(Self.waitFor(60) { load.acknowledgedCount >= before + 20 }, "ingestion did not resume after PostgreSQL returned")
        let recovery = Date().timeIntervalSince(back)
        print("ClusterFaultTests: ingestion resumed \(String(format: "%.2f", recovery)) s after PostgreSQL was back; \(load.unavailable.load(ordering: .relaxed)) answers 503 while it was down")
        load.stop.store(true, ordering: .relaxed)
        #expect(finished.wait(timeout: .now() + 60) == .success, "a posting thread hung")
        #expect(load.broken.withLock { $0 }.isEmpty, "answers other than 202 or 503 UNAVAILABLE with Retry-After: \(load.broken.withLock { $0.prefix(5) })")
        #expect(server.process.isRunning)

        let acknowledged = Set(load.acknowledged.withLock { $0 })
        let found = try Self.storedPoints(client, path: path)
        let lost = acknowledged.filter { found[$0] != Self.channels }
        #expect(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged batches lost or partial, e.g. \(lost.sorted().prefix(5))")
        #expect(found.values.allSatisfy { $0 == Self.channels })
        #expect(try client.get("/readyz").status == 200)
    }

    /// Two api-servers over one database, each ingesting a device of its own; one is killed (SIGKILL): every point it
    /// acknowledged is read back through the other, which keeps acknowledging its own points throughout.
    @Test func killedServerLosesNoAcknowledgedPoint() throws {
        let cluster = try PostgresTestCluster.get()
        let url = cluster.url(database: try cluster.createDatabase())
        let victim = try ServerProcess(databasePath: url)
        let survivor = try ServerProcess(databasePath: url)
        defer {
            victim.stop()
            survivor.stop()
            victim.directory.remove()
            survivor.directory.remove()
        }
        let token = try #require(victim.adminToken)
        #expect(survivor.adminToken == nil, "the second server made a second owner")
        let (project, devices) = try DeviceAPI.boundProject(victim, victim.client(), count: 2)
        let (device, pk) = devices[0]
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let load = Load()
        let finished = Self.post(load: load, port: victim.port, token: token, path: path, agriID: device.agriID, threads: 3,
                                 tolerateDisconnect: true)
        // Meanwhile the survivor ingests another device (one writer per series: see BENCHMARKS, issue 23 §2).
        let (otherDevice, otherPK) = devices[1]
        let otherPath = "/api/v2/projects/\(project)/devices/\(otherPK)/data/"
        let otherLoad = Load()
        let otherFinished = Self.post(load: otherLoad, port: survivor.port, token: token, path: otherPath, agriID: otherDevice.agriID, threads: 1)
        #expect(Self.waitFor(30) { load.acknowledgedCount >= 50 }, "no ingestion before the kill")
        victim.stop(signal: SIGKILL)
        load.stop.store(true, ordering: .relaxed)
        #expect(finished.wait(timeout: .now() + 60) == .success, "a posting thread hung")
        #expect(load.broken.withLock { $0 }.isEmpty, "\(load.broken.withLock { $0.prefix(5) })")
        // The survivor went on acknowledging after the kill.
        let survivorBefore = otherLoad.acknowledgedCount
        #expect(Self.waitFor(30) { otherLoad.acknowledgedCount >= survivorBefore + 20 }, "the survivor stopped ingesting")
        otherLoad.stop.store(true, ordering: .relaxed)
        #expect(otherFinished.wait(timeout: .now() + 60) == .success, "a posting thread hung")
        #expect(otherLoad.broken.withLock { $0 }.isEmpty && otherLoad.unavailable.load(ordering: .relaxed) == 0,
                "the survivor answered otherwise than 202: \(otherLoad.broken.withLock { $0.prefix(5) })")

        let reader = survivor.client(token: token)
        for (load, path) in [(load, path), (otherLoad, otherPath)] {
            let acknowledged = Set(load.acknowledged.withLock { $0 })
            let found = try Self.storedPoints(reader, path: path)
            let lost = acknowledged.filter { found[$0] != Self.channels }
            #expect(lost.isEmpty, "\(path): \(lost.count) of \(acknowledged.count) acknowledged batches lost or partial, e.g. \(lost.sorted().prefix(5))")
            #expect(found.values.allSatisfy { $0 == Self.channels })
        }
        // The survivor keeps ingesting for the same device.
        let more = try reader.post(path, DeviceAPI.points([("\(device.agriID)-1", 1, Self.base + 99_000_000)]))
        #expect(more.status == 202, "\(more.status) \(more.text.prefix(200))")
    }

    /// `Tools/run-cluster` (with this build's binaries and a data folder of its own): PostgreSQL, two api-servers, two
    /// schedulers and nginx start; an authenticated request through nginx reaches each server; SIGTERM stops every
    /// process it started.
    @Test func runClusterServesThroughNginx() throws {
        let data = TemporaryDirectory("iot-run-cluster")
        defer { data.remove() }
        let script = DeviceAPI.root() + "/Tools/run-cluster"
        var environment = Binaries.environment()
        environment["BIN"] = (Binaries.path("api-server") as NSString).deletingLastPathComponent
        environment["CLUSTER_DATA"] = data.path
        environment["PORT"] = "0"
        environment["MQTT_PORT"] = "0"
        let pid = try Self.spawnWithSignals(["/bin/bash", script], environment: environment, output: data.file("run-cluster.out"))
        Self.spawnedPIDs.withLock { $0.append(pid) }
        var exited = false
        func running() -> Bool {
            guard !exited else { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { exited = true }
            return !exited
        }
        defer {
            if running() {
                kill(pid, SIGTERM)
                _ = Self.waitFor(60) { !running() }
            }
        }
        func line(_ prefix: String) -> String? {
            let text = (try? String(contentsOfFile: data.file("run-cluster.out"), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
        }
        let started = Self.waitFor(120) { line("listening on http://") != nil || !running() }
        let listening = try #require(started ? line("listening on http://") : nil,
                                     "run-cluster did not start: \((try? String(contentsOfFile: data.file("run-cluster.out"), encoding: .utf8)) ?? "") \((try? String(contentsOfFile: data.file("api-server-1.log"), encoding: .utf8))?.suffix(1000) ?? "")")
        let port = try #require(Int(listening.split(separator: " ").first?.split(separator: ":").last ?? ""))
        let token = try #require(line("admin token: ")?.split(separator: " ").first.map(String.init))
        let pids = ((try? String(contentsOfFile: data.file("cluster.pids"), encoding: .utf8)) ?? "")
            .split(separator: "\n").compactMap { $0.split(separator: " ").last.flatMap { Int32($0) } }
        #expect(pids.count == 6, "postgres, 2 api-servers, 2 schedulers, nginx: \(pids)")

        let client = HTTPTestClient(port: port, token: token)
        var upstreams: Set<String> = []
        for _ in 0..<6 {
            let me = try client.get("/api/v2/me/")
            #expect(me.status == 200, "\(me.status) \(me.text.prefix(200))")
            #expect(me.json["user"]?["username"]?.stringValue == "admin")
            if let upstream = me.header("X-Upstream") { upstreams.insert(upstream) }
        }
        #expect(upstreams.count == 2, "requests reached \(upstreams)")
        #expect(try client.request("GET", "/api/v2/me/", token: .some("iot_not-a-token")).status == 401)
        client.close()

        kill(pid, SIGTERM)
        #expect(Self.waitFor(60) { !running() }, "run-cluster did not stop on SIGTERM")
        #expect(Self.waitFor(30) { pids.allSatisfy { kill($0, 0) != 0 } }, "processes left running: \(pids.filter { kill($0, 0) == 0 })")
    }
}
