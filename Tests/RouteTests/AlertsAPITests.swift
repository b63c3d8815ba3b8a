import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// Alerts over HTTP (seed 003, DESIGN §5.4), in process: the config singleton, SMS/e-mail/webhook receivers, levels,
/// alert items (list, filters, manual alerts, cancel, current, trigger-test, threshold alerts from telemetry), who may
/// do what on every route, and the OpenAPI document. Every name is random: the suites share the `Shared` server.
@Suite struct AlertsAPITests {}

// MARK: - Fixtures

/// Helpers of the Alerts route suites.
enum AlertFixture {
    static func base(_ project: String) -> String { "/api/v2/projects/\(project)/alert" }
    static func items(_ project: String) -> String { base(project) + "/items/" }
    static func levels(_ project: String) -> String { base(project) + "/levels/" }
    static func config(_ project: String) -> String { base(project) + "/config/" }

    /// The field names of a `VALIDATION_ERROR` answer.
    static func fieldNames(_ response: TestResponse) -> Set<String> { Set(response.json["fields"]?.objectValue?.keys ?? []) }

    /// A 400 `VALIDATION_ERROR` naming exactly `fields`.
    static func isValidation(_ response: TestResponse, naming fields: Set<String>) -> Bool {
        response.status == 400 && response.code == "VALIDATION_ERROR" && fieldNames(response) == fields
    }

    /// The ids of a list answer (a flat array or a page envelope), in order.
    static func ids(_ response: TestResponse) -> [Int64] { DeviceAPI.ids(response) }

    /// A fresh project with `count` bound devices (their pks in binding order).
    static func project(_ server: InProcessServer, devices count: Int) throws -> (project: String, devices: [(DeviceAPI.Device, Int64)]) {
        let client = server.client()
        if count == 0 { return (try DeviceAPI.project(client, name: "Alerts routes"), []) }
        return try DeviceAPI.boundProject(server, client, count: count)
    }

    /// The id of the project's first level of `theType` (the defaults are created on first read).
    static func levelID(_ client: HTTPTestClient, _ project: String, _ theType: String) throws -> Int64 {
        let levels = try client.get(levels(project)).json.arrayValue ?? []
        guard let id = levels.first(where: { $0["the_type"] == .string(theType) })?["id"]?.int64Value else {
            throw TestClientError2("no \(theType) level in \(levels)")
        }
        return id
    }

    /// Opens a manual alert; returns the item.
    static func manual(_ client: HTTPTestClient, _ project: String, device: Int64, level: Int64? = nil,
                       description: String = "Door of cold room 2 left open") throws -> JSON {
        var body = JSONObject()
        body["device"] = .int64(device)
        if let level { body["level"] = .int64(level) }
        body["description"] = .string(description)
        let created = try client.post(items(project), .object(body))
        guard created.status == 201 else { throw TestClientError2("manual alert: \(created.status) \(created.text)") }
        return created.json
    }

    static func id(_ item: JSON) throws -> Int64 {
        guard let id = item["id"]?.int64Value else { throw TestClientError2("no id in \(item)") }
        return id
    }

    /// A factor `<agri>-01` named 温度 in °C (1 decimal) that alarms outside 2..35; returns its agri_id.
    static func thresholdFactor(_ client: HTTPTestClient, _ project: String, _ device: DeviceAPI.Device, _ pk: Int64) throws -> String {
        let agriID = "\(device.agriID)-01"
        let created = try client.post("/api/v2/projects/\(project)/devices/\(pk)/factors/", .object([
            "agri_id": .string(agriID), "name": .string("温度"), "unit": .string("°C"), "register": .int(0), "decimals": .int(1),
            "threshold_min": .number(2), "threshold_max": .number(35), "alarm_enabled": .bool(true),
        ]))
        guard created.status == 201 else { throw TestClientError2("factor: \(created.status) \(created.text)") }
        return agriID
    }

    /// Posts one telemetry value of `agriID` for the device (as the manager `client`).
    static func post(_ client: HTTPTestClient, _ project: String, _ pk: Int64, _ agriID: String, _ value: Double) throws {
        let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(agriID, value, nil)]))
        guard posted.status == 202 else { throw TestClientError2("data: \(posted.status) \(posted.text)") }
    }

    /// `created_at` of an item as Unix seconds.
    static func createdSeconds(_ item: JSON) throws -> Int64 {
        guard let text = item["created_at"]?.stringValue, let seconds = Timestamp.parse(text) else {
            throw TestClientError2("no created_at in \(item)")
        }
        return Int64(seconds)
    }
}

/// A receiver channel as the API names it, with addresses that pass and fail its check.
enum Channel: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sms, email, webhook

    var testDescription: String { rawValue }

    func path(_ project: String) -> String { AlertFixture.base(project) + "/\(rawValue)-notifications/" }

    /// The address field: `phone_number`, `email`, `url`.
    var field: String {
        switch self {
        case .sms: "phone_number"
        case .email: "email"
        case .webhook: "url"
        }
    }

    /// Two valid addresses.
    var addresses: (String, String) {
        switch self {
        case .sms: ("+8613800000000", "+14155550100")
        case .email: ("alerts@example.com", "night-shift@ops.example.org")
        case .webhook: ("https://hooks.example.com/alerts", "http://93.184.216.34:8080/hook?team=ops")
        }
    }

    /// Values each refused with 400 naming `field`.
    var invalid: [JSON] {
        var values: [JSON] = [.string(""), .int(8_613_800_000_000), .null]
        switch self {
        case .sms:
            values += ["13800000000", "+0123456789", "+86 138 0000 0000", "+1", "+1234567890123456", "+86-13800000000", "phone"].map(JSON.string)
        case .email:
            values += ["ops", "ops@", "@example.com", "ops@example", "ops team@example.com", "a@b@example.com", "ops@-example.com",
                       "ops@example..com"].map(JSON.string)
        case .webhook:
            values += ["ftp://example.com/hook", "javascript:alert(1)", "example.com/hook", "https://user:pw@example.com/hook",
                       "https://token@example.com/", "http:///hook", "https://", "http://:8080/hook", "http://exa mple.com/",
                       "https://example.com:99999/",
                       // Internal targets (SSRF): refused in every notation, no DNS at creation.
                       "http://127.0.0.1:8080/hook", "http://localhost/x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x", "http://2130706433/",
                       "http://0x7f000001/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://metadata.google.internal/"]
                .map(JSON.string)
        }
        return values
    }

    func body(_ address: String, _ extra: [(String, JSON)] = []) -> JSON {
        var object = JSONObject()
        object[field] = .string(address)
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }
}

// MARK: - Config

extension AlertsAPITests {
    @Suite struct Config {
        static let defaults: [(String, JSON)] = [
            ("enabled", .bool(true)), ("cooldown_minutes", .int(10)), ("sms_enabled", .bool(true)), ("email_enabled", .bool(true)),
            ("webhook_enabled", .bool(true)), ("offline_alerts_enabled", .bool(false)), ("offline_after_minutes", .int(30)),
            ("locale", .string("zh-CN")),
        ]

        @Test func getCreatesTheConfigLazilyWithDefaultsAndTwoGetsAreEqual() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let first = try client.get(AlertFixture.config(project))
            #expect(first.status == 200)
            #expect(first.json["project"] == .string(project))
            for (key, value) in Self.defaults { #expect(first.json[key] == value, "\(key)") }
            #expect(first.json["created_at"]?.stringValue?.hasSuffix("Z") == true)
            #expect(first.json["updated_at"] == first.json["created_at"])
            #expect(first.json.objectValue?.count == Self.defaults.count + 3)
            let second = try client.get(AlertFixture.config(project))
            #expect(second.status == 200 && second.json == first.json)
            // A viewer's first read creates it too.
            let (other, _) = try AlertFixture.project(server, devices: 0)
            let viewer = server.client(token: try Shared.user(server, role: "viewer").token)
            let read = try viewer.get(AlertFixture.config(other))
            #expect(read.status == 200 && read.json["project"] == .string(other))
            #expect(try client.get(AlertFixture.config(other)).json == read.json)
        }

        @Test func concurrentFirstReadsCreateOneConfigAndOneSetOfDefaultLevels() throws {
            let server = try Shared.get()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let paths = (0..<16).map { $0 % 2 == 0 ? AlertFixture.config(project) : AlertFixture.levels(project) }
            let answers = Answers()
            DispatchQueue.concurrentPerform(iterations: paths.count) { index in
                let response = try? server.client().get(paths[index])
                answers.add(index, response)
            }
            let configs = answers.sorted.filter { $0.0 % 2 == 0 }.map(\.1)
            let levels = answers.sorted.filter { $0.0 % 2 == 1 }.map(\.1)
            #expect(configs.count == 8 && configs.allSatisfy { $0?.status == 200 && $0?.json == configs[0]?.json })
            #expect(levels.count == 8 && levels.allSatisfy { $0?.status == 200 && $0?.json == levels[0]?.json })
            #expect(AlertFixture.ids(try server.client().get(AlertFixture.levels(project))).count == 4)
        }

