import Core
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Devices fixtures over an API server (the binary or in-process): provisioning through `admin-cli` on the server's database
/// file, projects, binds, second organizations. Every name is random so suites share one server.
public enum DeviceAPI {
    public struct Device: Sendable {
        public let deviceID: String
        public let safeCode: String
        public let agriID: String
        public let key: String

        public init(deviceID: String, safeCode: String, agriID: String, key: String) {
            self.deviceID = deviceID
            self.safeCode = safeCode
            self.agriID = agriID
            self.key = key
        }
    }

    /// The repository root (for `Configs/modules.json`).
    public static func root(file: String = #filePath) -> String {
        URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Imports the shipped catalog into the server's database; returns the module id of `model`.
    public static func shippedModule(_ server: any APIServer, model: String) throws -> Int64 {
        let result = try runProgram("admin-cli", ["--db", server.databasePath, "modules", "import", root() + "/Configs/modules.json"])
        guard result.exitCode == 0 else { throw TestClientError2("modules import failed: \(result.stderr)") }
        let list = try server.client().get("/api/v2/modules/")
        guard let id = list.json.arrayValue?.first(where: { $0["model"]?.stringValue == model })?["id"]?.int64Value else {
            throw TestClientError2("no module \(model) in \(list.text)")
        }
        return id
    }

    public static func newRow(capabilities: String = "") -> (deviceID: String, safeCode: String, agriID: String, model: String, capabilities: String) {
        ("e2e\(RandomID.make(length: 12))", RandomID.make(length: 4).uppercased(), "d-\(RandomID.make(length: 10))", "DTU-E2E", capabilities)
    }

    public static func csv(_ rows: [(deviceID: String, safeCode: String, agriID: String, model: String, capabilities: String)]) -> String {
        (["device_id,safe_code,agri_id,model,capabilities"] + rows.map { "\($0.deviceID),\($0.safeCode),\($0.agriID),\($0.model),\($0.capabilities)" })
            .joined(separator: "\n") + "\n"
    }

    /// Runs `admin-cli --db DB devices provision FILE [--json]` on `text`.
    public static func runProvision(_ databasePath: String, _ text: String, json: Bool = true) throws -> CommandResult {
        let directory = TemporaryDirectory("iot-provision")
        defer { directory.remove() }
        let file = directory.file("devices.csv")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return try runProgram("admin-cli", ["--db", databasePath, "devices", "provision", file] + (json ? ["--json"] : []))
    }

    /// Provisions `count` fresh devices (unassigned) and returns them with their gateway keys.
    public static func provision(_ server: any APIServer, count: Int = 1, capabilities: String = "") throws -> [Device] {
        let rows = (0..<count).map { _ in newRow(capabilities: capabilities) }
        let result = try runProvision(server.databasePath, csv(rows))
        guard result.exitCode == 0 else { throw TestClientError2("provision failed: \(result.stderr)") }
        let issued = try JSONParser.parse(Array(result.stdout.utf8))
        var keys: [String: String] = [:]
        for item in issued.arrayValue ?? [] {
            if let id = item["device_id"]?.stringValue, let key = item["device_key"]?.stringValue { keys[id] = key }
        }
        return try rows.map { row in
            guard let key = keys[row.deviceID] else { throw TestClientError2("no key for \(row.deviceID) in \(result.stdout)") }
            return Device(deviceID: row.deviceID, safeCode: row.safeCode, agriID: row.agriID, key: key)
        }
    }

    /// Creates a project with a random id through the API; returns its project_id.
    public static func project(_ client: HTTPTestClient, name: String = "Devices e2e") throws -> String {
        let id = "p-\(RandomID.make(length: 12))"
        let created = try client.post("/api/v2/projects/", .object(["project_id": .string(id), "name": .string(name)]))
        guard created.status == 201 else { throw TestClientError2("project create failed: \(created.status) \(created.text)") }
        return id
    }

    public static func bindBody(_ device: Device, code: String? = nil) -> JSON {
        .object(["device_id": .string(device.deviceID), "safe_code": .string(code ?? device.safeCode)])
    }

    /// Binds `device` to `project`; returns its pk.
    public static func bind(_ client: HTTPTestClient, _ project: String, _ device: Device) throws -> Int64 {
        let response = try client.post("/api/v2/projects/\(project)/devices/bind/", bindBody(device))
        guard response.status == 200, let pk = response.json["id"]?.int64Value else {
            throw TestClientError2("bind failed: \(response.status) \(response.text)")
        }
        return pk
    }

    /// A project with `count` freshly provisioned devices bound to it.
    public static func boundProject(_ server: any APIServer, _ client: HTTPTestClient, count: Int = 1) throws -> (project: String, devices: [(Device, Int64)]) {
        let project = try project(client)
        let devices = try provision(server, count: count)
        return (project, try devices.map { ($0, try bind(client, project, $0)) })
    }

    /// A project with one freshly provisioned device bound to it (`boundProject` with `count: 1`), and that device's pk.
    public static func boundDevice(_ server: any APIServer, _ client: HTTPTestClient) throws -> (project: String, device: Device, pk: Int64) {
        let (project, devices) = try boundProject(server, client)
        return (project, devices[0].0, devices[0].1)
    }

    /// A second organization with an owner, logged in; returns its slug and the owner's token.
    public static func organization(_ server: any APIServer) throws -> (slug: String, token: String) {
        let slug = "org-\(RandomID.make(length: 8))"
        let user = "\(slug)-owner"
        for arguments in [["org", "create", slug, "--name", "Org \(slug)"],
                          ["user", "create", user, "--org", slug, "--role", "owner", "--password", "password-\(slug)"]] {
            let result = try runProgram("admin-cli", ["--db", server.databasePath] + arguments)
            guard result.exitCode == 0 else { throw TestClientError2("\(arguments[0]) create failed: \(result.stderr)") }
        }
        let login = try server.client(token: nil).request("POST", "/api/v2/auth/login/", json: .object([
            "username": .string(user), "password": .string("password-\(slug)"),
        ]), token: .some(nil))
        guard login.status == 200, let token = login.json["token"]?.stringValue else { throw TestClientError2("login failed: \(login.text)") }
        return (slug, token)
    }

    /// Mints a token with `role` and `projects` as the manager `client`.
    public static func scopedToken(_ client: HTTPTestClient, role: String, projects: [String]) throws -> String {
        let minted = try client.post("/api/v2/tokens/", .object(["role": .string(role), "projects": .array(projects.map(JSON.string))]))
        guard minted.status == 201, let token = minted.json["token"]?.stringValue else {
            throw TestClientError2("token mint failed: \(minted.status) \(minted.text)")
        }
        return token
    }

    /// Telemetry body `[{agri_id, value, t?}]`.
    public static func points(_ items: [(String, Double, Int64?)]) -> JSON {
        .array(items.map { item in
            var object = JSONObject()
            object.append("agri_id", .string(item.0))
            object.append("value", .number(item.1))
            if let t = item.2 { object.append("t", .int64(t)) }
            return .object(object)
        })
    }

    /// The path (and query) of an absolute `next` link.
    public static func path(ofLink link: String) -> String {
        guard let range = link.range(of: "/api/") else { return link }
        return String(link[range.lowerBound...])
    }

    /// The ids of a device list answer (flat array or page envelope).
    public static func ids(_ response: TestResponse) -> [Int64] {
        let items = response.json.arrayValue ?? response.json["results"]?.arrayValue ?? []
        return items.compactMap { $0["id"]?.int64Value }
    }

    /// Whether `secret` occurs in `text` as a whole token (not inside a longer run of letters and digits).
    public static func containsToken(_ text: String, _ secret: String) -> Bool {
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: secret, range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            let isWord = { (c: Character?) in c.map { $0.isLetter || $0.isNumber } ?? false }
            if !isWord(before) && !isWord(after) { return true }
            searchRange = found.upperBound..<text.endIndex
        }
        return false
    }
}

