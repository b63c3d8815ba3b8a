import Core
import Foundation
import Synchronization
import Testing
import TestSupport

/// Control commands, the per-device command queue, the device gateway (HTTP Basic device credentials) and
/// the device simulator (DESIGN §5.2). Every name is random: the suite shares the `Shared` server, except
/// the expiry test, which needs a short command lifetime.
@Suite struct GatewayAPITests {
    // MARK: - Helpers

    static func devicePath(_ project: String, _ pk: Int64) -> String { "/api/v2/projects/\(project)/devices/\(pk)/" }

    static func basic(_ deviceID: String, _ key: String) -> String {
        "Basic " + Data("\(deviceID):\(key)".utf8).base64EncodedString()
    }

    /// A gateway call as `device` (no bearer token).
    static func gateway(_ server: ServerProcess, _ method: String, _ path: String, as device: DeviceAPI.Device, json: JSON? = nil) throws -> TestResponse {
        try HTTPTestClient(port: server.port).request(method, "/api/v2/gateway/" + path, json: json,
                                                      headers: [("Authorization", basic(device.deviceID, device.key))], token: .some(nil))
    }

    /// A bound device with `capabilities`, in a fresh project.
    static func boundDevice(_ server: ServerProcess, _ client: HTTPTestClient, capabilities: String = "SUPPORTS_REBOOT") throws
        -> (project: String, device: DeviceAPI.Device, pk: Int64) {
        let project = try DeviceAPI.project(client)
        let device = try DeviceAPI.provision(server, capabilities: capabilities)[0]
        return (project, device, try DeviceAPI.bind(client, project, device))
    }

    /// A device's command history (newest first).
    static func history(_ client: HTTPTestClient, _ project: String, _ pk: Int64) throws -> [JSON] {
        try client.get(devicePath(project, pk) + "commands/?page_size=100").json["results"]?.arrayValue ?? []
    }

    static let serial: JSON = .object(["baud_rate": .int(9600), "data_bits": .int(8), "stop_bits": .int(1), "parity": .string("NONE")])
    static let tcp: JSON = .object(["host": .string("iot.example.com"), "port": .int(1883)])

    // MARK: - Control commands

    @Test func controlCommandsValidateAndQueueExactATTexts() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        let path = Self.devicePath(project, pk)
        // Never connected: offline.
        #expect(try client.get(path).json["online"] == .bool(false))
        for (action, body) in [("reboot/", JSON.object([:])), ("set-serial/", Self.serial), ("set-tcp/", Self.tcp)] {
            let offline = try client.post(path + action, body)
            #expect(offline.status == 503 && offline.code == "DEVICE_OFFLINE", "\(action)")
        }
        #expect(try Self.history(client, project, pk).isEmpty)
        // One gateway call and it is online.
        #expect(try Self.gateway(server, "GET", "commands/", as: device).json["commands"] == .array([]))
        #expect(try client.get(path).json["online"] == .bool(true))

        let reboot = try client.post(path + "reboot/", .object([:]))
        #expect(reboot.status == 202)
        #expect(reboot.json["commands"]?.arrayValue?.compactMap { $0["command"]?.stringValue } == ["NAT@AT+Z"])
        #expect(try client.request("POST", path + "reboot/").status == 202)   // empty body
        #expect(try client.request("POST", path + "reboot/", rawBody: Array("null".utf8)).status == 202)   // seed-style null
        let strict = try client.post(path + "reboot/", .object(["force": .bool(true)]))
        #expect(strict.status == 422 && strict.code == "INVALID_COMMAND" && strict.json["fields"]?["force"] != nil)
        let serial = try client.post(path + "set-serial/", Self.serial)
        #expect(serial.status == 202)
        #expect(serial.json["commands"]?.arrayValue?.compactMap { $0["command"]?.stringValue } == ["NAT@AT+UART1=9600,8,1,NONE,NFC", "NAT@AT+Z"])
        #expect(serial.json["commands"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } == ["set-serial", "reboot"])
        let tcp = try client.post(path + "set-tcp/", Self.tcp)
        #expect(tcp.status == 202)
        #expect(tcp.json["commands"]?.arrayValue?.compactMap { $0["command"]?.stringValue } == ["NAT@AT+SOCK1A=TCPC,iot.example.com,1883"])
        let ip = try client.post(path + "set-tcp/", .object(["host": .string("10.1.2.3"), "port": .int(65_535)]))
        #expect(ip.json["commands"]?.arrayValue?.first?["command"] == .string("NAT@AT+SOCK1A=TCPC,10.1.2.3,65535"))
        #expect(try Self.history(client, project, pk).allSatisfy { $0["status"] == .string("pending") })
        #expect(try Self.history(client, project, pk).count == 7)