        /// Answers collected from concurrent requests.
        final class Answers: @unchecked Sendable {
            private let lock = NSLock()
            private var items: [(Int, TestResponse?)] = []
            func add(_ index: Int, _ response: TestResponse?) { lock.withLock { items.append((index, response)) } }
            var sorted: [(Int, TestResponse?)] { lock.withLock { items.sorted { $0.0 < $1.0 } } }
        }

        @Test func patchChangesOnlyTheFieldSent() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let changes: [(String, JSON)] = [
                ("enabled", .bool(false)), ("cooldown_minutes", .int(45)), ("sms_enabled", .bool(false)), ("email_enabled", .bool(false)),
                ("webhook_enabled", .bool(false)), ("offline_alerts_enabled", .bool(true)), ("offline_after_minutes", .int(90)),
                ("locale", .string("en")),
            ]
            // The first write may be a PATCH: the config is created with its defaults, then changed.
            var previous = try client.patch(AlertFixture.config(project), .object([:])).json
            for (key, value) in Self.defaults { #expect(previous[key] == value, "\(key)") }
            for (key, value) in changes {
                let patched = try client.patch(AlertFixture.config(project), .object([key: value]))
                #expect(patched.status == 200, "\(key): \(patched.text)")
                #expect(patched.json[key] == value, "\(key)")
                for (other, _) in changes where other != key { #expect(patched.json[other] == previous[other], "\(key) changed \(other)") }
                #expect(patched.json["created_at"] == previous["created_at"])
                #expect(try client.get(AlertFixture.config(project)).json == patched.json)
                previous = patched.json
            }
            // Several at once, and back.
            let both = try client.patch(AlertFixture.config(project), .object(["enabled": .bool(true), "locale": .string("zh-CN")]))
            #expect(both.json["enabled"] == .bool(true) && both.json["locale"] == .string("zh-CN") && both.json["cooldown_minutes"] == .int(45))
        }

        @Test func patchEnforcesRangesAndTypes() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = AlertFixture.config(project)
            for (key, value) in [("cooldown_minutes", JSON.int(0)), ("cooldown_minutes", .int(1440)), ("offline_after_minutes", .int(1)),
                                 ("offline_after_minutes", .int(10_080)), ("locale", .string("en")), ("locale", .string("zh-CN"))] {
                let accepted = try client.patch(path, .object([key: value]))
                #expect(accepted.status == 200 && accepted.json[key] == value, "\(key) = \(value)")
            }
            let before = try client.get(path).json
            let refused: [(String, JSON)] = [
                ("cooldown_minutes", .int(-1)), ("cooldown_minutes", .int(1441)), ("cooldown_minutes", .number(1.5)),
                ("cooldown_minutes", .string("10")),
                ("cooldown_minutes", .null), ("offline_after_minutes", .int(0)), ("offline_after_minutes", .int(10_081)),
                ("locale", .string("fr")), ("locale", .string("EN")), ("locale", .string("zh-cn")), ("locale", .string("")), ("locale", .int(1)),
                ("enabled", .string("true")), ("sms_enabled", .int(1)), ("offline_alerts_enabled", .null),
            ]
            for (key, value) in refused {
                let response = try client.patch(path, .object([key: value]))
                #expect(AlertFixture.isValidation(response, naming: [key]), "\(key) = \(value): \(response.status) \(response.text)")
            }
            // Every bad field is named at once, and nothing of that body applies.
            let several = try client.patch(path, .object(["cooldown_minutes": .int(5000), "offline_after_minutes": .int(0), "locale": .string("de"),
                                                          "enabled": .bool(false)]))
            #expect(AlertFixture.isValidation(several, naming: ["cooldown_minutes", "offline_after_minutes", "locale"]))
            #expect(try client.get(path).json == before)
        }

        @Test func patchRejectsUnknownFieldsAndIgnoresReadOnlyOnes() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = AlertFixture.config(project)
            let before = try client.get(path).json
            let unknown = try client.patch(path, .object(["cooldown": .int(5), "threshold_alerts": .bool(true), "enabled": .bool(false)]))
            #expect(AlertFixture.isValidation(unknown, naming: ["cooldown", "threshold_alerts"]))
            #expect(unknown.json["fields"]?["cooldown"] == .string("unknown field"))
            #expect(try client.get(path).json == before)
            // Read-only fields (what a client read, sent back, and DESIGN §4's project_id, organization_id, id) are ignored.
            var echoed = before.objectValue ?? JSONObject()
            echoed["project"] = .string("someone-else")
            echoed["created_at"] = .string("2000-01-01T00:00:00Z")
            echoed["project_id"] = .string("someone-else")
            echoed["organization_id"] = .int(999)
            echoed["id"] = .int(7)
            echoed["cooldown_minutes"] = .int(20)
            let patched = try client.patch(path, .object(echoed))
            #expect(patched.status == 200, "\(patched.text)")
            #expect(patched.json["project"] == .string(project) && patched.json["created_at"] == before["created_at"])
            #expect(patched.json["cooldown_minutes"] == .int(20))
            #expect(patched.json["project_id"] == nil && patched.json["id"] == nil)
            // Not an object, not JSON.
            #expect(AlertFixture.isValidation(try client.patch(path, .array([])), naming: ["body"]))
            #expect(try client.request("PATCH", path, rawBody: Array("{\"enabled\": ".utf8)).code == "MALFORMED_JSON")
            #expect(try client.request("PATCH", path, rawBody: Array("enabled=1".utf8), headers: [("Content-Type", "text/plain")]).status == 415)
            // Config has no other methods.
            #expect(try client.request("PUT", path, json: .object([:])).status == 405)
            #expect(try client.delete(path).status == 405)
        }
    }
}

// MARK: - Receivers

extension AlertsAPITests {
    @Suite struct Receivers {
        @Test(arguments: Channel.allCases) func createReadReplacePatchDelete(channel: Channel) throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = channel.path(project)
            let (first, second) = channel.addresses
            #expect(try client.get(path).json == .array([]))

            let created = try client.post(path, channel.body(first, [("name", .string("Operations Team"))]))
            #expect(created.status == 201, "\(created.text)")
            let id = try AlertFixture.id(created.json)
            #expect(created.header("Location") == "\(path)\(id)/")
            #expect(created.json[channel.field] == .string(first))
            #expect(created.json["name"] == .string("Operations Team") && created.json["enabled"] == .bool(true))
            #expect(created.json["created_at"]?.stringValue?.hasSuffix("Z") == true)
            #expect((created.json["has_secret"] != nil) == (channel == .webhook))
            #expect(try client.get(path).json == .array([created.json]))
            let one = try client.get("\(path)\(id)/")
            #expect(one.status == 200 && one.json == created.json)
            // Optional fields default: no name, enabled.
            let bare = try client.post(path, channel.body(second))
            #expect(bare.status == 201 && bare.json["name"] == .string("") && bare.json["enabled"] == .bool(true))
            #expect(AlertFixture.ids(try client.get(path)) == [id, try AlertFixture.id(bare.json)])

