import Core
import DomainTestSupport
import Foundation
import HTTP
import Testing
import TestSupport

/// The compatibility dialects are first-class in the OpenAPI document: every operation declares its body, query and
/// responses, its 4xx answers carry its dialect's own error body (not the §4 envelope), and what the routes answer is
/// what they declare.
@Suite struct CompatContractTests {
    /// Every /compat operation documents a success response with a schema (or its documented empty body), a strict
    /// body where it reads one, and its dialect's error response for every 4xx — and no native envelope anywhere.
    @Test func everyCompatOperationDocumentsItsSuccessAndItsDialectsErrors() throws {
        let server = try Shared.get()
        let document = try server.client(token: nil).get("/api/v2/openapi.json").json
        let paths = try #require(document["paths"]?.objectValue)
        let schemas = try #require(document["components"]?["schemas"]?.objectValue)
        let errorResponses = try #require(document["components"]?["responses"]?.objectValue)
        func resolve(_ schema: JSON?) -> JSON? {
            guard let reference = schema?["$ref"]?.stringValue else { return schema }
            return schemas[String(reference.split(separator: "/").last ?? "")]
        }
        var operations: [String: Int] = [:]
        for (path, item) in paths.entries where path.hasPrefix("/compat/") {
            let dialect = path.hasPrefix("/compat/evrythng/") ? "Evrythng" : "Ufdl"
            for (method, operation) in item.objectValue?.entries ?? [] {
                operations[dialect, default: 0] += 1
                let name = "\(method) \(path)"
                let responses = try #require(operation["responses"]?.objectValue, "\(name)")
                #expect(responses["default"] == nil, "\(name) still has the undocumented default")
                let successes = responses.entries.filter { $0.key.hasPrefix("2") }
                #expect(successes.count == 1, "\(name) documents \(successes.map(\.key)) as success")
                for (status, success) in successes {
                    let bodyless = status == "204" || (dialect == "Evrythng" && method == "delete")
                    if bodyless {
                        #expect(success["content"] == nil, "\(name) \(status) documents a body")
                    } else {
                        #expect(success["content"]?["application/json"]?["schema"] != nil, "\(name) \(status) has no schema")
                    }
                }
                for status in ["400", "401", "403", "404", "405", "409", "415", "422", "429"] {
                    #expect(responses[status]?["$ref"] == .string("#/components/responses/\(dialect)Error"), "\(name) \(status)")
                }
                if ["post", "put", "patch"].contains(method) {
                    let schema = resolve(operation["requestBody"]?["content"]?["application/json"]?["schema"])
                    let object = schema?["anyOf"]?.arrayValue.flatMap { resolve($0.first) } ?? schema   // a nullable body
                    #expect(object?["type"] == .string("object") && object?["additionalProperties"] == .bool(false), "\(name) body is not strict")
                }
            }
        }
        #expect(operations == ["Evrythng": 7, "Ufdl": 11])
        // Each dialect's error response is its own body, and the native envelope is still the native one.
        #expect(errorResponses["EvrythngError"]?["content"]?["application/json"]?["schema"] == .object(["$ref": .string("#/components/schemas/EvrythngError")]))
        #expect(errorResponses["UfdlError"]?["content"]?["application/json"]?["schema"] == .object(["$ref": .string("#/components/schemas/UfdlError")]))
        #expect(schemas["EvrythngError"]?["required"] == .array(["status", "errors", "code", "moreInfo"].map(JSON.string)))
        #expect(schemas["EvrythngError"]?["properties"]?["errors"]?["maxItems"] == .number(1))
        #expect(schemas["UfdlError"]?["oneOf"]?.arrayValue?.count == 2)
        #expect(paths["/api/v2/projects/"]?["get"]?["responses"]?["404"]?["$ref"] == .string("#/components/responses/Error"))
        // The FilterSpec is declared as deep as the parser reads it, and no deeper.
        #expect(schemas["UfdlFilterExpression8"] != nil && schemas["UfdlFilterExpression9"] == nil)
        #expect(paths["/compat/evrythng/projects"]?["get"]?["parameters"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            == ["perPage", "sortOrder", "filter", "nextPageToken"])
    }