        // Validation → 422 INVALID_COMMAND naming the fields.
        let serialCases: [(String, JSON)] = [("baud_rate", .int(9601)), ("baud_rate", .string("9600")), ("data_bits", .int(9)),
                                             ("stop_bits", .int(3)), ("parity", .string("MARK")), ("parity", .string("none"))]
        for (key, value) in serialCases {
            var object = Self.serial.objectValue ?? JSONObject()
            object[key] = value
            let response = try client.post(path + "set-serial/", .object(object))
            #expect(response.status == 422 && response.code == "INVALID_COMMAND", "\(key) = \(value)")
            #expect(response.json["fields"]?.objectValue?.keys == [key], "\(key) = \(value)")
        }
        let empty = try client.post(path + "set-serial/", .object([:]))
        #expect(Set(empty.json["fields"]?.objectValue?.keys ?? []) == ["baud_rate", "data_bits", "stop_bits", "parity"])
        for host in ["iot.example.com,1883\r\nNAT@AT+Z", "iot.example.com,80", "a b", "evil;host", "", "300.1.1.1", "-x.com", "x_y.com"] {
            let response = try client.post(path + "set-tcp/", .object(["host": .string(host), "port": .int(1883)]))
            #expect(response.status == 422 && response.code == "INVALID_COMMAND", "\(host.debugDescription)")
            #expect(response.json["fields"]?["host"] != nil)
        }
        for port: JSON in [.int(0), .int(65_536), .string("1883"), .null] {
            let response = try client.post(path + "set-tcp/", .object(["host": .string("iot.example.com"), "port": port]))
            #expect(response.status == 422 && response.json["fields"]?["port"] != nil, "\(port)")
        }
        #expect(try client.post(path + "set-tcp/", .object(["host": .string("x.io"), "port": .int(1), "extra": .int(1)])).status == 422)
        #expect(try client.request("POST", path + "set-tcp/", rawBody: Array("{".utf8)).code == "MALFORMED_JSON")
        // None of the refused ones was queued.
        #expect(try Self.history(client, project, pk).count == 7)
    }

    @Test func rebootNeedsTheCapability() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client, capabilities: "")
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        let path = Self.devicePath(project, pk)
        let reboot = try client.post(path + "reboot/", .object([:]))
        #expect(reboot.status == 422 && reboot.code == "INVALID_COMMAND")
        #expect(reboot.json["detail"]?.stringValue?.contains("SUPPORTS_REBOOT") == true)
        #expect(try client.post(path + "set-serial/", Self.serial).status == 422)   // it ends with a reboot
        #expect(try client.post(path + "set-tcp/", Self.tcp).status == 202)
        #expect(try Self.history(client, project, pk).compactMap { $0["kind"]?.stringValue } == ["set-tcp"])
    }

    // MARK: - The gateway

    @Test func gatewayDeliversInOrderThenAcks() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        let hello = try Self.gateway(server, "GET", "", as: device)
        #expect(hello.status == 200 && hello.json["device_id"] == .string(device.deviceID) && hello.json["bound"] == .bool(true))
        let path = Self.devicePath(project, pk)
        let serial = try client.post(path + "set-serial/", Self.serial)
        let tcp = try client.post(path + "set-tcp/", Self.tcp)
        let queued = ((serial.json["commands"]?.arrayValue ?? []) + (tcp.json["commands"]?.arrayValue ?? [])).compactMap { $0["id"]?.int64Value }
        #expect(queued.count == 3)

        let fetched = try Self.gateway(server, "GET", "commands/", as: device)
        #expect(fetched.status == 200)
        let commands = fetched.json["commands"]?.arrayValue ?? []
        #expect(commands.compactMap { $0["id"]?.int64Value } == queued)
        #expect(commands.compactMap { $0["command"]?.stringValue }
            == ["NAT@AT+UART1=9600,8,1,NONE,NFC", "NAT@AT+Z", "NAT@AT+SOCK1A=TCPC,iot.example.com,1883"])
        #expect(try Self.history(client, project, pk).allSatisfy { $0["status"] == .string("delivered") && $0["delivered_at"] != .null })
        // Delivered once only.
        #expect(try Self.gateway(server, "GET", "commands/", as: device).json["commands"] == .array([]))

        let acked = try Self.gateway(server, "POST", "commands/\(queued[0])/ack/", as: device, json: .object(["ok": .bool(true), "output": .string("OK")]))
        #expect(acked.status == 200 && acked.json["status"] == .string("acked") && acked.json["output"] == .string("OK"))
        let failed = try Self.gateway(server, "POST", "commands/\(queued[1])/ack/", as: device, json: .object(["ok": .bool(false)]))
        #expect(failed.status == 200 && failed.json["status"] == .string("failed"))
        let twice = try Self.gateway(server, "POST", "commands/\(queued[0])/ack/", as: device, json: .object(["ok": .bool(false)]))
        #expect(twice.status == 409)
        #expect(try Self.gateway(server, "POST", "commands/\(queued[2])/ack/", as: device, json: .object(["ok": .string("yes")])).status == 400)
        #expect(try Self.gateway(server, "POST", "commands/999999999/ack/", as: device, json: .object(["ok": .bool(true)])).code == "COMMAND_NOT_FOUND")

        // The history: newest first, statuses pending → delivered → acked | failed, paginated.
        let history = try Self.history(client, project, pk)
        #expect(history.compactMap { $0["id"]?.int64Value } == queued.reversed())
        #expect(history.compactMap { $0["status"]?.stringValue } == ["delivered", "failed", "acked"])
        #expect(history.last?["finished_at"] != .null && history.last?["created_by"] == .string("admin"))
        let page = try client.get(path + "commands/?page_size=2")
        #expect(page.status == 200 && page.json["count"] == .int(3))
        #expect(page.json["results"]?.arrayValue?.count == 2)
        let next = try #require(page.json["next"]?.stringValue)
        let second = try client.get(DeviceAPI.path(ofLink: next))
        #expect(second.json["results"]?.arrayValue?.compactMap { $0["id"]?.int64Value } == [queued[0]])
        #expect(try client.get(path + "commands/?page=0").status == 400)
    }

    /// DESIGN §5.2's ack contract (a probe found firmware written to it could never acknowledge): no body or `{}`
    /// means done, `{"ok": false, "error": "text"}` means failed with that text, another device's command is 404
    /// before any body check; the `{ok, output}` form still works.
    @Test func acksFollowTheContract() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        var queued: [Int64] = []
        for port in 1...4 {
            let response = try client.post(Self.devicePath(project, pk) + "set-tcp/", .object(["host": .string("h.example"), "port": .int(port)]))
            queued += (response.json["commands"]?.arrayValue ?? []).compactMap { $0["id"]?.int64Value }
        }
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        let noBody = try Self.gateway(server, "POST", "commands/\(queued[0])/ack/", as: device)
        #expect(noBody.status == 200 && noBody.json["status"] == .string("acked"), "\(noBody.text)")
        let empty = try Self.gateway(server, "POST", "commands/\(queued[1])/ack/", as: device, json: .object([:]))
        #expect(empty.status == 200 && empty.json["status"] == .string("acked"))
        let failed = try Self.gateway(server, "POST", "commands/\(queued[2])/ack/", as: device,
                                      json: .object(["ok": .bool(false), "error": .string("modem busy")]))
        #expect(failed.status == 200 && failed.json["status"] == .string("failed") && failed.json["output"] == .string("modem busy"))
        // Another device's command: 404 even with a body that would not validate.
        let other = try DeviceAPI.provision(server, capabilities: "SUPPORTS_REBOOT")[0]
        _ = try DeviceAPI.bind(client, project, other)
        let foreign = try Self.gateway(server, "POST", "commands/\(queued[3])/ack/", as: other, json: .object(["ok": .string("garbage")]))
        #expect(foreign.status == 404 && foreign.code == "COMMAND_NOT_FOUND")
        let history = try Self.history(client, project, pk)
        #expect(history.first?["status"] == .string("delivered"))
    }

    @Test func concurrentFetchesDeliverEachCommandOnce() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        var queued: [Int64] = []
        for port in 1...6 {
            let response = try client.post(Self.devicePath(project, pk) + "set-tcp/", .object(["host": .string("h.example"), "port": .int(port)]))
            queued += (response.json["commands"]?.arrayValue ?? []).compactMap { $0["id"]?.int64Value }
        }
        let results = Mutex<[[Int64]]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let ids = ((try? Self.gateway(server, "GET", "commands/", as: device))?.json["commands"]?.arrayValue ?? [])
                .compactMap { $0["id"]?.int64Value }
            results.withLock { $0.append(ids) }
        }
        let all = results.withLock { $0 }
        #expect(all.flatMap { $0 }.sorted() == queued)
        #expect(all.allSatisfy { $0 == $0.sorted() })   // each answer in queue order
    }

    @Test func aDeviceNeverSeesAnotherDevicesCommands() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, a, pkA) = try Self.boundDevice(server, client)
        let b = try DeviceAPI.provision(server, capabilities: "SUPPORTS_REBOOT")[0]
        let pkB = try DeviceAPI.bind(client, project, b)
        _ = try Self.gateway(server, "GET", "commands/", as: a)
        _ = try Self.gateway(server, "GET", "commands/", as: b)
        let reboot = try client.post(Self.devicePath(project, pkA) + "reboot/", .object([:]))
        let id = try #require(reboot.json["commands"]?.arrayValue?.first?["id"]?.int64Value)
        // B neither receives nor acks A's command, nor can it tell it exists.
        #expect(try Self.gateway(server, "GET", "commands/", as: b).json["commands"] == .array([]))
        let foreignAck = try Self.gateway(server, "POST", "commands/\(id)/ack/", as: b, json: .object(["ok": .bool(true)]))
        #expect(foreignAck.status == 404 && foreignAck.code == "COMMAND_NOT_FOUND")
        #expect(try Self.history(client, project, pkA).first?["status"] == .string("pending"))
        #expect(try Self.history(client, project, pkB).isEmpty)
        // A gets it.
        #expect(try Self.gateway(server, "GET", "commands/", as: a).json["commands"]?.arrayValue?.compactMap { $0["id"]?.int64Value } == [id])
        #expect(try Self.gateway(server, "POST", "commands/\(id)/ack/", as: a, json: .object(["ok": .bool(true)])).status == 200)
        // A command of A is not reachable through B's project routes either.
        #expect(try client.get(Self.devicePath(project, pkB) + "commands/").json["count"] == .int(0))
    }

    @Test func gatewayCredentials() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        let other = try DeviceAPI.provision(server)[0]
        let anonymous = HTTPTestClient(port: server.port)
        let headers: [[(String, String)]] = [
            [],
            [("Authorization", Self.basic(device.deviceID, "dk_wrong"))],
            [("Authorization", Self.basic(device.deviceID, ""))],
            [("Authorization", Self.basic("unknown-\(RandomID.make(length: 8))", device.key))],
            [("Authorization", Self.basic(other.deviceID, device.key))],   // another device's key
            [("Authorization", "Basic !!!not-base64")],
            [("Authorization", "Basic " + Data("no-colon".utf8).base64EncodedString())],
            [("Authorization", "Bearer \(server.adminToken ?? "")")],
            [("Authorization", "Bearer \(device.key)")],
            [("Authorization", "Digest username=\"x\"")],
        ]
        for header in headers {
            for (method, path, body) in [("GET", "/api/v2/gateway/commands/", JSON?.none), ("GET", "/api/v2/gateway/", nil),
                                         ("GET", "/api/v2/gateway/factors/", nil),
                                         ("POST", "/api/v2/gateway/data/", DeviceAPI.points([("\(device.agriID)-01", 1, nil)])),
                                         ("POST", "/api/v2/gateway/commands/1/ack/", .object(["ok": .bool(true)]))] {
                let response = try anonymous.request(method, path, json: body, headers: header, token: .some(nil))
                #expect(response.status == 401 && response.code == "UNAUTHORIZED", "\(method) \(path) \(header)")
                #expect(response.header("WWW-Authenticate")?.hasPrefix("Basic") == true, "\(method) \(path) \(header)")
            }
        }
        // Nothing of the refused data was stored, and the device was not marked online.
        #expect(try client.get(Self.devicePath(project, pk) + "data/").json == .array([]))
        #expect(try client.get(Self.devicePath(project, pk)).json["online"] == .bool(false))
        // Device credentials are not accepted by user routes.
        for path in ["/api/v2/me/", "/api/v2/projects/", Self.devicePath(project, pk), Self.devicePath(project, pk) + "commands/"] {
            let response = try anonymous.request("GET", path, headers: [("Authorization", Self.basic(device.deviceID, device.key))], token: .some(nil))
            #expect(response.status == 401, "\(path)")
        }
        let asUserRoute = try anonymous.request("POST", Self.devicePath(project, pk) + "reboot/", json: .object([:]),
                                                headers: [("Authorization", Self.basic(device.deviceID, device.key))], token: .some(nil))
        #expect(asUserRoute.status == 401)
        // With the right credentials (curl -u style) it works.
        #expect(try Self.gateway(server, "GET", "", as: device).status == 200)
    }

    @Test func gatewayDataGoesThroughTheSamePipeline() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        let path = Self.devicePath(project, pk)
        #expect(try client.post(path + "factors/", .object(["agri_id": .string("\(device.agriID)-01"), "name": .string("temp"),
                                                            "register": .int(0)])).status == 201)
        #expect(try client.get(path).json["online"] == .bool(false))
        // The channel map the device polls.
        let map = try Self.gateway(server, "GET", "factors/", as: device)
        #expect(map.status == 200 && map.json["agri_id"] == .string(device.agriID))
        #expect(map.json["factors"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["temp"])
        let posted = try Self.gateway(server, "POST", "data/", as: device, json: DeviceAPI.points([
            ("\(device.agriID)-01", 24.1, 1_708_070_400), ("\(device.agriID)-02", 68.2, 1_708_070_400), ("d-elsewhere-01", 1, 1_708_070_400),
        ]))
        #expect(posted.status == 202)
        #expect(posted.json == .object(["accepted": .int(2), "dropped": .int(1)]))
        let latest = try client.get(path + "data/").json.arrayValue ?? []
        #expect(latest.contains(.object(["agri_id": .string("\(device.agriID)-01"), "temp": .number(24.1), "t": .int(1_708_070_400)])))
        #expect(latest.contains(.object(["agri_id": .string("\(device.agriID)-02"), "value": .number(68.2), "t": .int(1_708_070_400)])))
        let history = try client.get(path + "data/?agri_id=\(device.agriID)-01&start=0")
        #expect(history.json["results"]?.arrayValue?.count == 1)
        let detail = try client.get(path).json
        #expect(detail["online"] == .bool(true) && detail["connect_time"] != .null)
        // Bad bodies.
        #expect(try Self.gateway(server, "POST", "data/", as: device, json: .object([:])).status == 400)
        #expect(try HTTPTestClient(port: server.port).request("POST", "/api/v2/gateway/data/", rawBody: Array("[".utf8),
                                                             headers: [("Authorization", Self.basic(device.deviceID, device.key))],
                                                             token: .some(nil)).code == "MALFORMED_JSON")
        // allow=false → 403.
        #expect(try client.patch(path, .object(["allow": .bool(false)])).status == 200)
        let refused = try Self.gateway(server, "POST", "data/", as: device, json: DeviceAPI.points([("\(device.agriID)-01", 1, nil)]))
        #expect(refused.status == 403 && refused.code == "FORBIDDEN")
        #expect(try client.get(path + "data/?start=0").json["results"]?.arrayValue?.count == 2)
        // Refused data is still contact: a disallowed device that never called before becomes online.
        let (quietProject, quiet, quietPK) = try Self.boundDevice(server, client)
        #expect(try client.patch(Self.devicePath(quietProject, quietPK), .object(["allow": .bool(false)])).status == 200)
        #expect(try Self.gateway(server, "POST", "data/", as: quiet, json: DeviceAPI.points([("\(quiet.agriID)-01", 1, nil)])).status == 403)
        #expect(try client.get(Self.devicePath(quietProject, quietPK)).json["online"] == .bool(true))
    }

    @Test func anUnboundDevicesDataIsRefusedButItIsInContact() throws {
        let server = try Shared.get()
        let client = server.client()
        let device = try DeviceAPI.provision(server)[0]
        let refused = try Self.gateway(server, "POST", "data/", as: device, json: DeviceAPI.points([("\(device.agriID)-01", 1, nil)]))
        #expect(refused.status == 409 && refused.code == "DEVICE_NOT_BOUND")
        #expect(try Self.gateway(server, "GET", "", as: device).json["bound"] == .bool(false))
        #expect(try Self.gateway(server, "GET", "commands/", as: device).json["commands"] == .array([]))
        // Bound later: it has been in contact, so it is online at once, and its earlier data was not kept.
        let project = try DeviceAPI.project(client)
        let pk = try DeviceAPI.bind(client, project, device)
        let detail = try client.get(Self.devicePath(project, pk)).json
        #expect(detail["online"] == .bool(true))
        #expect(try client.get(Self.devicePath(project, pk) + "data/").json == .array([]))
        // Unbound again: its pending commands go with the old owner.
        #expect(try client.post(Self.devicePath(project, pk) + "set-tcp/", Self.tcp).status == 202)
        #expect(try client.post(Self.devicePath(project, pk) + "unbind/", .object([:])).status == 204)
        #expect(try Self.gateway(server, "GET", "commands/", as: device).json["commands"] == .array([]))
    }

    @Test func everyGatewayCallRefreshesConnectTime() throws {
        let server = try Shared.get()
        let client = server.client()
        for path in ["", "commands/", "factors/"] {
            let (project, device, pk) = try Self.boundDevice(server, client)
            #expect(try client.get(Self.devicePath(project, pk)).json["online"] == .bool(false))
            #expect(try Self.gateway(server, "GET", path, as: device).status == 200, "\(path)")
            let detail = try client.get(Self.devicePath(project, pk)).json
            #expect(detail["online"] == .bool(true) && detail["connect_time"] != .null, "GET gateway/\(path)")
            // The org-wide list (cached) shows it too.
            let listed = try client.get("/api/v2/devices/?project_id=\(project)").json.arrayValue?.first { $0["id"] == .int64(pk) }
            #expect(listed?["online"] == .bool(true), "list after GET gateway/\(path)")
        }
        // The ack of a command counts as contact too (checked through the project's offline count).
        let (project, device, pk) = try Self.boundDevice(server, client)
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        let id = try #require(try client.post(Self.devicePath(project, pk) + "reboot/", .object([:])).json["commands"]?.arrayValue?.first?["id"]?.int64Value)
        #expect(try Self.gateway(server, "POST", "commands/\(id)/ack/", as: device, json: .object(["ok": .bool(true)])).status == 200)
        #expect(try client.get("/api/v2/projects/\(project)/").json["offline_device_count"] == .int(0))
    }

    // MARK: - Authorization

    @Test func authorizationMatrixOnControlAndHistory() throws {
        let server = try Shared.get()
        let admin = server.client()
        let (project, device, pk) = try Self.boundDevice(server, admin)
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        let path = Self.devicePath(project, pk)
        let (_, viewerToken) = try Shared.user(server, role: "viewer")
        let otherProject = try DeviceAPI.project(admin)
        let scopedToken = try DeviceAPI.scopedToken(admin, role: "manager", projects: [otherProject])
        let (_, foreignToken) = try DeviceAPI.organization(server)
        let viewer = server.client(token: viewerToken)
        let scoped = server.client(token: scopedToken)
        let foreign = server.client(token: foreignToken)
        let anonymous = HTTPTestClient(port: server.port)
        let writes: [(String, JSON)] = [("reboot/", .object([:])), ("set-serial/", Self.serial), ("set-tcp/", Self.tcp),
                                        ("set-serial/", .object(["baud_rate": .int(1)])), ("set-tcp/", .object(["host": .string("a b")]))]
        for (action, body) in writes {
            let asViewer = try viewer.post(path + action, body)
            #expect(asViewer.status == 403 && asViewer.code == "FORBIDDEN", "viewer \(action) \(body)")
            let asScoped = try scoped.post(path + action, body)
            #expect(asScoped.status == 403 && asScoped.code == "FORBIDDEN", "scoped \(action) \(body)")
            let asForeign = try foreign.post(path + action, body)
            #expect(asForeign.status == 404 && asForeign.code == "PROJECT_NOT_FOUND", "foreign \(action) \(body)")
            #expect(try anonymous.post(path + action, body).status == 401, "anonymous \(action)")
        }
        #expect(try Self.history(admin, project, pk).isEmpty)
        // Reading the history: viewer yes; scoped to another project, another org, nobody: no.
        #expect(try viewer.get(path + "commands/").status == 200)
        #expect(try scoped.get(path + "commands/").status == 403)
        #expect(try foreign.get(path + "commands/").code == "PROJECT_NOT_FOUND")
        #expect(try anonymous.get(path + "commands/").status == 401)
        // A scoped token of the project itself may act.
        let own = server.client(token: try DeviceAPI.scopedToken(admin, role: "manager", projects: [project]))
        #expect(try own.post(path + "reboot/", .object([:])).status == 202)
        // A device pk outside the project.
        #expect(try admin.post(Self.devicePath(otherProject, pk) + "reboot/", .object([:])).code == "DEVICE_NOT_FOUND")
        #expect(try admin.get(Self.devicePath(otherProject, pk) + "commands/").code == "DEVICE_NOT_FOUND")
        // User tokens are not accepted by gateway routes.
        for token in [server.adminToken ?? "", viewerToken] {
            let response = try HTTPTestClient(port: server.port, token: token).get("/api/v2/gateway/commands/")
            #expect(response.status == 401 && response.header("WWW-Authenticate")?.hasPrefix("Basic") == true)
        }
    }

    // MARK: - Expiry (own server: commands live one second)

    @Test func undeliveredCommandsExpire() throws {
        let server = try ServerProcess(environment: ["IOT_DEVICES_COMMAND_TTL": "1s"])
        defer { server.stop() }
        let client = server.client()
        let (project, device, pk) = try Self.boundDevice(server, client)
        _ = try Self.gateway(server, "GET", "commands/", as: device)
        let queued = try client.post(Self.devicePath(project, pk) + "reboot/", .object([:]))
        #expect(queued.status == 202)
        #expect(try Self.history(client, project, pk).first?["status"] == .string("pending"))
        usleep(2_200_000)
        let history = try Self.history(client, project, pk)
        #expect(history.first?["status"] == .string("expired"))
        #expect(history.first?["finished_at"] != .null)
        #expect(try Self.gateway(server, "GET", "commands/", as: device).json["commands"] == .array([]))
        // Expired is final: a late ack is refused.
        let id = try #require(history.first?["id"]?.int64Value)
        #expect(try Self.gateway(server, "POST", "commands/\(id)/ack/", as: device, json: .object(["ok": .bool(true)])).status == 409)
        // A command fetched in time is delivered; acked in time it is final.
        let second = try client.post(Self.devicePath(project, pk) + "reboot/", .object([:]))
        let secondID = try #require(second.json["commands"]?.arrayValue?.first?["id"]?.int64Value)
        #expect(try Self.gateway(server, "GET", "commands/", as: device).json["commands"]?.arrayValue?.compactMap { $0["id"]?.int64Value } == [secondID])
        #expect(try Self.gateway(server, "POST", "commands/\(secondID)/ack/", as: device, json: .object(["ok": .bool(true)])).status == 200)
        usleep(1_200_000)
        #expect(try Self.history(client, project, pk).first?["status"] == .string("acked"))
    }

    // MARK: - Device simulator

    /// Runs a program with a deadline (killed after it); nil when it had to be killed.
    static func exitStatus(_ name: String, _ arguments: [String], timeout: Double) throws -> Int32? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path(name))
        process.arguments = arguments
        process.environment = Binaries.environment([:], arguments: arguments)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// Runs `device-simulator` in the background, its output in a file.
    final class Simulator {
        let process = Process()
        let directory = TemporaryDirectory("iot-sim")
        var outputPath: String { directory.file("out.log") }

        convenience init(_ server: ServerProcess, devices: [DeviceAPI.Device], arguments: [String]) throws {
            try self.init(server, keys: devices.map { "\($0.deviceID)\t\($0.key)" }.joined(separator: "\n") + "\n", arguments: arguments)
        }

        /// `keys`: the KEYS.tsv text (`device_id<TAB>device_key` lines).
        init(_ server: ServerProcess, keys text: String, arguments: [String]) throws {
            let keys = directory.file("keys.tsv")
            try text.write(toFile: keys, atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            _ = FileManager.default.createFile(atPath: directory.file("err.log"), contents: nil)
            process.executableURL = URL(fileURLWithPath: Binaries.path("device-simulator"))
            process.arguments = ["--url", "http://127.0.0.1:\(server.port)", "--devices", keys] + arguments
            process.environment = Binaries.environment()
            process.standardOutput = FileHandle(forWritingAtPath: outputPath)!
            process.standardError = FileHandle(forWritingAtPath: directory.file("err.log"))!
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

        /// Waits for the process to exit; returns its status (nil on timeout).
        func wait(timeout: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            return process.isRunning ? nil : process.terminationStatus
        }

        /// Polls `condition` until it holds or `timeout` passes.
        static func eventually(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if try condition() { return true }
                usleep(50_000)
            }
            return try condition()
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            directory.remove()
        }
    }

    @Test func simulatorPlaysDevicesThroughTheGateway() throws {
        let server = try Shared.get()
        let client = server.client()
        let moduleID = try DeviceAPI.shippedModule(server, model: "THM-30")
        let project = try DeviceAPI.project(client)
        // KEYS.tsv is exactly what `admin-cli devices provision FILE.csv` prints without --json.
        let rows = (0..<2).map { _ in DeviceAPI.newRow(capabilities: "SUPPORTS_REBOOT") }
        let provisioned = try DeviceAPI.runProvision(server.databasePath, DeviceAPI.csv(rows), json: false)
        #expect(provisioned.exitCode == 0, "\(provisioned.stderr)")
        let keys = provisioned.stdout
        let keyByID = Dictionary(uniqueKeysWithValues: keys.split(separator: "\n").map { line in
            let fields = line.split(separator: "\t")
            return (String(fields[0]), String(fields.count > 1 ? fields[1] : ""))
        })
        let devices = try rows.map { row in
            DeviceAPI.Device(deviceID: row.deviceID, safeCode: row.safeCode, agriID: row.agriID,
                             key: try #require(keyByID[row.deviceID], "\(keys)"))
        }
        let pks = try devices.map { try DeviceAPI.bind(client, project, $0) }
        let added = try client.post(Self.devicePath(project, pks[0]) + "add-module/", .object(["module_id": .int64(moduleID), "slave_id": .int(1)]))
        #expect(added.status == 201)
        // Online (one contact) so the reboot can be queued.
        _ = try Self.gateway(server, "GET", "", as: devices[0])
        let reboot = try client.post(Self.devicePath(project, pks[0]) + "reboot/", .object([:]))
        #expect(reboot.status == 202)

        let simulator = try Simulator(server, keys: keys, arguments: ["--interval", "0.2", "--ticks", "2"])
        #expect(simulator.wait(timeout: 60) == 0, "\(simulator.output)")

        // Telemetry per factor, under the factors' names; the device without factors posts `<prefix>-01`.
        let first = try client.get(Self.devicePath(project, pks[0]) + "data/").json.arrayValue ?? []
        #expect(Set(first.compactMap { $0["agri_id"]?.stringValue }) == ["\(devices[0].agriID)-01", "\(devices[0].agriID)-02"], "\(first)")
        #expect(first.contains { $0["agri_id"] == .string("\(devices[0].agriID)-01") && $0["temp"]?.doubleValue != nil })
        #expect(first.contains { $0["agri_id"] == .string("\(devices[0].agriID)-02") && $0["humidity"]?.doubleValue != nil })
        let second = try client.get(Self.devicePath(project, pks[1]) + "data/").json.arrayValue ?? []
        #expect(second.compactMap { $0["agri_id"]?.stringValue } == ["\(devices[1].agriID)-01"])
        #expect(second.first?["value"]?.doubleValue != nil)
        // The reboot was fetched and acknowledged.
        let history = try Self.history(client, project, pks[0])
        #expect(history.first?["status"] == .string("acked"), "\(history)")
        #expect(history.first?["output"] == .string("OK"))
        #expect(simulator.output.contains("NAT@AT+Z"))
        for pk in pks { #expect(try client.get(Self.devicePath(project, pk)).json["online"] == .bool(true)) }
    }

    @Test func simulatorGoesSilentOnSIGUSR1() throws {
        let server = try Shared.get()
        let client = server.client()
        let project = try DeviceAPI.project(client)
        let device = try DeviceAPI.provision(server)[0]
        let pk = try DeviceAPI.bind(client, project, device)
        let path = Self.devicePath(project, pk)
        let simulator = try Simulator(server, devices: [device], arguments: ["--interval", "0.2"])
        func snapshot() throws -> (points: Int, connect: JSON?) {
            let points = try client.get(path + "data/?start=0&limit=10000").json["results"]?.arrayValue?.count ?? -1
            return (points, try client.get(path).json["connect_time"])
        }
        // Points arrive, over more than one second (a point per second per agri_id is kept).
        #expect(try Simulator.eventually(timeout: 20) { try snapshot().points >= 2 }, "\(simulator.output)")
        kill(simulator.process.processIdentifier, SIGUSR1)
        #expect(Simulator.eventually(timeout: 10) { simulator.output.contains("offline") })
        // A tick that was under way may still land: wait until nothing moved for a second.
        var before = try snapshot()
        #expect(try Simulator.eventually(timeout: 15) {
            usleep(1_100_000)
            let now = try snapshot()
            defer { before = now }
            return now.points == before.points && now.connect == before.connect
        })
        usleep(2_500_000)
        let after = try snapshot()
        #expect(after.points == before.points)
        #expect(after.connect == before.connect)
        // SIGUSR2 brings it back.
        kill(simulator.process.processIdentifier, SIGUSR2)
        #expect(try Simulator.eventually(timeout: 20) { try snapshot().points > after.points }, "\(simulator.output)")
        kill(simulator.process.processIdentifier, SIGTERM)
        #expect(simulator.wait(timeout: 20) == 0)
    }

    @Test func simulatorCommandLine() throws {
        let server = try Shared.get()
        let client = server.client()
        let help = try runProgram("device-simulator", ["--help"])
        #expect(help.exitCode == 0 && help.stdout.contains("--devices"))
        let directory = TemporaryDirectory("iot-sim-cli")
        defer { directory.remove() }
        let keys = directory.file("keys.tsv")
        // A keys file with CRLF line ends (edited on another system) still names each device.
        let project = try DeviceAPI.project(client)
        let devices = try DeviceAPI.provision(server, count: 2)
        let pks = try devices.map { try DeviceAPI.bind(client, project, $0) }
        try devices.map { "\($0.deviceID)\t\($0.key)" }.joined(separator: "\r\n").appending("\r\n").write(toFile: keys, atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(server.port)"
        let run = try runProgram("device-simulator", ["--url", url, "--devices", keys, "--ticks", "1", "--interval", "0.1"])
        #expect(run.exitCode == 0, "\(run.stdout) \(run.stderr)")
        for (device, pk) in zip(devices, pks) {
            let latest = try client.get(Self.devicePath(project, pk) + "data/").json.arrayValue ?? []
            #expect(latest.compactMap { $0["agri_id"]?.stringValue } == ["\(device.agriID)-01"], "\(run.stdout)")
        }
        // Usage errors exit 2 at once instead of running with a default (or forever).
        for arguments in [[], ["--url", url], ["--devices", keys], ["--url", url, "--devices", keys, "--ticks", "abc"],
                          ["--url", url, "--devices", keys, "--ticks", "0"], ["--url", url, "--devices", keys, "--interval", "fast"],
                          ["--url", url, "--devices", keys, "--tick", "2"], ["--url", url, "--devices", keys, "--ticks"],
                          ["--url", "not a url", "--devices", keys, "--ticks", "1"], ["--url", "ftp://x", "--devices", keys, "--ticks", "1"]] {
            #expect(try Self.exitStatus("device-simulator", arguments, timeout: 20) == 2, "\(arguments)")
        }
        #expect(try runProgram("device-simulator", ["--url", url, "--devices", directory.file("missing.tsv"), "--ticks", "1"]).exitCode == 1)
    }
}