            // PUT needs the address; it changes what it is given.
            let put = try client.request("PUT", "\(path)\(id)/", json: channel.body(second, [("enabled", .bool(false))]))
            #expect(put.status == 200, "\(put.text)")
            #expect(put.json[channel.field] == .string(second) && put.json["enabled"] == .bool(false))
            #expect(put.json["name"] == .string("Operations Team") && put.json["id"] == .int64(id))
            let putWithout = try client.request("PUT", "\(path)\(id)/", json: .object(["name": .string("x")]))
            #expect(AlertFixture.isValidation(putWithout, naming: [channel.field]))
            #expect(putWithout.json["fields"]?[channel.field] == .string("is required"))
            // PATCH is partial, field by field.
            let renamed = try client.patch("\(path)\(id)/", .object(["name": .string("Night shift")]))
            #expect(renamed.status == 200 && renamed.json["name"] == .string("Night shift"))
            #expect(renamed.json[channel.field] == .string(second) && renamed.json["enabled"] == .bool(false))
            let enabled = try client.patch("\(path)\(id)/", .object(["enabled": .bool(true)]))
            #expect(enabled.json["enabled"] == .bool(true) && enabled.json["name"] == .string("Night shift"))
            let moved = try client.patch("\(path)\(id)/", channel.body(first))
            #expect(moved.json[channel.field] == .string(first) && moved.json["name"] == .string("Night shift"))
            // Read-only fields are ignored, unknown ones named.
            let echoed = try client.patch("\(path)\(id)/", .object(["id": .int(1), "created_at": .string("x"), "project_id": .string("x"),
                                                                    "organization_id": .int(1), "name": .string("Echo")]))
            #expect(echoed.status == 200 && echoed.json["id"] == .int64(id) && echoed.json["name"] == .string("Echo"), "\(echoed.text)")
            #expect(AlertFixture.isValidation(try client.patch("\(path)\(id)/", .object(["phone": .string("1"), "name": .string("y")])),
                                              naming: ["phone"]))
            #expect(try client.get("\(path)\(id)/").json == echoed.json)

            #expect(try client.delete("\(path)\(id)/").status == 204)
            let gone = try client.get("\(path)\(id)/")
            #expect(gone.status == 404 && gone.code == "RECEIVER_NOT_FOUND")
            #expect(try client.delete("\(path)\(id)/").status == 404)
            #expect(try client.patch("\(path)\(id)/", .object(["name": .string("z")])).code == "RECEIVER_NOT_FOUND")
            #expect(try client.request("PUT", "\(path)\(id)/", json: channel.body(first)).code == "RECEIVER_NOT_FOUND")
            #expect(try client.get("\(path)abc/").code == "RECEIVER_NOT_FOUND")
            #expect(try client.get("\(path)0/").code == "RECEIVER_NOT_FOUND")
            #expect(AlertFixture.ids(try client.get(path)) == [try AlertFixture.id(bare.json)])
        }

        @Test(arguments: Channel.allCases) func invalidAddressesAreNamed(channel: Channel) throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = channel.path(project)
            let created = try client.post(path, channel.body(channel.addresses.0))
            let id = try AlertFixture.id(created.json)
            for value in channel.invalid {
                let body: JSON = .object([channel.field: value, "name": .string("bad")])
                let posted = try client.post(path, body)
                #expect(AlertFixture.isValidation(posted, naming: [channel.field]), "POST \(value): \(posted.status) \(posted.text)")
                for method in ["PUT", "PATCH"] {
                    let changed = try client.request(method, "\(path)\(id)/", json: body)
                    #expect(AlertFixture.isValidation(changed, naming: [channel.field]), "\(method) \(value): \(changed.text)")
                }
            }
            // The address is required on POST; other fields are checked too.
            #expect(AlertFixture.isValidation(try client.post(path, .object(["name": .string("x")])), naming: [channel.field]))
            let wrong = try client.post(path, channel.body(channel.addresses.1, [("name", .int(1)), ("enabled", .string("yes")),
                                                                                  ("colour", .string("red"))]))
            #expect(AlertFixture.isValidation(wrong, naming: ["name", "enabled", "colour"]))
            // Another channel's address field is unknown here; `secret` is a webhook field only.
            let other = Channel.allCases.first { $0 != channel }!
            #expect(AlertFixture.isValidation(try client.post(path, channel.body(channel.addresses.1, [(other.field, .string("x"))])),
                                              naming: [other.field]))
            if channel != .webhook {
                #expect(AlertFixture.isValidation(try client.post(path, channel.body(channel.addresses.1, [("secret", .string("s"))])),
                                                  naming: ["secret"]))
            }
            // Nothing was created or changed by the refusals.
            #expect(try client.get(path).json == .array([created.json]))
        }

        @Test func webhookSecretIsWriteOnly() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = Channel.webhook.path(project)
            let secret = "whsec-\(RandomID.make(length: 24))"
            let renewed = "whsec-\(RandomID.make(length: 24))"
            var answers: [TestResponse] = []
            let created = try client.post(path, Channel.webhook.body("https://hooks.example.com/a", [("secret", .string(secret))]))
            #expect(created.status == 201 && created.json["has_secret"] == .bool(true))
            let id = try AlertFixture.id(created.json)
            let plain = try client.post(path, Channel.webhook.body("https://hooks.example.com/b"))
            #expect(plain.status == 201 && plain.json["has_secret"] == .bool(false))
            let plainID = try AlertFixture.id(plain.json)
            answers += [created, plain, try client.get(path), try client.get("\(path)\(id)/")]
            // PATCH without `secret` keeps it; PUT with a new one replaces it; "" removes it.
            let renamed = try client.patch("\(path)\(id)/", .object(["name": .string("Signed")]))
            #expect(renamed.json["has_secret"] == .bool(true))
            answers.append(renamed)
            let put = try client.request("PUT", "\(path)\(id)/",
                                         json: Channel.webhook.body("https://hooks.example.com/c", [("secret", .string(renewed))]))
            #expect(put.status == 200 && put.json["has_secret"] == .bool(true))
            answers.append(put)
            let removed = try client.patch("\(path)\(id)/", .object(["secret": .string("")]))
            #expect(removed.status == 200 && removed.json["has_secret"] == .bool(false))
            answers.append(removed)
            let added = try client.patch("\(path)\(plainID)/", .object(["secret": .string(secret)]))
            #expect(added.json["has_secret"] == .bool(true))
            answers += [added, try client.get(path)]
            // A bad secret is named without being echoed.
            let long = String(repeating: "s", count: 257)
            let tooLong = try client.patch("\(path)\(plainID)/", .object(["secret": .string(long)]))
            #expect(AlertFixture.isValidation(tooLong, naming: ["secret"]))
            answers.append(tooLong)
            for answer in answers {
                #expect(!answer.text.contains(secret) && !answer.text.contains(renewed) && !answer.text.contains(long), "\(answer.text)")
                let objects = answer.json.arrayValue ?? [answer.json]
                #expect(objects.allSatisfy { $0["secret"] == nil }, "\(answer.text)")
            }
            #expect(answers.filter { $0.status < 300 }.count == 9)
        }

        @Test func aReceiverOfAnotherChannelOrProjectIsNotFound() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let (other, _) = try AlertFixture.project(server, devices: 0)
            var receivers: [(Channel, Int64, JSON)] = []
            for channel in Channel.allCases {
                let created = try client.post(channel.path(project), channel.body(channel.addresses.0))
                receivers.append((channel, try AlertFixture.id(created.json), created.json))
            }
            for (channel, id, _) in receivers {
                // Each with a body that is valid where it is sent: the id is what is wrong.
                var elsewhere = Channel.allCases.filter { $0 != channel }.map { ($0.path(project), $0.body($0.addresses.1)) }
                elsewhere.append((channel.path(other), channel.body(channel.addresses.1)))
                for (path, valid) in elsewhere {
                    let target = "\(path)\(id)/"
                    for response in [try client.get(target), try client.request("PUT", target, json: valid),
                                     try client.patch(target, .object(["name": .string("hijack")])), try client.delete(target)] {
                        #expect(response.status == 404 && response.code == "RECEIVER_NOT_FOUND", "\(target): \(response.status)")
                    }
                }
            }
            // All three are untouched, and the other project has none.
            for (channel, id, json) in receivers {
                #expect(try client.get("\(channel.path(project))\(id)/").json == json)
                #expect(try client.get(channel.path(other)).json == .array([]))
            }
        }
    }
}

// MARK: - Levels

extension AlertsAPITests {
    @Suite struct Levels {
        @Test func aNewProjectHasOneDefaultLevelPerType() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let listed = try client.get(AlertFixture.levels(project))
            #expect(listed.status == 200)
            let levels = listed.json.arrayValue ?? []
            #expect(levels.compactMap { $0["the_type"]?.stringValue } == ["threshold", "offline", "test", "manual"])
            #expect(levels.allSatisfy { ["info", "warning", "critical"].contains($0["severity"]?.stringValue ?? "") })
            #expect(levels.allSatisfy { $0["name"]?.stringValue?.isEmpty == false })
            // Listing again creates no more, and another project has its own four.
            #expect(try client.get(AlertFixture.levels(project)).json == listed.json)
            let (other, _) = try AlertFixture.project(server, devices: 0)
            let theirs = AlertFixture.ids(try client.get(AlertFixture.levels(other)))
            #expect(theirs.count == 4 && Set(theirs).isDisjoint(with: AlertFixture.ids(listed)))
        }