    /// Every EVRYTHNG route, called for real, answers what it declares — successes and its one-item errors.
    @Test func evrythngRoutesAnswerWhatTheyDeclare() throws {
        let server = try Shared.get()
        let client = server.client(token: nil)
        let key = try #require(server.adminToken)
        let auth = [("Authorization", key)]
        func call(_ method: String, _ path: String, _ body: JSON? = nil, headers: [(String, String)]? = nil, expect status: Int) throws -> TestResponse {
            try ResponseContractTests.call(server, client, method, "/compat/evrythng" + path, body, headers: headers ?? auth, token: .some(nil),
                                           expect: status)
        }
        let me = try call("GET", "/access", expect: 200)
        let userID = try #require(me.json["actor"]?["id"]?.stringValue)
        _ = try call("GET", "/operators/\(userID)", expect: 200)
        _ = try call("GET", "/operators/999999999", expect: 404)
        _ = try call("GET", "/access", headers: [("Authorization", "nope")], expect: 401)
        _ = try call("GET", "/access", headers: [], expect: 401)
        let tag = "evc-\(RandomID.make(length: 8))"
        let created = try call("POST", "/projects", .object(["name": .string("Contract EVT"), "tags": .array([.string(tag)]), "startsAt": .int(1_000),
                                                             "identifiers": .object(["gtin": .string("1")]), "description": .null]), expect: 201)
        let id = try #require(created.json["id"]?.stringValue)
        let steps: [(String, String, JSON?, Int)] = [
            ("POST", "/projects", .object(["name": .string("Two"), "tags": .array([.string(tag)])]), 201),
            ("GET", "/projects?perPage=1&sortOrder=ascending&filter=tags%3D\(tag)", nil, 200),
            ("GET", "/projects?nextPageToken=zz", nil, 400),
            ("GET", "/projects?perPage=0", nil, 400),
            ("GET", "/projects?filter=colour%3Dred", nil, 400),
            ("GET", "/projects/\(id)", nil, 200),
            ("GET", "/projects/no-such-project-\(tag.lowercased())", nil, 404),
            ("PUT", "/projects/\(id)", .object(["name": .string("Renamed"), "endsAt": .int(2_000), "createdAt": .int(5), "scopes": .null]), 200),
            ("PUT", "/projects/\(id)", .object(["colour": .string("red")]), 400),
            ("PUT", "/projects/\(id)", .object(["imageUrl": .string("x")]), 400),
            ("PUT", "/projects/\(id)", .object(["startsAt": .int64(253_402_300_800_000)]), 400),   // past 9999
            ("POST", "/projects", .array([]), 400),
            ("PATCH", "/projects/\(id)", .object([:]), 405),
            ("GET", "/nowhere", nil, 404),
            ("DELETE", "/projects/\(id)", nil, 200),
            ("DELETE", "/projects/\(id)", nil, 404),
        ]
        for (method, path, body, status) in steps { _ = try call(method, path, body, expect: status) }
    }

