import Core
import DomainTestSupport
import Foundation
import HTTP
import Testing
import TestSupport

/// The declarations cannot drift: the main routes of every module, called for real, answer exactly what they
/// document (status, body schema, error envelope), and the checker that holds them to it does catch a drift.
@Suite struct ResponseContractTests {
    /// Calls `method path` and checks the answer against its route's declaration; returns the response.
    @discardableResult
    static func call(_ server: InProcessServer, _ client: HTTPTestClient, _ method: String, _ path: String, _ body: JSON? = nil,
                     headers: [(String, String)] = [], token: String?? = .none, expect status: Int) throws -> TestResponse {
        let response = try client.request(method, path, json: body, headers: headers, token: token)
        #expect(response.status == status, "\(method) \(path): \(response.status) \(response.text)")
        var answer = Response(status: response.status, headers: HTTPHeaders(response.headers.filter { $0.0 != "Content-Length" }),
                              body: response.body)
        if method == "HEAD" { answer.body = [] }
        let bare = String(path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        let table = server.responder.table
        let problems = ResponseContract.problems(table: table, method: HTTPMethod(method), path: bare, response: answer)
        #expect(problems.isEmpty, "\(method) \(path) → \(response.status): \(problems)")
        if let route = table.route(method: HTTPMethod(method), path: bare) {
            #expect(!route.docs.responses.isEmpty, "\(method) \(path) documents no responses")
        }
        return response
    }

    @Test func mainRoutesOfEveryModuleAnswerWhatTheyDeclare() throws {
        let server = try Shared.get()
        let client = server.client()
        func call(_ method: String, _ path: String, _ body: JSON? = nil, headers: [(String, String)] = [], token: String?? = .none,
                  expect status: Int) throws -> TestResponse {
            try Self.call(server, client, method, path, body, headers: headers, token: token, expect: status)
        }
        // Platform and Auth.
        _ = try call("GET", "/healthz", expect: 200)
        _ = try call("GET", "/readyz", expect: 200)
        _ = try call("GET", "/metrics", expect: 200)
        _ = try call("GET", "/api/v2/", expect: 200)
        _ = try call("GET", "/api/v2/openapi.json", expect: 200)
        _ = try call("GET", "/api/v2/me/", expect: 200)
        _ = try call("GET", "/api/v2/me/", token: .some("iot_nope"), expect: 401)
        let minted = try call("POST", "/api/v2/tokens/", .object(["name": .string("contract"), "role": .string("viewer"), "expires_in": .string("1d")]),
                              expect: 201)
        let tokenID = try #require(minted.json["id"]?.int64Value)
        _ = try call("GET", "/api/v2/tokens/", expect: 200)
        _ = try call("GET", "/api/v2/tokens/\(tokenID)/", expect: 200)
        _ = try call("DELETE", "/api/v2/tokens/\(tokenID)/", expect: 204)
        _ = try call("POST", "/api/v2/tokens/", .object(["surprise": .bool(true)]), expect: 400)
        _ = try call("POST", "/api/v2/auth/login/", .object(["username": .string("nobody-\(RandomID.make(length: 6))"), "password": .string("x")]),
                     token: .some(nil), expect: 401)

        // Projects.
        let project = "contract-\(RandomID.make(length: 8).lowercased())"
        _ = try call("POST", "/api/v2/projects/", .object(["project_id": .string(project), "name": .string("Contract"), "tags": .array([.string("a")]),
                                                           "starts_at": .string("2024-01-08T10:00:00.250Z")]), expect: 201)
        _ = try call("GET", "/api/v2/projects/?page_size=5&search=Contract", expect: 200)
        _ = try call("GET", "/api/v2/projects/\(project)/", expect: 200)
        _ = try call("PATCH", "/api/v2/projects/\(project)/", .object(["favorite": .bool(true), "ends_at": .null]), expect: 200)
        _ = try call("GET", "/api/v2/projects/no-such-project-here/", expect: 404)
        _ = try call("PUT", "/api/v2/projects/\(project)/", .object([:]), expect: 405)
        let spare = "contract-spare-\(RandomID.make(length: 6).lowercased())"
        _ = try call("POST", "/api/v2/projects/", .object(["project_id": .string(spare), "name": .string("Spare")]), expect: 201)
        _ = try call("DELETE", "/api/v2/projects/\(spare)/", expect: 204)
        _ = try call("GET", "/api/v2/projects/trash/", expect: 200)
        _ = try call("POST", "/api/v2/projects/\(spare)/restore/", expect: 200)

        // Devices, telemetry, commands, the gateway.
        let device = try DeviceAPI.provision(server, capabilities: "SUPPORTS_REBOOT")[0]
        let bound = try call("POST", "/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(device), expect: 200)
        let pk = try #require(bound.json["id"]?.int64Value)
        let devicePath = "/api/v2/projects/\(project)/devices/\(pk)/"
        _ = try call("GET", "/api/v2/devices/", expect: 200)
        _ = try call("GET", "/api/v2/projects/\(project)/devices/", expect: 200)
        _ = try call("GET", devicePath, expect: 200)
        _ = try call("PATCH", devicePath, .object(["device_name": .string("Node"), "info": .string("contract")]), expect: 200)
        _ = try call("POST", devicePath + "data/", DeviceAPI.points([(device.agriID + "-01", 21.5, 1_700_000_000), ("elsewhere", 1, nil)]),
                     expect: 202)
        _ = try call("GET", devicePath + "data/", expect: 200)
        _ = try call("GET", devicePath + "data/?agri_id=\(device.agriID)-01&start=0", expect: 200)
        let basic = [("Authorization", "Basic " + Data("\(device.deviceID):\(device.key)".utf8).base64EncodedString())]
        _ = try call("GET", "/api/v2/gateway/", headers: basic, token: .some(nil), expect: 200)
        _ = try call("POST", "/api/v2/gateway/data/", DeviceAPI.points([(device.agriID + "-02", 3, nil)]), headers: basic, token: .some(nil),
                     expect: 202)
        _ = try call("POST", devicePath + "set-tcp/", .object(["host": .string("iot.example.com"), "port": .int(1883)]), expect: 202)
        _ = try call("POST", devicePath + "set-tcp/", .object(["host": .string("bad host"), "port": .int(0)]), expect: 422)
        _ = try call("GET", devicePath + "commands/", expect: 200)
        let delivered = try call("GET", "/api/v2/gateway/commands/", headers: basic, token: .some(nil), expect: 200)
        let commandID = try #require(delivered.json["commands"]?.arrayValue?.first?["id"]?.int64Value)
        _ = try call("POST", "/api/v2/gateway/commands/\(commandID)/ack/", headers: basic, token: .some(nil), expect: 200)

        // Factors.
        let factors = devicePath + "factors/"
        let factor = try call("POST", factors, .object(["agri_id": .string(device.agriID + "-01"), "name": .string("temp"), "register": .int(1),
                                                         "threshold_max": .number(30)]), expect: 201)
        let factorID = try #require(factor.json["id"]?.int64Value)
        _ = try call("GET", factors, expect: 200)
        _ = try call("GET", factors + "\(factorID)/", expect: 200)
        _ = try call("PATCH", factors + "\(factorID)/", .object(["unit": .string("°C")]), expect: 200)
        _ = try call("POST", devicePath + "export-factors/", expect: 200)
        _ = try call("GET", "/api/v2/gateway/factors/", headers: basic, token: .some(nil), expect: 200)
        let modules = try call("GET", "/api/v2/modules/", expect: 200)
        if let moduleID = modules.json.arrayValue?.first?["id"]?.int64Value {
            _ = try call("GET", "/api/v2/modules/\(moduleID)/", expect: 200)
            _ = try call("POST", devicePath + "add-module/", .object(["module_id": .int64(moduleID), "slave_id": .int(9)]), expect: 201)
        }
        _ = try call("GET", devicePath + "data/", expect: 200)   // now with a factor name as the key
        _ = try call("DELETE", factors + "\(factorID)/", expect: 204)

        // Alerts.
        let alert = "/api/v2/projects/\(project)/alert/"
        _ = try call("GET", alert + "config/", expect: 200)
        _ = try call("PATCH", alert + "config/", .object(["cooldown_minutes": .int(5), "locale": .string("en")]), expect: 200)
        for (channel, target) in [("sms", ("phone_number", "+8613800138000")), ("email", ("email", "ops@example.com")),
                                  ("webhook", ("url", "https://hooks.example.com/iot"))] {
            let base = alert + "\(channel)-notifications/"
            let created = try call("POST", base, .object([target.0: .string(target.1), "name": .string("ops")]), expect: 201)
            let id = try #require(created.json["id"]?.int64Value)
            _ = try call("GET", base, expect: 200)
            _ = try call("GET", base + "\(id)/", expect: 200)
            _ = try call("PATCH", base + "\(id)/", .object(["enabled": .bool(false)]), expect: 200)
            _ = try call("DELETE", base + "\(id)/", expect: 204)
        }
        let level = try call("POST", alert + "levels/", .object(["name": .string("Hot"), "severity": .string("critical")]), expect: 201)
        let levelID = try #require(level.json["id"]?.int64Value)
        _ = try call("GET", alert + "levels/", expect: 200)
        _ = try call("PATCH", alert + "levels/\(levelID)/", .object(["name": .string("Hotter")]), expect: 200)
        let item = try call("POST", alert + "items/", .object(["device": .int64(pk), "level": .int64(levelID), "description": .string("manual")]),
                            expect: 201)
        let itemID = try #require(item.json["id"]?.int64Value)
        _ = try call("GET", alert + "items/?status=active", expect: 200)
        _ = try call("GET", alert + "items/current/", expect: 200)
        _ = try call("GET", alert + "items/\(itemID)/", expect: 200)
        _ = try call("PATCH", alert + "items/\(itemID)/", .object(["description": .string("checked")]), expect: 200)
        _ = try call("POST", alert + "items/\(itemID)/cancel/", expect: 200)
        _ = try call("POST", alert + "items/\(itemID)/cancel/", expect: 400)
        _ = try call("DELETE", alert + "items/\(itemID)/", expect: 204)
        _ = try call("POST", alert + "items/trigger-test/", expect: 201)

        // Exports.
        let tasks = "/api/v2/projects/\(project)/data-download-tasks/"
        let task = try call("POST", tasks, .object(["start_time": .int(1_600_000_000), "format": .string("ndjson")]), expect: 201)
        let taskID = try #require(task.json["id"]?.int64Value)
        _ = try call("GET", tasks, expect: 200)
        _ = try call("GET", tasks + "\(taskID)/", expect: 200)
        _ = try call("POST", tasks + "\(taskID)/cancel/", expect: 200)
        _ = try call("DELETE", tasks + "\(taskID)/", expect: 204)
        let schedules = "/api/v2/projects/\(project)/data-download-schedules/"
        let schedule = try call("POST", schedules, .object(["period": .string("weekly"), "weekday": .int(1), "hour": .int(3)]), expect: 201)
        let scheduleID = try #require(schedule.json["id"]?.int64Value)
        _ = try call("GET", schedules, expect: 200)
        _ = try call("PATCH", schedules + "\(scheduleID)/", .object(["enabled": .bool(false)]), expect: 200)
        _ = try call("DELETE", schedules + "\(scheduleID)/", expect: 204)

        // Unbinding and the project's end.
        _ = try call("POST", devicePath + "unbind/", expect: 204)
        _ = try call("DELETE", "/api/v2/projects/\(project)/?hard=true", expect: 204)
    }

    /// The checker itself: a body that departs from its schema, an undocumented success status, a 4xx that is not
    /// the envelope and a body where none is documented are each reported.
    @Test func theCheckerReportsEachKindOfDrift() throws {
        let router = Router()
        let api = router.group("/api/v2")
        api.get("/thing/", responses: [.ok(.object([.required("a", .integer())]))], auth: .anonymous) { _ in .noContent }
        api.delete("/thing/", responses: [.noContent], auth: .anonymous) { _ in .noContent }
        let table = router.freeze()
        func problems(_ method: HTTPMethod, _ response: Response) -> [String] {
            ResponseContract.problems(table: table, method: method, path: "/api/v2/thing/", response: response)
        }
        #expect(problems(.get, .json(JSONObject(["a": .int(1)]))).isEmpty)
        #expect(problems(.get, .json(JSONObject(["a": .string("x")]))) == ["$.a: must be a number, got string"])
        #expect(problems(.get, .json(JSONObject(["a": .int(1), "b": .int(2)]))) == ["$.b: not declared (additionalProperties: false)"])
        #expect(problems(.get, .json(JSONObject(["a": .int(1)]), status: 201)).first?.contains("not documented") == true)
        #expect(problems(.get, .json(JSONObject(["error": .string("nope")]), status: 404)).isEmpty == false)
        #expect(problems(.get, .error(APIError.notFound("Nothing here"))).isEmpty)
        #expect(problems(.delete, .noContent).isEmpty)
        #expect(problems(.delete, .json(JSONObject(["a": .int(1)]), status: 204)).isEmpty == false)
        // Unrouted native paths answer the envelope too.
        #expect(ResponseContract.problems(table: table, method: .get, path: "/api/v2/nowhere/", response: .text("no", status: 404)).isEmpty == false)
    }

    /// Every operation of the native API documents its success responses, and every JSON object body it reads is
    /// strict (`additionalProperties: false`, as the parsers reject unknown fields), with its required keys.
    @Test func everyNativeOperationDocumentsBodiesAndResponses() throws {
        let server = try Shared.get()
        let document = try server.client(token: nil).get("/api/v2/openapi.json").json
        let paths = try #require(document["paths"]?.objectValue)
        let schemas = try #require(document["components"]?["schemas"]?.objectValue)
        func resolve(_ schema: JSON?) -> JSON? {
            guard let reference = schema?["$ref"]?.stringValue else { return schema }
            return schemas[String(reference.split(separator: "/").last ?? "")]
        }
        var operations = 0
        for (path, item) in paths.entries where !path.hasPrefix("/compat/") {
            for (method, operation) in item.objectValue?.entries ?? [] {
                operations += 1
                let responses = try #require(operation["responses"]?.objectValue, "\(method) \(path)")
                #expect(responses.keys.contains { $0.hasPrefix("2") || $0 == "302" }, "\(method) \(path) documents no success")
                #expect(responses["default"] == nil, "\(method) \(path) still has the undocumented default")
                #expect(responses["404"]?["$ref"] == .string("#/components/responses/Error"), "\(method) \(path)")
                // Regression (the contract test's findings): a failed login answers 401 and a download link that does
                // not verify 403, so every operation, with credentials or without, documents both.
                #expect(responses["401"] != nil && responses["403"] != nil, "\(method) \(path) does not document 401/403")
                guard let content = operation["requestBody"]?["content"]?.objectValue else {
                    #expect(!["post", "put", "patch"].contains(method) || path.hasSuffix("/cancel/") || path.hasSuffix("/restore/")
                            || path.hasSuffix("/unbind/") || path.hasSuffix("/export-factors/") || path.hasSuffix("/trigger-test/"),
                            "\(method) \(path) documents no body")
                    continue
                }
                if let schema = resolve(content["application/json"]?["schema"]), schema["type"] == .string("object") {
                    #expect(schema["additionalProperties"] == .bool(false), "\(method) \(path) body is not strict")
                }
            }
        }
        #expect(operations > 80)
        #expect(schemas["Error"]?["required"] == .array([.string("code"), .string("detail")]))
        #expect(schemas["ProjectCreate"]?["required"] == .array([.string("name")]))
    }
}