        @Test func createReadUpdateDelete() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = AlertFixture.levels(project)
            let created = try client.post(path, .object(["name": .string("Freezer critical"), "the_type": .string("threshold"),
                                                         "severity": .string("critical")]))
            #expect(created.status == 201, "\(created.text)")
            let id = try AlertFixture.id(created.json)
            #expect(created.header("Location") == "\(path)\(id)/")
            #expect(created.json["name"] == .string("Freezer critical") && created.json["the_type"] == .string("threshold"))
            #expect(created.json["severity"] == .string("critical"))
            let listed = AlertFixture.ids(try client.get(path))
            #expect(listed.count == 5 && listed.last == id)
            let one = try client.get("\(path)\(id)/")
            #expect(one.status == 200 && one.json == created.json)
            // Only a name is required: threshold / warning by default.
            let minimal = try client.post(path, .object(["name": .string("Minimal")]))
            #expect(minimal.status == 201 && minimal.json["the_type"] == .string("threshold") && minimal.json["severity"] == .string("warning"))
            // PATCH and PUT are partial.
            let patched = try client.patch("\(path)\(id)/", .object(["severity": .string("info")]))
            #expect(patched.status == 200 && patched.json["severity"] == .string("info") && patched.json["name"] == .string("Freezer critical"))
            let put = try client.request("PUT", "\(path)\(id)/", json: .object(["name": .string("Freezer"), "the_type": .string("offline"),
                                                                              "id": .int(1), "project_id": .string("x")]))
            #expect(put.status == 200 && put.json["name"] == .string("Freezer") && put.json["the_type"] == .string("offline"), "\(put.text)")
            #expect(put.json["severity"] == .string("info") && put.json["id"] == .int64(id))
            #expect(try client.get("\(path)\(id)/").json == put.json)
            #expect(try client.delete("\(path)\(id)/").status == 204)
            let gone = try client.get("\(path)\(id)/")
            #expect(gone.status == 404 && gone.code == "LEVEL_NOT_FOUND")
            #expect(try client.delete("\(path)\(id)/").code == "LEVEL_NOT_FOUND")
            #expect(try client.patch("\(path)\(id)/", .object(["name": .string("x")])).code == "LEVEL_NOT_FOUND")
            #expect(try client.get("\(path)abc/").code == "LEVEL_NOT_FOUND")
            // Another project's level is not found here.
            let (other, _) = try AlertFixture.project(server, devices: 0)
            let foreignLevel = try AlertFixture.levelID(client, other, "manual")
            #expect(try client.get("\(path)\(foreignLevel)/").code == "LEVEL_NOT_FOUND")
            #expect(try client.patch("\(path)\(foreignLevel)/", .object(["name": .string("x")])).code == "LEVEL_NOT_FOUND")
            #expect(try client.delete("\(path)\(foreignLevel)/").code == "LEVEL_NOT_FOUND")
            #expect(AlertFixture.ids(try client.get(AlertFixture.levels(other))).contains(foreignLevel))
        }

        @Test func invalidTypeSeverityOrNameAreNamed() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let path = AlertFixture.levels(project)
            let before = try client.get(path).json
            let id = try AlertFixture.levelID(client, project, "manual")
            let cases: [(JSON, Set<String>)] = [
                (.object(["name": .string("x"), "the_type": .string("alarm")]), ["the_type"]),
                (.object(["name": .string("x"), "the_type": .string("Threshold")]), ["the_type"]),
                (.object(["name": .string("x"), "severity": .string("fatal")]), ["severity"]),
                (.object(["name": .string("x"), "severity": .int(2)]), ["severity"]),
                (.object(["the_type": .string("manual")]), ["name"]),
                (.object(["name": .string("")]), ["name"]),
                (.object(["name": .string("x"), "colour": .string("red")]), ["colour"]),
                (.object(["name": .int(1), "the_type": .string("x"), "severity": .string("y")]), ["name", "the_type", "severity"]),
            ]
            for (body, fields) in cases {
                let response = try client.post(path, body)
                #expect(AlertFixture.isValidation(response, naming: fields), "POST \(body): \(response.text)")
            }
            for (body, fields): (JSON, Set<String>) in [(.object(["the_type": .string("alarm")]), ["the_type"]),
                                                        (.object(["severity": .string("fatal")]), ["severity"]),
                                                        (.object(["name": .null]), ["name"])] {
                for method in ["PUT", "PATCH"] {
                    let response = try client.request(method, "\(path)\(id)/", json: body)
                    #expect(AlertFixture.isValidation(response, naming: fields), "\(method) \(body): \(response.text)")
                }
            }
            #expect(try client.get(path).json == before)
        }

        @Test func aLevelUsedByAnAlertCannotBeDeleted() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 1)
            let path = AlertFixture.levels(project)
            let level = try AlertFixture.id(try client.post(path, .object(["name": .string("Used"), "the_type": .string("manual")])).json)
            let item = try AlertFixture.manual(client, project, device: devices[0].1, level: level)
            #expect(item["level"]?["id"] == .int64(level))
            let refused = try client.delete("\(path)\(level)/")
            #expect(refused.status == 409 && refused.code == "LEVEL_IN_USE")
            #expect(try client.get("\(path)\(level)/").status == 200)
            // Still in use once the alert is cancelled; free once it is deleted.
            let itemID = try AlertFixture.id(item)
            #expect(try client.post("\(AlertFixture.items(project))\(itemID)/cancel/", .object([:])).status == 200)
            #expect(try client.delete("\(path)\(level)/").code == "LEVEL_IN_USE")
            #expect(try client.delete("\(AlertFixture.items(project))\(itemID)/").status == 204)
            #expect(try client.delete("\(path)\(level)/").status == 204)
            #expect(try client.get("\(path)\(level)/").code == "LEVEL_NOT_FOUND")
        }
    }
}

// MARK: - Items

extension AlertsAPITests {
    @Suite struct Items {
        @Test func manualAlertLifecycleFromOpenToDeleted() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 1)
            let (device, pk) = devices[0]
            let path = AlertFixture.items(project)
            let level = try AlertFixture.levelID(client, project, "offline")
            let created = try client.post(path, .object(["device": .int64(pk), "level": .int64(level), "description": .string("冷库门未关")]))
            #expect(created.status == 201, "\(created.text)")
            let item = created.json
            let id = try AlertFixture.id(item)
            #expect(created.header("Location") == "\(path)\(id)/")
            #expect(item["the_type"] == .string("manual") && item["status"] == .string("active"))
            #expect(item["project"] == .string(project) && item["description"] == .string("冷库门未关"))
            #expect(item["device"]?["id"] == .int64(pk) && item["device"]?["device_id"] == .string(device.deviceID))
            #expect(item["device"]?["device_name"]?.stringValue?.isEmpty == false)
            #expect(item["level"]?["id"] == .int64(level) && item["level"]?["name"] == .string("Offline"))
            #expect(item["level"]?["severity"] == .string("critical"))
            #expect(item["trigger_data"]?["manual"] == .bool(true) && item["trigger_data"]?["test"] == nil)
            #expect(item["created_at"]?.stringValue?.hasSuffix("Z") == true)
            #expect(item["resolved_at"] == .null && item["cancelled_at"] == .null && item["notifications"] == .array([]))
            let detail = try client.get("\(path)\(id)/")
            #expect(detail.status == 200 && detail.json == item)
            // Without a level: the project's manual level.
            let defaulted = try AlertFixture.manual(client, project, device: pk)
            #expect(defaulted["level"]?["id"] == .int64(try AlertFixture.levelID(client, project, "manual")))

            // PATCH changes the description only.
            let patched = try client.patch("\(path)\(id)/", .object(["description": .string("Door closed again?")]))
            #expect(patched.status == 200 && patched.json["description"] == .string("Door closed again?"))
            #expect(patched.json["status"] == .string("active") && patched.json["level"] == item["level"])
            for body: JSON in [.object(["status": .string("cancelled")]), .object(["description": .string("x"), "level": .int64(level)]),
                               .object(["the_type": .string("test"), "description": .string("x")]), .object(["device": .int64(pk)]),
                               .object(["trigger_data": .object([:]), "description": .string("x")])] {
                let refused = try client.patch("\(path)\(id)/", body)
                // The other fields are named, and `description` too when it is missing.
                let keys = Set(body.objectValue?.keys ?? [])
                let named = keys.contains("description") ? keys.subtracting(["description"]) : keys.union(["description"])
                #expect(AlertFixture.isValidation(refused, naming: named), "\(body): \(refused.text)")
            }
            #expect(AlertFixture.isValidation(try client.patch("\(path)\(id)/", .object([:])), naming: ["description"]))
            // DESIGN §4's read-only fields are ignored.
            let echoed = try client.patch("\(path)\(id)/", .object(["description": .string("Door closed again?"), "id": .int(1),
                                                                    "project_id": .string("x"), "organization_id": .int(1)]))
            #expect(echoed.status == 200 && echoed.json == patched.json, "\(echoed.text)")
            #expect(AlertFixture.isValidation(try client.patch("\(path)\(id)/", .object(["description": .string("")])), naming: ["description"]))
            #expect(try client.get("\(path)\(id)/").json == patched.json)

