import Core
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Devices over MQTT (DESIGN §5.7) with clients we did not write: Debian's mosquitto_pub/mosquitto_sub (3.1.1 and 5.0)
/// and paho-mqtt (pinned, `Tools/mqtt-clients/setup`), plus raw packets for what no client sends on purpose.
@Suite(.serialized) struct MQTTE2ETests {
    static let root = DeviceAPI.root()
    static let python = root + "/.build/mqtt-venv/bin/python"
    static let script = root + "/Tools/mqtt-clients/paho_client.py"

    /// The MQTT port from the server's `mqtt listening on mqtt://HOST:PORT` line.
    static func mqttPort(_ server: ServerProcess) throws -> Int {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let line = server.outputLines.first(where: { $0.hasPrefix("mqtt listening on mqtt://") }),
               let port = Int(line.split(separator: ":").last ?? "") { return port }
            usleep(20_000)
        }
        throw MQTTTestError("no mqtt listening line in \(server.outputLines)")
    }

    /// A bound device that may be rebooted, with its project and pk.
    static func device(_ server: ServerProcess) throws -> (project: String, device: DeviceAPI.Device, pk: Int64) {
        let client = server.client()
        let project = try DeviceAPI.project(client)
        let device = try DeviceAPI.provision(server, capabilities: "SUPPORTS_REBOOT")[0]
        return (project, device, try DeviceAPI.bind(client, project, device))
    }

    /// Runs a paho scenario to completion; its last stdout line as JSON.
    static func paho(_ scenario: String, port: Int, _ device: DeviceAPI.Device, key: String? = nil, _ extra: [String] = []) throws -> JSON {
        let result = try runTool("timeout", ["60", python, script, scenario, "--port", String(port), "--user", device.deviceID, "--password", key ?? device.key] + extra)
        guard let last = result.stdout.split(separator: "\n").last else { throw MQTTTestError("\(scenario): no output; \(result.stderr)") }
        return try JSONParser.parse(Array(last.utf8))
    }

    static func mosquittoPub(port: Int, _ device: DeviceAPI.Device, key: String? = nil, version: String, qos: Int, topic: String? = nil,
                             message: String) throws -> CommandResult {
        // Under `timeout`: a client that never gets its answer must fail the test, not hang it.
        try runTool("timeout", ["20", "mosquitto_pub", "-h", "127.0.0.1", "-p", String(port), "-V", version, "-u", device.deviceID, "-P", key ?? device.key,
                                      "-q", String(qos), "-t", topic ?? "devices/\(device.deviceID)/telemetry", "-m", message])
    }

    static func history(_ server: ServerProcess, _ project: String, _ pk: Int64) throws -> [JSON] {
        try server.client().get("/api/v2/projects/\(project)/devices/\(pk)/data/?start=0&limit=10000").json["results"]?.arrayValue ?? []
    }

    static func commands(_ server: ServerProcess, _ project: String, _ pk: Int64) throws -> [JSON] {
        try server.client().get("/api/v2/projects/\(project)/devices/\(pk)/commands/").json["results"]?.arrayValue ?? []
    }

    static func point(_ device: DeviceAPI.Device, channel: Int, value: Double, t: Int) -> String {
        "[{\"agri_id\": \"\(device.agriID)-0\(channel)\", \"value\": \(value), \"t\": \(t)}]"
    }

    @Test func credentialsAreChecked() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (_, device, _) = try Self.device(server)
        #expect(try Self.paho("connect", port: port, device, ["--version", "5"])["rc"] == .int(0))
        #expect(try Self.paho("connect", port: port, device, ["--version", "3"])["rc"] == .int(0))
        // 5.0: 0x86 bad user name or password; 3.1.1: return code 4 (paho reports it as a failure).
        #expect(try Self.paho("connect", port: port, device, key: "dk_wrong", ["--version", "5"])["rc"] == .int(0x86))
        #expect(try Self.paho("connect", port: port, device, key: "dk_wrong", ["--version", "3"])["rc"] != .int(0))
        for version in ["mqttv311", "mqttv5"] {
            let refused = try Self.mosquittoPub(port: port, device, key: "dk_wrong", version: version, qos: 1, message: "[]")
            #expect(refused.exitCode != 0, "\(version): \(refused.stderr)")
        }
    }

    @Test func telemetryAtEveryQoSIsInTheHistory() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        var expected: Set<Int> = []
        var t = 1_708_070_400
        for version in ["mqttv311", "mqttv5"] {
            for qos in 0...2 {
                t += 1
                let sent = try Self.mosquittoPub(port: port, device, version: version, qos: qos, message: Self.point(device, channel: 1, value: Double(qos), t: t))
                #expect(sent.exitCode == 0, "\(version) QoS \(qos): \(sent.stderr)")
                expected.insert(t)
            }
        }
        // One object (not an array) is one point; paho over 5.0 with QoS 1 gets a success PUBACK.
        t += 1
        let single = "{\"agri_id\": \"\(device.agriID)-02\", \"value\": 7.5, \"t\": \(t)}"
        #expect(try Self.paho("publish", port: port, device, ["--topic", "devices/\(device.deviceID)/telemetry", "--payload", single, "--qos", "1"])["rc"] == .int(0))
        expected.insert(t)
        // A malformed payload: 5.0 PUBACK 0x99, nothing stored.
        #expect(try Self.paho("publish", port: port, device, ["--topic", "devices/\(device.deviceID)/telemetry", "--payload", "[{", "--qos", "1"])["rc"]
            == .int(0x99))
        // QoS 0 is best effort: wait for its commit (the QoS 1/2 points are committed when acknowledged).
        let deadline = Date().addingTimeInterval(10)
        var stored: Set<Int> = []
        repeat {
            stored = Set(try Self.history(server, project, pk).compactMap { $0["t"]?.int64Value.map(Int.init) })
            if stored == expected { break }
            usleep(50_000)
        } while Date() < deadline
        #expect(stored == expected)
        let detail = try server.client().get("/api/v2/projects/\(project)/devices/\(pk)/").json
        #expect(detail["online"] == .bool(true))
    }

    @Test func rebootQueuedThroughRESTArrivesOnTheSubscriptionAndIsAckedOverMQTT() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        // The device subscribes first (paho, 5.0), then the reboot is queued.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [Self.script, "commands", "--port", String(port), "--user", device.deviceID, "--password", device.key, "--count", "1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var output = ""
        let reader = pipe.fileHandleForReading
        while !output.contains("subscribed\n") {
            let data = reader.availableData
            if data.isEmpty { break }
            output += String(decoding: data, as: UTF8.self)
        }
        #expect(output.contains("subscribed"))
        let queuedAt = Date().timeIntervalSince1970
        let queued = try server.client().post("/api/v2/projects/\(project)/devices/\(pk)/reboot/", .object([:]))
        #expect(queued.status == 202)
        output += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let result = try JSONParser.parse(Array((output.split(separator: "\n").last ?? "").utf8))
        #expect(result["granted"] == .array([.int(1)]))
        let message = try #require(result["messages"]?.arrayValue?.first)
        #expect(message["topic"] == .string("devices/\(device.deviceID)/commands"))
        #expect(message["body"]?["command"] == .string("NAT@AT+Z"))
        #expect(message["body"]?["payload"]?["kind"] == .string("reboot"))
        let id = try #require(message["body"]?["id"]?.int64Value)
        if let at = message["at"]?.doubleValue { print("mqtt command latency from the REST request: \(Int((at - queuedAt) * 1000)) ms") }
        // PUBACK → delivered, then the ack over MQTT → acked with its output (the ack is answered before paho returns).
        let command = try #require(try Self.commands(server, project, pk).first { $0["id"]?.int64Value == id })
        #expect(command["status"] == .string("acked"))
        #expect(command["output"] == .string("rebooted"))
        #expect(command["delivered_at"] != .null)
        #expect(command["delivered_via"] == .string("mqtt"))
    }

    @Test func pendingCommandArrivesOnSubscribeWithMosquittoSub() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        // The device must have been in contact for a command to be queued.
        #expect(try Self.mosquittoPub(port: port, device, version: "mqttv311", qos: 1, message: "[]").exitCode == 0)
        #expect(try server.client().post("/api/v2/projects/\(project)/devices/\(pk)/reboot/", .object([:])).status == 202)
        let received = try runTool("timeout", ["20", "mosquitto_sub", "-h", "127.0.0.1", "-p", String(port), "-V", "mqttv311", "-u", device.deviceID, "-P", device.key,
                                                     "-q", "1", "-t", "devices/\(device.deviceID)/commands", "-C", "1", "-W", "10"])
        #expect(received.exitCode == 0, "\(received.stderr)")
        let body = try JSONParser.parse(Array(received.stdout.utf8))
        #expect(body["command"] == .string("NAT@AT+Z"))
        // Delivered once the client's PUBACK is recorded; the HTTP gateway no longer serves it.
        let id = try #require(body["id"]?.int64Value)
        let deadline = Date().addingTimeInterval(10)
        var status: JSON?
        repeat {
            status = try Self.commands(server, project, pk).first { $0["id"]?.int64Value == id }?["status"]
            if status == .string("delivered") { break }
            usleep(20_000)
        } while Date() < deadline
        #expect(status == .string("delivered"))
        // The ack over mosquitto_pub with an empty payload: done.
        #expect(try Self.mosquittoPub(port: port, device, version: "mqttv5", qos: 1, topic: "devices/\(device.deviceID)/commands/\(id)/ack",
                                      message: "").exitCode == 0)
        #expect(try Self.commands(server, project, pk).first { $0["id"]?.int64Value == id }?["status"] == .string("acked"))
    }

    @Test func theDeviceShowsItsMQTTConnectionWhileItLasts() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/"
        #expect(try server.client().get(path).json["mqtt_connected_since"] == .null)
        let subscriber = Process()
        subscriber.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        subscriber.arguments = ["mosquitto_sub", "-h", "127.0.0.1", "-p", String(port), "-u", device.deviceID, "-P", device.key,
                                "-t", "devices/\(device.deviceID)/commands"]
        subscriber.standardOutput = FileHandle.nullDevice
        subscriber.standardError = FileHandle.nullDevice
        try subscriber.run()
        func wait(until condition: (JSON) -> Bool) throws -> JSON {
            let deadline = Date().addingTimeInterval(10)
            var detail = try server.client().get(path).json
            while !condition(detail), Date() < deadline {
                usleep(20_000)
                detail = try server.client().get(path).json
            }
            return detail
        }
        let connected = try wait { $0["mqtt_connected_since"] != .null }
        #expect(connected["mqtt_connected_since"]?.stringValue?.hasSuffix("Z") == true)
        #expect(connected["online"] == .bool(true))
        // SIGKILL: the device vanishes without DISCONNECT (mosquitto_sub may linger on SIGTERM).
        kill(subscriber.processIdentifier, SIGKILL)
        subscriber.waitUntilExit()
        #expect(try wait { $0["mqtt_connected_since"] == .null }["mqtt_connected_since"] == .null)
    }

    @Test func aSecondConnectionTakesOver() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (_, device, _) = try Self.device(server)
        let result = try Self.paho("takeover", port: port, device)
        #expect(result["first_reason"] == .int(0x8E))
        #expect(result["second_connected"] == .bool(true))
    }

    @Test func keepAliveExpires() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (_, device, _) = try Self.device(server)
        let result = try Self.paho("keepalive", port: port, device, ["--version", "5"])
        #expect(result["connack"]?.stringValue?.hasPrefix("2") == true)
        // Closed (with DISCONNECT 0x8D first), not left open for the 10 s the script waits.
        #expect(result["closed_after"]?.doubleValue != nil)
        #expect(result["after_connack"] == .string("e0018d"))
    }

    @Test func anotherDevicesTopicsAreRefused() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (_, device, _) = try Self.device(server)
        let (_, other, _) = try Self.device(server)
        let filters = ["devices/\(other.deviceID)/commands", "#", "devices/+/commands", "$SYS/#", "devices/\(device.deviceID)/#"]
        #expect(try Self.paho("subscribe-other", port: port, device, ["--version", "5", "--filters"] + filters)["codes"]
            == .array([.int(0x87), .int(0x87), .int(0x87), .int(0x87), .int(1)]))
        #expect(try Self.paho("subscribe-other", port: port, device, ["--version", "3", "--filters"] + filters)["codes"]
            == .array([.int(0x80), .int(0x80), .int(0x80), .int(0x80), .int(1)]))
        // 5.0: PUBACK 0x87; 3.1.1: the connection closes, so mosquitto_pub fails.
        #expect(try Self.paho("publish", port: port, device, ["--topic", "devices/\(other.deviceID)/telemetry", "--payload", "[]", "--qos", "1"])["rc"]
            == .int(0x87))
        let elsewhere = try Self.mosquittoPub(port: port, device, version: "mqttv311", qos: 1, topic: "devices/\(other.deviceID)/telemetry", message: "[]")
        #expect(elsewhere.exitCode != 0)
    }

    @Test func aMalformedPacketClosesAndTheServerKeepsServing() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        let result = try Self.paho("malformed", port: port, device, ["--version", "5"])
        #expect(result["after"] == .string("e00181"))
        #expect(result["closed"] == .bool(true))
        #expect(try Self.mosquittoPub(port: port, device, version: "mqttv5", qos: 1, message: Self.point(device, channel: 1, value: 1, t: 1_708_070_400))
            .exitCode == 0)
        #expect(try Self.history(server, project, pk).count == 1)
        #expect(server.log.contains("mqtt connection closed"))
    }

    @Test func aThousandIdleConnectionsStayOpenWhileTheServerServes() throws {
        // Own server: 1 000 connections from one address would crowd the shared server's per-address cap.
        let server = try ServerProcess(environment: ["IOT_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "5000"])
        defer {
            server.stop()
            server.directory.remove()
        }
        let port = try Self.mqttPort(server)
        let devices = try DeviceAPI.provision(server, count: 1000)
        let keys = server.directory.file("keys.tsv")
        try devices.map { "\($0.deviceID)\t\($0.key)\n" }.joined().write(toFile: keys, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [Self.script, "idle", "--port", String(port), "--user", "-", "--password", "-", "--keys", keys, "--timeout", "2"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var output = ""
        let reader = pipe.fileHandleForReading
        while !output.contains("connected\n") {
            let data = reader.availableData
            if data.isEmpty { break }
            output += String(decoding: data, as: UTF8.self)
        }
        // Meanwhile the server serves HTTP and another device's QoS 1 telemetry.
        let (project, device, pk) = try Self.device(server)
        #expect(try Self.mosquittoPub(port: port, device, version: "mqttv5", qos: 1, message: Self.point(device, channel: 1, value: 1, t: 1_708_070_400))
            .exitCode == 0)
        #expect(try Self.history(server, project, pk).count == 1)
        output += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let result = try JSONParser.parse(Array((output.split(separator: "\n").last ?? "").utf8))
        #expect(result["accepted"] == .int(1000))
        #expect(result["open"] == .int(1000))
    }

    @Test func deviceSimulatorPlaysADeviceOverMQTT() throws {
        let server = try Shared.get()
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        // In contact first (a command needs it), then a reboot waits in the queue for the simulator's subscription.
        #expect(try Self.mosquittoPub(port: port, device, version: "mqttv311", qos: 1, message: "[]").exitCode == 0)
        #expect(try server.client().post("/api/v2/projects/\(project)/devices/\(pk)/reboot/", .object([:])).status == 202)
        let keys = server.directory.file("sim-\(device.deviceID).tsv")
        try "\(device.deviceID)\t\(device.key)\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let run = try runProgram("device-simulator", ["--url", "http://127.0.0.1:\(server.port)", "--devices", keys, "--interval", "0.3",
                                                      "--ticks", "3", "--mqtt", "127.0.0.1:\(port)"])
        #expect(run.exitCode == 0, "\(run.stderr)")
        #expect(run.stdout.components(separatedBy: "over MQTT → PUBACK").count - 1 == 3, "\(run.stdout)")
        // The simulator's readings carry no `t` (now, whole seconds): readings within one second share their point.
        #expect(try !Self.history(server, project, pk).isEmpty)
        #expect(try Self.commands(server, project, pk).first?["status"] == .string("acked"))
    }

    @Test func aCommandQueuedThroughAnotherProcessReachesTheSubscriber() throws {
        // Two api-servers on one database: the device subscribes on the first, the reboot is queued through the second.
        let first = try ServerProcess()
        let second = try ServerProcess(databasePath: first.databasePath)
        defer {
            second.stop()
            first.stop()
            second.directory.remove()
            first.directory.remove()
        }
        let port = try Self.mqttPort(first)
        let (project, device, pk) = try Self.device(first)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["timeout", "60", Self.python, Self.script, "commands", "--port", String(port), "--user", device.deviceID,
                             "--password", device.key, "--count", "1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var output = ""
        let reader = pipe.fileHandleForReading
        while !output.contains("subscribed\n") {
            let data = reader.availableData
            if data.isEmpty { break }
            output += String(decoding: data, as: UTF8.self)
        }
        let queued = try HTTPTestClient(port: second.port, token: first.adminToken).post("/api/v2/projects/\(project)/devices/\(pk)/reboot/",
                                                                                        .object([:]))
        #expect(queued.status == 202)
        output += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let result = try JSONParser.parse(Array((output.split(separator: "\n").last ?? "").utf8))
        #expect(result["messages"]?.arrayValue?.first?["body"]?["command"] == .string("NAT@AT+Z"))
        #expect(try Self.commands(first, project, pk).first?["status"] == .string("acked"))
    }

    @Test func acknowledgedQoS1TelemetrySurvivesKill9() throws {
        let server = try ServerProcess()   // own server: it is killed
        let port = try Self.mqttPort(server)
        let (project, device, pk) = try Self.device(server)
        let adminToken = try #require(server.adminToken)
        let sent = try Self.mosquittoPub(port: port, device, version: "mqttv311", qos: 1, message: Self.point(device, channel: 1, value: 42, t: 1_708_070_400))
        #expect(sent.exitCode == 0)
        server.stop(signal: SIGKILL)
        let restarted = try ServerProcess(databasePath: server.databasePath)
        defer {
            restarted.stop()
            server.directory.remove()
            restarted.directory.remove()
        }
        let points = try restarted.client(token: adminToken).get("/api/v2/projects/\(project)/devices/\(pk)/data/?start=0").json["results"]?.arrayValue ?? []
        #expect(points.count == 1)
        #expect(points.first?["value"] == .number(42))
    }
}

struct MQTTTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// MQTT over TLS on `mqtt.tls_port` with the server's certificate.
@Suite struct MQTTTLSE2ETests {
    @Test func mosquittoPublishesOverTLS() throws {
        let directory = TemporaryDirectory("iot-mqtt-tls")
        defer { directory.remove() }
        let certificate = try TestCertificate(in: directory.path)
        let server = try ServerProcess(arguments: ["--tls-certificate", certificate.certificatePath, "--tls-private-key", certificate.privateKeyPath])
        defer { server.stop() }
        let deadline = Date().addingTimeInterval(10)
        var line: String?
        while line == nil, Date() < deadline {
            line = server.outputLines.first { $0.hasPrefix("mqtt listening on mqtts://") }
            if line == nil { usleep(20_000) }
        }
        let port = try #require(line.flatMap { Int($0.split(separator: ":").last ?? "") })
        // The REST calls go over HTTPS with curl: provision, a project, the bind.
        let device = try DeviceAPI.provision(server)[0]
        let token = try #require(server.adminToken)
        func curl(_ path: String, _ body: String) throws -> JSON {
            let result = try runTool("curl", ["-s", "--cacert", certificate.certificatePath, "-H", "Authorization: Bearer \(token)",
                                              "-H", "Content-Type: application/json", "-d", body, "https://localhost:\(server.port)\(path)"])
            return try JSONParser.parse(Array(result.stdout.utf8))
        }
        let project = "p-tls-\(device.deviceID)"
        _ = try curl("/api/v2/projects/", #"{"project_id": "\#(project)", "name": "MQTT over TLS"}"#)
        let pk = try #require(try curl("/api/v2/projects/\(project)/devices/bind/", #"{"device_id": "\#(device.deviceID)", "safe_code": "\#(device.safeCode)"}"#)["id"]?.int64Value)
        let sent = try runTool("timeout", ["20", "mosquitto_pub", "-h", "localhost", "-p", String(port), "--cafile", certificate.certificatePath, "-V", "mqttv5",
                                                 "-u", device.deviceID, "-P", device.key, "-q", "1", "-t", "devices/\(device.deviceID)/telemetry",
                                                 "-m", MQTTE2ETests.point(device, channel: 1, value: 3, t: 1_708_070_400)])
        #expect(sent.exitCode == 0, "\(sent.stderr)")
        #expect(!sent.stderr.contains("failed"), "\(sent.stderr)")
        let history = try runTool("curl", ["-s", "--cacert", certificate.certificatePath, "-H", "Authorization: Bearer \(token)",
                                           "https://localhost:\(server.port)/api/v2/projects/\(project)/devices/\(pk)/data/?start=0"])
        #expect(try JSONParser.parse(Array(history.stdout.utf8))["results"]?.arrayValue?.count == 1)
    }
}