    /// Every UFDL route, called for real, answers what it declares — successes and its DRF-style errors.
    @Test func ufdlRoutesAnswerWhatTheyDeclare() throws {
        let server = try Shared.get()
        let session = try CompatUfdlAPITests.session(server, role: "viewer")
        let client = server.client()   // the owner's ordinary token, which UFDL takes as a bearer too
        func call(_ method: String, _ path: String, _ body: JSON? = nil, token: String?? = .none, expect status: Int) throws -> TestResponse {
            try ResponseContractTests.call(server, client, method, "/compat/ufdl/v1" + path, body, token: token, expect: status)
        }
        _ = try call("POST", "/auth/obtain", .object(["username": .string(session.name), "password": .string("secret-\(session.name)")]),
                     token: .some(nil), expect: 200)
        _ = try call("POST", "/auth/obtain", .object(["username": .string(session.name)]), token: .some(nil), expect: 400)
        _ = try call("POST", "/auth/refresh/", .object(["refresh": .string(session.refresh)]), token: .some(nil), expect: 200)
        _ = try call("POST", "/auth/refresh", .object(["refresh": .string("nope")]), token: .some(nil), expect: 401)
        _ = try call("POST", "/auth/verify", .object(["token": .string(session.access)]), token: .some(nil), expect: 200)
        _ = try call("POST", "/auth/verify", .object(["token": .string("nope")]), token: .some(nil), expect: 401)
        let team = try CompatUfdlAPITests.team(client)
        let name = "ufdl-contract-\(RandomID.make(length: 8))"
        let created = try call("POST", "/projects/create", .object(["name": .string(name), "team": .number(team)]), expect: 201)
        let pk = try #require(created.json["pk"]?.int64Value)
        let filter = JSON.object(["expressions": .array([.object([
            "type": .string("or"), "sub_expressions": .array([
                .object(["type": .string("exact"), "field": .string("name"), "value": .string(name)]),
                .object(["type": .string("isnull"), "field": .string("deletion_time"), "invert": .bool(true)]),
            ]),
        ])]), "order_by": .array([.object(["field": .string("pk"), "ascending": .bool(false)])])])
        let steps: [(String, String, JSON?, String??, Int)] = [
            ("POST", "/projects/create", .object(["name": .string(name), "team": .number(team)]), .none, 400),
            ("POST", "/projects/create", .object(["name": .string(name + "x"), "team": .number(team + 1000)]), .none, 400),
            ("POST", "/projects/list", nil, .none, 200),
            ("POST", "/projects/list", filter, .none, 200),
            ("POST", "/projects/list", .object(["expressions": .array([.object(["type": .string("nope")])])]), .none, 400),
            ("GET", "/projects/\(pk)", nil, .none, 200),
            ("GET", "/projects/\(pk)", nil, .some("nope"), 401),
            ("PUT", "/projects/\(pk)/", .object(["name": .string(name + "-put"), "team": .number(team), "pk": .int(1), "creator": .null]), .none, 200),
            ("PUT", "/projects/\(pk)", .object(["name": .string(name)]), .none, 400),
            ("PATCH", "/projects/\(pk)", .object(["name": .string(name + "-patch")]), .none, 200),
            ("POST", "/projects/\(pk)", .object([:]), .none, 405),
            ("DELETE", "/projects/\(pk)", nil, .none, 204),
            ("GET", "/projects/\(pk)", nil, .none, 404),
            ("DELETE", "/projects/\(pk)/reinstate", nil, .none, 200),
            ("DELETE", "/projects/\(pk)/hard", nil, .none, 200),
            ("DELETE", "/projects/\(pk)/hard", nil, .none, 404),
            ("GET", "/nowhere", nil, .none, 404),
        ]
        for (method, path, body, token, status) in steps { _ = try call(method, path, body, token: token, expect: status) }
    }

    /// The checker holds a dialect's answers to the dialect's error body: the native envelope under a dialect's
    /// prefix is a drift, and so is a dialect body on the native API.
    @Test func theCheckerHoldsADialectToItsOwnErrorBody() throws {
        let router = Router()
        let schema = Schema.object([.required("message", .string())]).named("AcmeError")
        let acme = router.group("/compat/acme").renderingErrors(with: ErrorRenderer(schema: schema, description: "Acme") { error, _ in
            .json(JSONObject(["message": .string(error.detail)]), status: error.status)
        })
        acme.get("/thing", responses: [.ok(.object([.required("a", .integer())]))], auth: .anonymous) { _ in .json(JSONObject(["a": .int(1)])) }
        router.group("/api/v2").get("/thing/", responses: [.noContent], auth: .anonymous) { _ in .noContent }
        let table = router.freeze()
        let acmeError = Response.json(JSONObject(["message": .string("no")]), status: 404)
        let native = Response.error(APIError.notFound("no"))
        for path in ["/compat/acme/thing", "/compat/acme/nowhere"] {
            #expect(ResponseContract.problems(table: table, method: .get, path: path, response: acmeError).isEmpty, "\(path)")
            #expect(!ResponseContract.problems(table: table, method: .get, path: path, response: native).isEmpty, "\(path)")
        }
        #expect(!ResponseContract.problems(table: table, method: .get, path: "/api/v2/thing/", response: acmeError).isEmpty)
        #expect(ResponseContract.problems(table: table, method: .get, path: "/api/v2/thing/", response: native).isEmpty)
    }
}