            // An active alert cannot be deleted; cancel it first (once).
            let early = try client.delete("\(path)\(id)/")
            #expect(early.status == 400 && early.code == "INVALID_ALERT_STATE")
            let cancelled = try client.post("\(path)\(id)/cancel/", .object([:]))
            #expect(cancelled.status == 200 && cancelled.json["status"] == .string("cancelled") && cancelled.json["id"] == .int64(id))
            #expect(cancelled.json["cancelled_at"]?.stringValue?.hasSuffix("Z") == true && cancelled.json["resolved_at"] == .null)
            #expect(cancelled.json["description"] == .string("Door closed again?"))
            #expect(try client.get("\(path)\(id)/").json == cancelled.json)
            let again = try client.post("\(path)\(id)/cancel/", .object([:]))
            #expect(again.status == 400 && again.code == "INVALID_ALERT_STATE")
            // A cancelled alert's description may still be corrected.
            #expect(try client.patch("\(path)\(id)/", .object(["description": .string("closed")])).json["status"] == .string("cancelled"))
            #expect(try client.delete("\(path)\(id)/").status == 204)
            let target = "\(path)\(id)/"
            for response in [try client.get(target), try client.delete(target), try client.post(target + "cancel/", .object([:])),
                             try client.patch(target, .object(["description": .string("x")]))] {
                #expect(response.status == 404 && response.code == "ALERT_NOT_FOUND")
            }
            #expect(try client.get("\(path)abc/").code == "ALERT_NOT_FOUND")
            #expect(AlertFixture.ids(try client.get(path)) == [try AlertFixture.id(defaulted)])
        }

        @Test func manualAlertInputIsChecked() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 1)
            let (other, otherDevices) = try AlertFixture.project(server, devices: 1)
            let pk = devices[0].1
            let path = AlertFixture.items(project)
            let ownLevel = try AlertFixture.levelID(client, project, "manual")
            let foreignLevel = try AlertFixture.levelID(client, other, "manual")
            let cases: [(JSON, Set<String>)] = [
                (.object(["device": .int64(otherDevices[0].1), "description": .string("x")]), ["device"]),
                (.object(["device": .int(999_999_999), "description": .string("x")]), ["device"]),
                (.object(["device": .int64(pk), "level": .int64(foreignLevel), "description": .string("x")]), ["level"]),
                (.object(["device": .int64(pk), "level": .int(999_999_999), "description": .string("x")]), ["level"]),
                (.object(["device": .int64(pk)]), ["description"]),
                (.object(["device": .int64(pk), "description": .string("")]), ["description"]),
                (.object(["device": .int64(pk), "description": .string(String(repeating: "x", count: 501))]), ["description"]),
                (.object(["description": .string("x")]), ["device"]),
                (.object(["device": .string("\(pk)"), "description": .string("x")]), ["device"]),
                (.object(["device": .int(0), "level": .int(-1), "description": .string("x")]), ["device", "level"]),
                (.object(["device": .int64(pk), "description": .string("x"), "status": .string("resolved")]), ["status"]),
            ]
            for (body, fields) in cases {
                let response = try client.post(path, body)
                #expect(AlertFixture.isValidation(response, naming: fields), "\(body): \(response.status) \(response.text)")
            }
            #expect(try client.get(path).json["count"] == .int(0))
            #expect(try client.get(AlertFixture.items(other)).json["count"] == .int(0))
            // A level of another type of this project is fine.
            let thresholdLevel = try AlertFixture.levelID(client, project, "threshold")
            #expect(try AlertFixture.manual(client, project, device: pk, level: thresholdLevel)["level"]?["id"] == .int64(thresholdLevel))
            #expect(ownLevel != thresholdLevel)
            // Another project's alert is not found here.
            let theirs = try AlertFixture.id(try AlertFixture.manual(client, other, device: otherDevices[0].1))
            for response in [try client.get("\(path)\(theirs)/"), try client.post("\(path)\(theirs)/cancel/", .object([:])),
                             try client.patch("\(path)\(theirs)/", .object(["description": .string("x")])), try client.delete("\(path)\(theirs)/")] {
                #expect(response.status == 404 && response.code == "ALERT_NOT_FOUND")
            }
            #expect(try client.get("\(AlertFixture.items(other))\(theirs)/").json["status"] == .string("active"))
        }

        @Test func listIsPaginatedNewestFirst() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 1)
            let path = AlertFixture.items(project)
            var opened: [Int64] = []
            for index in 1...5 {
                opened.append(try AlertFixture.id(try AlertFixture.manual(client, project, device: devices[0].1, description: "#\(index)")))
            }
            let newestFirst = Array(opened.reversed())
            let all = try client.get(path)
            #expect(all.status == 200 && all.json["count"] == .int(5) && all.json["next"] == .null && all.json["previous"] == .null)
            #expect(AlertFixture.ids(all) == newestFirst)
            #expect(all.json["results"]?.arrayValue?.first?["description"] == .string("#5"))

            let first = try client.get(path + "?page_size=2")
            #expect(first.json["count"] == .int(5) && AlertFixture.ids(first) == Array(newestFirst[0..<2]) && first.json["previous"] == .null)
            let nextLink = try #require(first.json["next"]?.stringValue)
            #expect(nextLink.contains("page=2") && nextLink.contains("page_size=2"))
            let second = try client.get(DeviceAPI.path(ofLink: nextLink))
            #expect(AlertFixture.ids(second) == Array(newestFirst[2..<4]))
            let previousLink = try #require(second.json["previous"]?.stringValue)
            #expect(AlertFixture.ids(try client.get(DeviceAPI.path(ofLink: previousLink))) == AlertFixture.ids(first))
            let third = try client.get(DeviceAPI.path(ofLink: try #require(second.json["next"]?.stringValue)))
            #expect(AlertFixture.ids(third) == [newestFirst[4]] && third.json["next"] == .null && third.json["previous"] != .null)
            // Links keep the filters.
            let filtered = try client.get(path + "?the_type=manual&status=active&page_size=4")
            #expect(filtered.json["count"] == .int(5) && AlertFixture.ids(filtered) == Array(newestFirst[0..<4]))
            let filteredNext = try #require(filtered.json["next"]?.stringValue)
            #expect(filteredNext.contains("the_type=manual") && filteredNext.contains("status=active"))
            #expect(AlertFixture.ids(try client.get(DeviceAPI.path(ofLink: filteredNext))) == [newestFirst[4]])
            // Past the end: an empty page; above 100: clamped; bad values: 400 naming them.
            let past = try client.get(path + "?page=9&page_size=2")
            #expect(past.status == 200 && past.json["count"] == .int(5) && past.json["results"] == .array([]))
            #expect(AlertFixture.ids(try client.get(path + "?page_size=1000")) == newestFirst)
            for (query, field) in [("page=0", "page"), ("page=x", "page"), ("page_size=0", "page_size"), ("page_size=-5", "page_size")] {
                #expect(AlertFixture.isValidation(try client.get(path + "?" + query), naming: [field]), "\(query)")
            }
        }

        @Test func listFiltersByStatusTypeDeviceAndTime() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 2)
            let (one, two) = (devices[0].1, devices[1].1)
            let path = AlertFixture.items(project)
            let manualOne = try AlertFixture.id(try AlertFixture.manual(client, project, device: one))
            let manualTwo = try AlertFixture.id(try AlertFixture.manual(client, project, device: two))
            #expect(try client.post("\(path)\(manualTwo)/cancel/", .object([:])).status == 200)
            let test = try AlertFixture.id(try client.post(path + "trigger-test/", .object([:])).json)
            // A threshold alert on device two, resolved by a value back inside.
            let agriID = try AlertFixture.thresholdFactor(client, project, devices[1].0, two)
            try AlertFixture.post(client, project, two, agriID, 40)
            try AlertFixture.post(client, project, two, agriID, 20)
            let threshold = try #require(AlertFixture.ids(try client.get(path + "?the_type=threshold")).first)

            func listed(_ query: String) throws -> Set<Int64> {
                let response = try client.get(path + "?" + query)
                #expect(response.status == 200, "\(query): \(response.text)")
                #expect(response.json["count"]?.int64Value == Int64(AlertFixture.ids(response).count), "\(query)")
                return Set(AlertFixture.ids(response))
            }
            #expect(try listed("") == [manualOne, manualTwo, test, threshold])
            #expect(try listed("status=active") == [manualOne, test])
            #expect(try listed("status=cancelled") == [manualTwo])
            #expect(try listed("status=resolved") == [threshold])
            #expect(try listed("the_type=manual") == [manualOne, manualTwo])
            #expect(try listed("the_type=test") == [test])
            #expect(try listed("the_type=offline") == [])
            #expect(try listed("device=\(two)") == [manualTwo, threshold])
            #expect(try listed("device=\(two)&status=cancelled&the_type=manual") == [manualTwo])
            #expect(try listed("device=999999999") == [])
            #expect(try listed("status=&the_type=&device=") == [manualOne, manualTwo, test, threshold])   // empty = no filter

            // Time: start inclusive, end exclusive, Unix seconds or RFC 3339, on created_at.
            let items = try client.get(path).json["results"]?.arrayValue ?? []
            let created = Dictionary(uniqueKeysWithValues: try items.map { (try AlertFixture.id($0), try AlertFixture.createdSeconds($0)) })
            let earliest = try #require(created.values.min())
            let latest = try #require(created.values.max())
            let everything = Set(created.keys)
            #expect(try listed("start=\(earliest)") == everything)
            #expect(try listed("start=\(Timestamp.format(unixSeconds: earliest))") == everything)
            let east = Timestamp.format(unixSeconds: earliest + 8 * 3600).replacingOccurrences(of: "Z", with: "%2B08:00")
            #expect(try listed("start=\(east)") == everything)
            #expect(try listed("end=\(east)") == [])
            #expect(try listed("start=\(latest + 1)") == [])
            #expect(try listed("end=\(earliest)") == [])
            #expect(try listed("end=\(Timestamp.format(unixSeconds: latest + 1))") == everything)
            #expect(try listed("start=\(earliest)&end=\(latest + 1)&status=active") == [manualOne, test])
            // Fractions of a second: an alert at second s is before s + 0.5 and not at or after it.
            let atEarliest = Set(created.filter { $0.value == earliest }.keys)
            #expect(try listed("end=\(earliest).5") == atEarliest)
            #expect(try listed("start=\(earliest).5") == everything.subtracting(atEarliest))

            // Invalid filters: 400 naming each.
            for (query, fields): (String, Set<String>) in [
                ("status=open", ["status"]), ("status=ACTIVE", ["status"]), ("the_type=alarm", ["the_type"]), ("device=abc", ["device"]),
                ("device=0", ["device"]), ("device=-3", ["device"]), ("start=yesterday", ["start"]), ("end=2024-13-45T00:00:00Z", ["end"]),
                ("start=1e9", ["start"]), ("status=x&the_type=y&device=z&start=a&end=b", ["status", "the_type", "device", "start", "end"]),
            ] {
                let response = try client.get(path + "?" + query)
                #expect(AlertFixture.isValidation(response, naming: fields), "\(query): \(response.status) \(response.text)")
            }
        }

        @Test func currentIsAnUnpaginatedArrayOfActiveAlertsOnly() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 2)
            let path = AlertFixture.items(project)
            #expect(try client.get(path + "current/").json == .array([]))
            var ids: [Int64] = []
            for index in 0..<23 { ids.append(try AlertFixture.id(try AlertFixture.manual(client, project, device: devices[index % 2].1))) }
            let cancelled = ids[3]
            #expect(try client.post("\(path)\(cancelled)/cancel/", .object([:])).status == 200)
            let current = try client.get(path + "current/")
            #expect(current.status == 200)
            let active = ids.filter { $0 != cancelled }.reversed().map { $0 }
            // More than one default page, newest first, no envelope; pagination parameters do not apply.
            #expect(current.json.arrayValue != nil && AlertFixture.ids(current) == active)
            #expect((current.json.arrayValue ?? []).allSatisfy { $0["status"] == .string("active") })
            #expect(AlertFixture.ids(try client.get(path + "current/?page_size=2")) == active)
            // The same shape as the detail.
            let newest = try #require(current.json.arrayValue?.first)
            #expect(try client.get("\(path)\(active[0])/").json == newest)
            // Another project's current alerts stay there.
            let (other, _) = try AlertFixture.project(server, devices: 0)
            #expect(try client.get(AlertFixture.items(other) + "current/").json == .array([]))
        }

        @Test func anOutOfBandValueOpensAThresholdAlertNotifyingEveryEnabledReceiver() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 1)
            let (device, pk) = devices[0]
            let hook = "https://hooks.example.com/\(RandomID.make(length: 8))"
            #expect(try client.post(Channel.sms.path(project), Channel.sms.body("+8613800000000")).status == 201)
            #expect(try client.post(Channel.email.path(project), Channel.email.body("ops@example.com")).status == 201)
            #expect(try client.post(Channel.email.path(project), Channel.email.body("off@example.com", [("enabled", .bool(false))])).status == 201)
            #expect(try client.post(Channel.webhook.path(project), Channel.webhook.body(hook, [("secret", .string("s3cret"))])).status == 201)
            let agriID = try AlertFixture.thresholdFactor(client, project, device, pk)
            let path = AlertFixture.items(project)

            try AlertFixture.post(client, project, pk, agriID, 36.2)
            let current = try client.get(path + "current/").json.arrayValue ?? []
            #expect(current.count == 1)
            let item = try #require(current.first)
            let id = try AlertFixture.id(item)
            #expect(item["the_type"] == .string("threshold") && item["status"] == .string("active"))
            #expect(item["description"] == .string("温度 36.2 °C 高于上限 35.0 °C"))
            #expect(item["device"]?["id"] == .int64(pk) && item["device"]?["device_id"] == .string(device.deviceID))
            #expect(item["level"]?["id"] == .int64(try AlertFixture.levelID(client, project, "threshold")))
            let trigger = item["trigger_data"]
            #expect(trigger?["agri_id"] == .string(agriID) && trigger?["factor"] == .string("温度") && trigger?["value"] == .number(36.2))
            #expect(trigger?["threshold"] == .number(35) && trigger?["direction"] == .string("above") && trigger?["t"]?.int64Value != nil)
            let notifications = item["notifications"]?.arrayValue ?? []
            let rows = Set(notifications.map { "\($0["channel"]?.stringValue ?? "")|\($0["target"]?.stringValue ?? "")" })
            #expect(notifications.count == 3 && rows == ["sms|+8613800000000", "email|ops@example.com", "webhook|\(hook)"], "\(notifications)")
            #expect(notifications.allSatisfy { $0["status"] == .string("pending") && $0["attempts"] == .int(0) && $0["last_error"] == .null })
            #expect(!JSONWriter.string(item).contains("s3cret"))
            #expect(try client.get("\(path)\(id)/").json == item)
            #expect(AlertFixture.ids(try client.get(path + "?the_type=threshold")) == [id])

            // Still out of band: no second alert. Back inside: resolved.
            try AlertFixture.post(client, project, pk, agriID, 37)
            #expect(AlertFixture.ids(try client.get(path + "current/")) == [id])
            try AlertFixture.post(client, project, pk, agriID, 35)   // equal to the threshold is inside
            #expect(try client.get(path + "current/").json == .array([]))
            let resolved = try client.get("\(path)\(id)/").json
            #expect(resolved["status"] == .string("resolved") && resolved["resolved_at"]?.stringValue?.hasSuffix("Z") == true)
            let cancel = try client.post("\(path)\(id)/cancel/", .object([:]))
            #expect(cancel.status == 400 && cancel.code == "INVALID_ALERT_STATE")

            // The config's locale and channel switches apply to the next alert.
            let config = try client.patch(AlertFixture.config(project), .object(["locale": .string("en"), "email_enabled": .bool(false)]))
            #expect(config.status == 200)
            try AlertFixture.post(client, project, pk, agriID, 1.5)
            let below = try #require(try client.get(path + "current/").json.arrayValue?.first)
            #expect(below["description"] == .string("温度 1.5 °C below the lower limit 2.0 °C"))
            #expect(below["trigger_data"]?["direction"] == .string("below") && below["trigger_data"]?["threshold"] == .number(2))
            #expect(Set((below["notifications"]?.arrayValue ?? []).compactMap { $0["channel"]?.stringValue }) == ["sms", "webhook"])
        }
    }
}