extension DeviceAPI {
    /// Sends a raw request head (no body) on a fresh connection and returns the status of the answer.
    public static func rawStatus(port: Int, _ head: String) throws -> Int {
        let fd = try HTTPTestClient.connect(port: port, timeout: 10)
        defer { close(fd) }
        let bytes = Array(head.utf8)
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw TestClientError2("send failed") }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while received.count < 65_536 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += chunk[0..<n]
            if String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let statusLine = String(decoding: received, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestClientError2("no status in \(statusLine)") }
        return status
    }
}

/// A failed precondition of a test helper (a setup request that did not answer as expected).
public struct TestClientError2: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension APIServer {
    /// Creates a user in the server's `default` org through `admin-cli` on the same database file
    /// (the two programs share the file while the server runs) and logs in over HTTP.
    public func user(role: String) throws -> (name: String, token: String) {
        let name = "\(role)-\(RandomID.make(length: 8))"
        let created = try runProgram("admin-cli", ["--db", databasePath, "user", "create", name, "--org", "default",
                                                   "--role", role, "--password", "secret-\(name)"])
        guard created.exitCode == 0 else { throw TestClientError2("user create failed: \(created.stderr)") }
        let login = try client(token: nil).request("POST", "/api/v2/auth/login/",
                                                   json: .object(["username": .string(name), "password": .string("secret-\(name)")]),
                                                   token: .some(nil))
        guard login.status == 200, let token = login.json["token"]?.stringValue else {
            throw TestClientError2("login failed: \(login.status) \(login.text)")
        }
        return (name, token)
    }

    /// A client signed in as a new user with `role` in the `default` org (`user(role:)`), for tests that need the
    /// user only through its client.
    public func client(asNewUser role: String) throws -> HTTPTestClient {
        client(token: try user(role: role).token)
    }
}