// MARK: - Trigger test

extension AlertsAPITests {
    @Suite struct TriggerTest {
        @Test func aProjectWithoutDevicesAnswersDeviceNotFound() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 0)
            let response = try client.post(AlertFixture.items(project) + "trigger-test/", .object([:]))
            #expect(response.status == 404 && response.code == "DEVICE_NOT_FOUND")
            #expect(try client.get(AlertFixture.items(project)).json["count"] == .int(0))
        }

        @Test func aProjectWithoutLevelsAnswersNotFound() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, _) = try AlertFixture.project(server, devices: 1)
            for id in AlertFixture.ids(try client.get(AlertFixture.levels(project))) {
                #expect(try client.delete("\(AlertFixture.levels(project))\(id)/").status == 204)
            }
            #expect(try client.get(AlertFixture.levels(project)).json == .array([]))
            let response = try client.post(AlertFixture.items(project) + "trigger-test/", .object([:]))
            #expect(response.status == 404 && response.code == "NOT_FOUND")
            #expect(try client.get(AlertFixture.items(project)).json["count"] == .int(0))
            // Any level will do once there is one again.
            #expect(try client.post(AlertFixture.levels(project), .object(["name": .string("Only"), "the_type": .string("offline")])).status == 201)
            let created = try client.post(AlertFixture.items(project) + "trigger-test/", .object([:]))
            #expect(created.status == 201 && created.json["level"]?["name"] == .string("Only"))
        }

        @Test func aSecondTriggerTestReplacesTheFirst() throws {
            let server = try Shared.get()
            let client = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 2)
            let path = AlertFixture.items(project)
            #expect(try client.post(Channel.email.path(project), Channel.email.body("ops@example.com")).status == 201)
            #expect(try client.post(Channel.sms.path(project), Channel.sms.body("+8613800000000", [("enabled", .bool(false))])).status == 201)
            let manual = try AlertFixture.id(try AlertFixture.manual(client, project, device: devices[1].1))

            let first = try client.post(path + "trigger-test/", .object([:]))
            #expect(first.status == 201, "\(first.text)")
            let firstID = try AlertFixture.id(first.json)
            #expect(first.header("Location") == "\(path)\(firstID)/")
            #expect(first.json["trigger_data"]?["test"] == .bool(true) && first.json["the_type"] == .string("test"))
            #expect(first.json["status"] == .string("active"))
            // The first device, the threshold level, notified like a real alert (enabled receivers only).
            #expect(first.json["device"]?["id"] == .int64(min(devices[0].1, devices[1].1)))
            #expect(first.json["level"]?["id"] == .int64(try AlertFixture.levelID(client, project, "threshold")))
            #expect(first.json["description"]?.stringValue?.isEmpty == false)
            let notified = first.json["notifications"]?.arrayValue ?? []
            #expect(notified.count == 1 && notified.first?["channel"] == .string("email") && notified.first?["target"] == .string("ops@example.com"))
            #expect(try client.get("\(path)\(firstID)/").json == first.json)

            let second = try client.post(path + "trigger-test/", .object([:]))
            #expect(second.status == 201 && second.json["trigger_data"]?["test"] == .bool(true))
            let secondID = try AlertFixture.id(second.json)
            #expect(secondID != firstID)
            #expect(AlertFixture.ids(try client.get(path + "?the_type=test")) == [secondID])
            #expect(try client.get("\(path)\(firstID)/").code == "ALERT_NOT_FOUND")
            #expect(Set(AlertFixture.ids(try client.get(path + "current/"))) == [manual, secondID])
            // Cancelled test alerts are replaced too; the manual alert is never touched.
            #expect(try client.post("\(path)\(secondID)/cancel/", .object([:])).status == 200)
            let third = try AlertFixture.id(try client.post(path + "trigger-test/", .object([:])).json)
            #expect(AlertFixture.ids(try client.get(path + "?the_type=test")) == [third])
            #expect(try client.get("\(path)\(manual)/").json["status"] == .string("active"))
        }
    }
}

// MARK: - Authorization

extension AlertsAPITests {
    @Suite struct Authorization {
        typealias Call = (name: String, write: Bool, run: (HTTPTestClient) throws -> TestResponse)

        /// Every Alerts route (reads, writes, and writes with bad bodies) on objects of `project`.
        static func calls(project: String, device: Int64, receivers: [Channel: Int64], level: Int64, item: Int64) -> [Call] {
            let base = AlertFixture.base(project)
            let items = AlertFixture.items(project)
            let levels = AlertFixture.levels(project)
            var calls: [Call] = [
                ("config", false, { try $0.get(base + "/config/") }),
                ("levels", false, { try $0.get(levels) }),
                ("level", false, { try $0.get("\(levels)\(level)/") }),
                ("items", false, { try $0.get(items + "?status=active") }),
                ("current", false, { try $0.get(items + "current/") }),
                ("item", false, { try $0.get("\(items)\(item)/") }),
                ("patch config", true, { try $0.patch(base + "/config/", .object(["cooldown_minutes": .int(5)])) }),
                ("patch config invalid", true, { try $0.patch(base + "/config/", .object(["cooldown_minutes": .int(99_999), "bogus": .int(1)])) }),
                ("patch config malformed", true, { try $0.request("PATCH", base + "/config/", rawBody: Array("{".utf8)) }),
                ("create level", true, { try $0.post(levels, .object(["name": .string("L")])) }),
                ("create level invalid", true, { try $0.post(levels, .object(["the_type": .string("x")])) }),
                ("put level", true, { try $0.request("PUT", "\(levels)\(level)/", json: .object(["name": .string("L2")])) }),
                ("patch level", true, { try $0.patch("\(levels)\(level)/", .object(["severity": .string("info")])) }),
                ("patch level invalid", true, { try $0.patch("\(levels)\(level)/", .object(["severity": .string("x")])) }),
                ("delete level", true, { try $0.delete("\(levels)\(level)/") }),
                ("create item", true, { try $0.post(items, .object(["device": .int64(device), "description": .string("x")])) }),
                ("create item invalid", true, { try $0.post(items, .object([:])) }),
                ("patch item", true, { try $0.patch("\(items)\(item)/", .object(["description": .string("x")])) }),
                ("patch item invalid", true, { try $0.patch("\(items)\(item)/", .object(["status": .string("resolved")])) }),
                ("delete item", true, { try $0.delete("\(items)\(item)/") }),
                ("cancel", true, { try $0.post("\(items)\(item)/cancel/", .object([:])) }),
                ("trigger-test", true, { try $0.post(items + "trigger-test/", .object([:])) }),
            ]
            for channel in Channel.allCases {
                let path = channel.path(project)
                let id = receivers[channel] ?? 0
                calls += [
                    ("\(channel) list", false, { try $0.get(path) }),
                    ("\(channel) detail", false, { try $0.get("\(path)\(id)/") }),
                    ("\(channel) create", true, { try $0.post(path, channel.body(channel.addresses.1)) }),
                    ("\(channel) create invalid", true, { try $0.post(path, .object([channel.field: .string("not an address")])) }),
                    ("\(channel) put", true, { try $0.request("PUT", "\(path)\(id)/", json: channel.body(channel.addresses.1)) }),
                    ("\(channel) put invalid", true, { try $0.request("PUT", "\(path)\(id)/", json: .object(["name": .string("x")])) }),
                    ("\(channel) patch", true, { try $0.patch("\(path)\(id)/", .object(["enabled": .bool(false)])) }),
                    ("\(channel) delete", true, { try $0.delete("\(path)\(id)/") }),
                ]
            }
            return calls
        }

        /// A project with one device, one receiver per channel, a custom level and an active manual alert at that level.
        static func populated(_ server: InProcessServer) throws
            -> (project: String, device: Int64, receivers: [Channel: Int64], level: Int64, item: Int64) {
            let admin = server.client()
            let (project, devices) = try AlertFixture.project(server, devices: 1)
            var receivers: [Channel: Int64] = [:]
            for channel in Channel.allCases {
                receivers[channel] = try AlertFixture.id(try admin.post(channel.path(project), channel.body(channel.addresses.0)).json)
            }
            let level = try AlertFixture.id(try admin.post(AlertFixture.levels(project), .object(["name": .string("Custom")])).json)
            let item = try AlertFixture.id(try AlertFixture.manual(admin, project, device: devices[0].1, level: level))
            return (project, devices[0].1, receivers, level, item)
        }

        /// What a refused write could have changed, read as the owner.
        static func snapshot(_ server: InProcessServer, _ project: String) throws -> [JSON] {
            let admin = server.client()
            var paths = [AlertFixture.config(project), AlertFixture.levels(project), AlertFixture.items(project)]
            paths += Channel.allCases.map { $0.path(project) }
            return try paths.map { try admin.get($0).json }
        }

        @Test func everyRouteRefusesCallersWhoMayNotSeeOrChangeTheProject() throws {
            let server = try Shared.get()
            let fixture = try Self.populated(server)
            let calls = Self.calls(project: fixture.project, device: fixture.device, receivers: fixture.receivers, level: fixture.level,
                                   item: fixture.item)
            #expect(calls.count == 46)
            let before = try Self.snapshot(server, fixture.project)

            let admin = server.client()
            let otherProject = try DeviceAPI.project(admin)
            let viewer = server.client(token: try Shared.user(server, role: "viewer").token)
            let scopedElsewhere = server.client(token: try DeviceAPI.scopedToken(admin, role: "manager", projects: [otherProject]))
            let scopedViewer = server.client(token: try DeviceAPI.scopedToken(admin, role: "viewer", projects: [fixture.project]))
            let foreign = server.client(token: try DeviceAPI.organization(server).token)
            let anonymous = HTTPTestClient(responder: server.responder)
            let forged = HTTPTestClient(responder: server.responder, token: "not-a-token-\(RandomID.make(length: 16))")
            for call in calls {
                for (who, client) in [("viewer", viewer), ("scoped viewer", scopedViewer)] {
                    let response = try call.run(client)
                    if call.write {
                        #expect(response.status == 403 && response.code == "FORBIDDEN", "\(who) \(call.name): \(response.status) \(response.text)")
                    } else {
                        #expect(response.status == 200, "\(who) \(call.name): \(response.status) \(response.text)")
                    }
                }
                let scoped = try call.run(scopedElsewhere)
                #expect(scoped.status == 403 && scoped.code == "FORBIDDEN", "scoped elsewhere \(call.name): \(scoped.status) \(scoped.text)")
                let other = try call.run(foreign)
                #expect(other.status == 404 && other.code == "PROJECT_NOT_FOUND", "other org \(call.name): \(other.status) \(other.text)")
                for (who, client) in [("anonymous", anonymous), ("forged", forged)] {
                    let response = try call.run(client)
                    #expect(response.status == 401 && response.code == "UNAUTHORIZED", "\(who) \(call.name): \(response.status)")
                }
            }
            // No refused call changed anything.
            #expect(try Self.snapshot(server, fixture.project) == before)
        }

        @Test func aManagerWritesEveryRoute() throws {
            let server = try Shared.get()
            let fixture = try Self.populated(server)
            let (project, item, level) = (fixture.project, fixture.item, fixture.level)
            let admin = server.client()
            let manager = server.client(token: try Shared.user(server, role: "manager").token)
            let scopedManager = server.client(token: try DeviceAPI.scopedToken(admin, role: "manager", projects: [project]))
            let items = AlertFixture.items(project)
            let levels = AlertFixture.levels(project)
            for client in [manager, scopedManager] {
                #expect(try client.patch(AlertFixture.config(project), .object(["cooldown_minutes": .int(5)])).status == 200)
                let created = try client.post(levels, .object(["name": .string("By manager")]))
                #expect(created.status == 201)
                let newLevel = try AlertFixture.id(created.json)
                #expect(try client.request("PUT", "\(levels)\(newLevel)/", json: .object(["name": .string("Renamed")])).status == 200)
                #expect(try client.patch("\(levels)\(newLevel)/", .object(["severity": .string("info")])).status == 200)
                #expect(try client.delete("\(levels)\(newLevel)/").status == 204)
                for channel in Channel.allCases {
                    let made = try client.post(channel.path(project), channel.body(channel.addresses.1))
                    #expect(made.status == 201, "\(channel): \(made.text)")
                    let id = try AlertFixture.id(made.json)
                    #expect(try client.request("PUT", "\(channel.path(project))\(id)/", json: channel.body(channel.addresses.0)).status == 200)
                    #expect(try client.patch("\(channel.path(project))\(id)/", .object(["enabled": .bool(false)])).status == 200)
                    #expect(try client.delete("\(channel.path(project))\(id)/").status == 204)
                }
                let opened = try client.post(items, .object(["device": .int64(fixture.device), "description": .string("By manager")]))
                #expect(opened.status == 201)
                let openedID = try AlertFixture.id(opened.json)
                #expect(try client.patch("\(items)\(openedID)/", .object(["description": .string("Edited")])).status == 200)
                #expect(try client.post("\(items)\(openedID)/cancel/", .object([:])).status == 200)
                #expect(try client.delete("\(items)\(openedID)/").status == 204)
                #expect(try client.post(items + "trigger-test/", .object([:])).status == 201)
            }
            // The fixture's own objects, last: cancel and delete its alert, then its level, then its receivers.
            #expect(try manager.post("\(items)\(item)/cancel/", .object([:])).status == 200)
            #expect(try manager.delete("\(items)\(item)/").status == 204)
            #expect(try manager.delete("\(levels)\(level)/").status == 204)
            for (channel, id) in fixture.receivers { #expect(try manager.delete("\(channel.path(project))\(id)/").status == 204) }
            #expect(try admin.get(AlertFixture.config(project)).json["cooldown_minutes"] == .int(5))
            #expect(AlertFixture.ids(try admin.get(items)).count == 1)   // the last test alert
        }
    }
}

// MARK: - OpenAPI

extension AlertsAPITests {
    @Suite struct OpenAPI {
        /// Every Alerts route: path (OpenAPI form) → methods.
        static let routes: [String: Set<String>] = {
            let base = "/api/v2/projects/{project_id}/alert"
            var routes: [String: Set<String>] = [
                base + "/config/": ["get", "patch"],
                base + "/levels/": ["get", "post"],
                base + "/levels/{level_id}/": ["get", "put", "patch", "delete"],
                base + "/items/": ["get", "post"],
                base + "/items/current/": ["get"],
                base + "/items/trigger-test/": ["post"],
                base + "/items/{alert_pk}/": ["get", "patch", "delete"],
                base + "/items/{alert_pk}/cancel/": ["post"],
            ]
            for channel in Channel.allCases {
                routes[base + "/\(channel.rawValue)-notifications/"] = ["get", "post"]
                routes[base + "/\(channel.rawValue)-notifications/{receiver_id}/"] = ["get", "put", "patch", "delete"]
            }
            return routes
        }()

        @Test func everyAlertsRouteIsDocumentedWithBearerSecurity() throws {
            let server = try Shared.get()
            let document = try HTTPTestClient(responder: server.responder).get("/api/v2/openapi.json")
            #expect(document.status == 200 && document.json["openapi"] == .string("3.1.0"))
            let paths = try #require(document.json["paths"]?.objectValue)
            let defaultSecurity = document.json["security"]
            #expect(document.json["components"]?["securitySchemes"]?["bearer"]?["scheme"] == .string("bearer"))
            var documented: [String: Set<String>] = [:]
            for (path, item) in paths.entries where path.hasPrefix("/api/v2/projects/{project_id}/alert/") {
                documented[path] = Set(item.objectValue?.keys ?? [])
            }
            #expect(documented == Self.routes)
            #expect(Self.routes.values.map(\.count).reduce(0, +) == 34)
            for (path, methods) in Self.routes {
                let parameters = Set(path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
                for method in methods {
                    let operation = try #require(paths[path]?[method], "\(method) \(path)")
                    // Bearer: the document's default applies unless the operation overrides it.
                    let security = operation["security"] ?? defaultSecurity
                    #expect(security == .array([.object(["bearer": .array([])])]), "\(method) \(path): \(String(describing: security))")
                    #expect(operation["summary"]?.stringValue?.isEmpty == false, "\(method) \(path)")
                    let inPath = (operation["parameters"]?.arrayValue ?? []).filter { $0["in"] == .string("path") }
                    let named = Set(inPath.compactMap { $0["name"]?.stringValue })
                    #expect(named == parameters, "\(method) \(path)")
                    #expect(operation["responses"]?["200"] != nil || operation["responses"]?["201"] != nil
                            || operation["responses"]?["204"] != nil, "\(method) \(path) documents no success")
                }
            }
        }

        /// The document is true for Alerts: each documented operation is routed and wants a bearer token.
        @Test func everyDocumentedAlertsOperationAsksForAToken() throws {
            let server = try Shared.get()
            let anonymous = HTTPTestClient(responder: server.responder)
            for (path, methods) in Self.routes {
                let concrete = path.replacingOccurrences(of: "{project_id}", with: "any-project")
                    .split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix("{") ? "1" : String($0) }.joined(separator: "/")
                for method in methods {
                    let body: JSON? = method == "get" || method == "delete" ? nil : .object([:])
                    let response = try anonymous.request(method.uppercased(), concrete, json: body)
                    #expect(response.status == 401 && response.code == "UNAUTHORIZED", "\(method) \(concrete): \(response.status)")
                }
            }
        }
    }
}
