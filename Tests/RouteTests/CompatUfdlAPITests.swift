import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// The UFDL dialect (DESIGN §5.6): session tokens, projects by integer pk, the FilterSpec list, DRF-style errors, paths
/// with and without a trailing slash.
@Suite struct CompatUfdlAPITests {
    static let base = "/compat/ufdl/v1"

    /// A user of org `default` with `role`, and its UFDL access and refresh tokens.
    static func session(_ server: InProcessServer, role: String) throws -> (name: String, access: String, refresh: String) {
        let user = try Shared.user(server, role: role)
        let obtained = try server.client(token: nil).request("POST", base + "/auth/obtain", json: .object([
            "username": .string(user.name), "password": .string("secret-\(user.name)"),
        ]), token: .some(nil))
        guard obtained.status == 200, let access = obtained.json["access"]?.stringValue, let refresh = obtained.json["refresh"]?.stringValue else {
            throw TestClientError2("obtain failed: \(obtained.status) \(obtained.text)")
        }
        return (user.name, access, refresh)
    }

    static func team(_ client: HTTPTestClient) throws -> Double {
        try #require(try client.get("/api/v2/me/").json["organization"]?["id"]?.doubleValue)
    }

    static func create(_ client: HTTPTestClient, _ name: String, team: Double) throws -> JSON {
        let created = try client.post(base + "/projects/create", .object(["name": .string(name), "team": .number(team)]))
        guard created.status == 201 else { throw TestClientError2("create \(name): \(created.status) \(created.text)") }
        return created.json
    }

    static func list(_ client: HTTPTestClient, _ spec: String) throws -> TestResponse {
        try client.request("POST", base + "/projects/list", rawBody: Array(spec.utf8))
    }

    static func names(_ response: TestResponse) -> [String] { response.json.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [] }

    @Test func sessionTokensAccessRefreshVerifyRevoke() throws {
        let server = try Shared.get()
        let session = try Self.session(server, role: "manager")
        let anonymous = server.client(token: nil)
        #expect(try server.client(token: session.access).request("POST", Self.base + "/projects/list").status == 200)
        // A refresh token is good for nothing but refreshing: not as a bearer, here or natively.
        let refused = try server.client(token: session.refresh).request("POST", Self.base + "/projects/list")
        #expect(refused.status == 401 && refused.json["detail"]?.stringValue?.isEmpty == false && refused.json["code"] == nil)
        #expect(try server.client(token: session.refresh).get("/api/v2/me/").status == 401)
        let refreshed = try anonymous.request("POST", Self.base + "/auth/refresh/", json: .object(["refresh": .string(session.refresh)]), token: .some(nil))
        let access2 = try #require(refreshed.json["access"]?.stringValue, "\(refreshed.text)")
        #expect(refreshed.json["refresh"] == nil && access2 != session.access)
        let me = try server.client(token: access2).get("/api/v2/me/")
        #expect(me.status == 200 && me.json["user"]?["username"] == .string(session.name))
        let expiry = try #require(me.json["token"]?["expires_at"]?.stringValue.flatMap(Timestamp.parse))
        #expect(expiry - Date().timeIntervalSince1970 <= 301 && expiry - Date().timeIntervalSince1970 > 200)   // five minutes
        #expect(try anonymous.request("POST", Self.base + "/auth/refresh", json: .object(["refresh": .string(session.access)]), token: .some(nil)).status == 401)
        for token in [session.access, session.refresh] {
            #expect(try anonymous.request("POST", Self.base + "/auth/verify", json: .object(["token": .string(token)]), token: .some(nil)).status == 200)
        }
        let bad = try anonymous.request("POST", Self.base + "/auth/verify", json: .object(["token": .string("nope")]), token: .some(nil))
        #expect(bad.status == 401 && bad.json["detail"] != nil)
        #expect(try anonymous.request("POST", Self.base + "/auth/obtain", json: .object(["username": .string(session.name)]), token: .some(nil))
            .json["password"] == .array([.string("is required")]))

        // Revocable like every token: revoking the refresh token (natively) ends its access tokens too.
        let tokens = try server.client().get("/api/v2/tokens/?page_size=100").json["results"]?.arrayValue ?? []
        let refreshID = try #require(tokens.first { $0["user"]?["username"] == .string(session.name) && $0["name"] == .string("session refresh") }?["id"]?
            .int64Value)
        #expect(try server.client().delete("/api/v2/tokens/\(refreshID)/").status == 204)
        #expect(try anonymous.request("POST", Self.base + "/auth/refresh", json: .object(["refresh": .string(session.refresh)]), token: .some(nil)).status == 401)
        #expect(try server.client(token: session.access).request("POST", Self.base + "/projects/list").status == 401)
        #expect(try server.client(token: access2).get("/api/v2/me/").status == 401)
    }

    @Test func obtainWithWrongCredentialsIsRateLimitedLikeLogin() throws {
        let server = try InProcessServer(config: ["auth.login_max_failures": "3"])
        let anonymous = server.client(token: nil)
        var statuses: [Int] = []
        for _ in 0..<4 {
            let response = try anonymous.request("POST", Self.base + "/auth/obtain", json: .object([
                "username": .string("admin"), "password": .string("wrong-password"),
            ]), token: .some(nil))
            statuses.append(response.status)
            #expect(response.json["detail"]?.stringValue?.isEmpty == false && response.json["code"] == nil)
            if response.status == 429 { #expect(response.header("Retry-After") != nil) }
        }
        #expect(statuses == [401, 401, 401, 429])
        // The same limiter as our login: it is blocked too.
        #expect(try anonymous.request("POST", "/api/v2/auth/login/", json: .object(["username": .string("admin"), "password": .string("x")]),
                                      token: .some(nil)).status == 429)
    }

    @Test func crudWithPkTrashReinstateHard() throws {
        let server = try Shared.get()
        let admin = server.client()
        let team = try Self.team(admin)
        let name = "ufdl-\(RandomID.make(length: 8))"
        let created = try Self.create(admin, name, team: team)
        let pk = try #require(created["pk"]?.int64Value)
        #expect(created["name"] == .string(name) && created["team"] == .number(team) && created["deletion_time"] == .null)
        #expect(try created["creator"] == admin.get("/api/v2/me/").json["user"]?["id"])
        #expect(created["creation_time"]?.stringValue?.hasSuffix("+00:00") == true)

        // DRF-style validation: a name in use, another team, missing fields.
        #expect(try admin.post(Self.base + "/projects/create", .object(["name": .string(name), "team": .number(team)])).json["name"]?.arrayValue?.count == 1)
        let foreign = try admin.post(Self.base + "/projects/create", .object(["name": .string(name + "x"), "team": .number(team + 1000)]))
        #expect(foreign.status == 400 && foreign.json["team"]?.arrayValue?.count == 1)
        #expect(try admin.post(Self.base + "/projects/create/", .object([:])).json == .object([
            "name": .array([.string("is required")]), "team": .array([.string("is required")]),
        ]))

        for path in ["/projects/\(pk)", "/projects/\(pk)/"] {
            let read = try admin.get(Self.base + path)
            #expect(read.status == 200 && read.json == created, "\(path)")
        }
        let put = try admin.request("PUT", Self.base + "/projects/\(pk)", json: .object([
            "pk": .number(Double(pk)), "name": .string(name + "-put"), "team": .number(team), "creator": .null, "creation_time": .string("x"),
            "deletion_time": .null,
        ]))
        #expect(put.status == 200 && put.json["name"] == .string(name + "-put") && put.json["creation_time"] == created["creation_time"], "\(put.text)")
        #expect(try admin.request("PUT", Self.base + "/projects/\(pk)/", json: .object(["name": .string("n")])).json["team"] != nil)
        let patched = try admin.patch(Self.base + "/projects/\(pk)/", .object(["name": .string(name + "-patch")]))
        #expect(patched.status == 200 && patched.json["name"] == .string(name + "-patch"))

        // Soft delete → 204, then 404 (DRF's detail); include_inactive shows it with its deletion_time.
        #expect(try admin.delete(Self.base + "/projects/\(pk)").status == 204)
        let gone = try admin.get(Self.base + "/projects/\(pk)")
        #expect(gone.status == 404 && gone.json == .object(["detail": .string("Not found.")]))
        #expect(try admin.delete(Self.base + "/projects/\(pk)/").status == 404)
        let spec = #"{"expressions": [{"type": "exact", "field": "pk", "value": \#(pk)}], "include_inactive": true}"#
        let listed = try Self.list(admin, spec)
        #expect(listed.json.arrayValue?.first?["deletion_time"]?.stringValue?.hasSuffix("+00:00") == true, "\(listed.text)")
        #expect(try Self.list(admin, #"{"expressions": [{"type": "exact", "field": "pk", "value": \#(pk)}]}"#).json == .array([]))

        // Reinstate and hard delete: owner only; each answers the project as JSON.
        let manager = server.client(token: try Self.session(server, role: "manager").access)
        #expect(try manager.delete(Self.base + "/projects/\(pk)/reinstate").status == 403)
        let reinstated = try admin.delete(Self.base + "/projects/\(pk)/reinstate/")
        #expect(reinstated.status == 200 && reinstated.header("Content-Type") == "application/json" && reinstated.json["deletion_time"] == .null)
        #expect(try admin.get(Self.base + "/projects/\(pk)").status == 200)
        #expect(try manager.delete(Self.base + "/projects/\(pk)/hard").status == 403)
        let hard = try admin.delete(Self.base + "/projects/\(pk)/hard")
        #expect(hard.status == 200 && hard.json["pk"] == .number(Double(pk)) && hard.json["name"] == .string(name + "-patch"))
        #expect(try admin.get(Self.base + "/projects/\(pk)").status == 404)
        #expect(try Self.list(admin, spec).json == .array([]))
        #expect(try admin.delete(Self.base + "/projects/\(pk)/hard").status == 404)
    }

    @Test func oneProjectInEveryDialect() throws {
        let server = try Shared.get()
        let admin = server.client()
        let key = try #require(server.adminToken)
        let name = "same-\(RandomID.make(length: 8))"
        let ufdl = try Self.create(admin, name, team: try Self.team(admin))
        // Found through EVRYTHNG by exact name, and natively by its project_id.
        let found = try admin.request("GET", "/compat/evrythng/projects?filter=name%3D\(name)", headers: [("Authorization", key)], token: .some(nil))
        let id = try #require(found.json.arrayValue?.first?["id"]?.stringValue, "\(found.text)")
        #expect(found.json.arrayValue?.count == 1)
        #expect(try admin.get("/api/v2/projects/\(id)/").json["name"] == .string(name))
        let renamed = try admin.request("PUT", "/compat/evrythng/projects/\(id)", json: .object(["name": .string(name + "-e")]),
                                        headers: [("Authorization", key)], token: .some(nil))
        #expect(renamed.status == 200)
        #expect(try admin.get(Self.base + "/projects/\(ufdl["pk"]!.int64Value!)").json["name"] == .string(name + "-e"))
        // And the other way: an EVRYTHNG project in the UFDL list.
        let evt = try admin.request("POST", "/compat/evrythng/projects", json: .object(["name": .string(name + "-evt")]),
                                    headers: [("Authorization", key)], token: .some(nil))
        #expect(evt.status == 201)
        let listed = try Self.list(admin, #"{"expressions": [{"type": "contains", "field": "name", "sub_string": "\#(name)"}], "order_by": [{"field": "name"}]}"#)
        #expect(Self.names(listed) == [name + "-e", name + "-evt"])
    }

    @Test func listWithEachExpressionType() throws {
        let server = try Shared.get()
        let admin = server.client()
        let team = try Self.team(admin)
        let prefix = "flt-\(RandomID.make(length: 8))"
        var pks: [Int64] = []
        for suffix in ["Apple", "apricot", "Banana"] { pks.append(try #require(try Self.create(admin, "\(prefix) \(suffix)", team: team)["pk"]?.int64Value)) }
        let scope = #"{"type": "contains", "field": "name", "sub_string": "\#(prefix)"}"#
        func run(_ expression: String, order: String = "") throws -> [String] {
            let response = try Self.list(admin, #"{"expressions": [\#(scope), \#(expression)]\#(order)}"#)
            #expect(response.status == 200, "\(response.text)")
            return Self.names(response).map { String($0.dropFirst(prefix.count + 1)) }
        }
        #expect(try run(#"{"type": "exact", "field": "name", "value": "\#(prefix) apple", "case_insensitive": true}"#) == ["Apple"])
        #expect(try run(#"{"type": "exact", "field": "name", "value": "\#(prefix) apple"}"#) == [])
        #expect(try run(#"{"type": "contains", "field": "name", "sub_string": "ap"}"#) == ["apricot"])
        #expect(try run(#"{"type": "contains", "field": "name", "sub_string": "AP", "case_insensitive": true, "invert": true}"#) == ["Banana"])
        #expect(try run(#"{"type": "compare", "field": "pk", "operator": ">", "value": \#(pks[0])}"#) == ["apricot", "Banana"])
        #expect(try run(#"{"type": "compare", "field": "creation_time", "operator": "<", "value": "2000-01-01T00:00:00+00:00"}"#) == [])
        #expect(try run(#"{"type": "isnull", "field": "deletion_time"}"#) == ["Apple", "apricot", "Banana"])
        #expect(try run(#"{"type": "isnull", "field": "creator"}"#) == [])
        #expect(try run(#"{"type": "or", "sub_expressions": [{"type": "exact", "field": "pk", "value": \#(pks[2])}, {"type": "and", "sub_expressions": [{"type": "contains", "field": "name", "sub_string": "pp"}, {"type": "exact", "field": "team", "value": \#(Int(team))}]}]}"#)
            == ["Apple", "Banana"])
        #expect(try run(#"{"type": "exact", "field": "pk", "value": \#(pks[1]), "invert": true}"#, order: #", "order_by": [{"field": "pk", "ascending": false}]"#)
            == ["Banana", "Apple"])
        #expect(try run(#"{"type": "isnull", "field": "deletion_time"}"#, order: #", "order_by": [{"field": "name", "nulls_first": true}]"#)
            == ["Apple", "Banana", "apricot"])

        // Body optional; a malformed filter → 400 whose detail says what is wrong.
        #expect(try admin.request("POST", Self.base + "/projects/list/").status == 200)
        for (spec, words) in [(#"{"expressions": [{"type": "regex", "field": "name"}]}"#, "unknown expression type"),
                              (#"{"expressions": [{"type": "contains", "field": "name", "sub_string": ""}]}"#, "must not be empty"),
                              (#"{"expressions": [{"type": "and", "sub_expressions": [\#(scope)]}]}"#, "at least two"),
                              (#"{"expressions": [{"type": "compare", "field": "size", "operator": "<", "value": 1}]}"#, "unknown field size"),
                              (#"{"limit": 5}"#, "unknown key limit"), ("{nope", "JSON")] {
            let response = try Self.list(admin, spec)
            #expect(response.status == 400 && response.json["detail"]?.stringValue?.contains(words) == true, "\(spec): \(response.text)")
        }
    }

    @Test func authorizationAsEverywhere() throws {
        let server = try Shared.get()
        let admin = server.client()
        let team = try Self.team(admin)
        let prefix = "auz-\(RandomID.make(length: 8))"
        let a = try #require(try Self.create(admin, prefix + "-a", team: team)["pk"]?.int64Value)
        let b = try #require(try Self.create(admin, prefix + "-b", team: team)["pk"]?.int64Value)
        let viewer = server.client(token: try Self.session(server, role: "viewer").access)
        #expect(try viewer.get(Self.base + "/projects/\(a)").status == 200)
        #expect(try viewer.post(Self.base + "/projects/create", .object(["name": .string(prefix + "-v"), "team": .number(team)])).status == 403)
        #expect(try viewer.patch(Self.base + "/projects/\(a)", .object(["name": .string("x")])).status == 403)
        #expect(try viewer.delete(Self.base + "/projects/\(a)").status == 403)
        let forbidden = try viewer.delete(Self.base + "/projects/\(a)/hard")
        #expect(forbidden.status == 403 && forbidden.json["detail"] != nil)

        let bID = try #require(try admin.request("GET", "/compat/evrythng/projects?filter=name%3D\(prefix)-b",
                                                 headers: [("Authorization", server.adminToken!)], token: .some(nil)).json.arrayValue?.first?["id"]?.stringValue)
        let scoped = server.client(token: try ProjectsE2E.scopedToken(server, role: "viewer", projects: [bID]))
        let spec = #"{"expressions": [{"type": "contains", "field": "name", "sub_string": "\#(prefix)"}]}"#
        #expect(Self.names(try Self.list(scoped, spec)) == [prefix + "-b"])
        #expect(try scoped.get(Self.base + "/projects/\(a)").status == 403)
        #expect(try scoped.get(Self.base + "/projects/\(b)").status == 200)

        let other = server.client(token: try ProjectsE2E.otherOrganization(server).token)
        for response in [try other.get(Self.base + "/projects/\(a)"), try other.delete(Self.base + "/projects/\(a)/hard"),
                         try other.patch(Self.base + "/projects/\(a)", .object(["name": .string("x")]))] {
            #expect(response.status == 404 && response.json == .object(["detail": .string("Not found.")]))
        }
        #expect(try Self.list(other, spec).json == .array([]))
        #expect(try server.client(token: nil).request("POST", Self.base + "/projects/list", token: .some(nil)).status == 401)
        #expect(try admin.get(Self.base + "/projects/abc").json == .object(["detail": .string("Not found.")]))
        #expect(try admin.get(Self.base + "/datasets/").json == .object(["detail": .string("Not found.")]))
        let wrongMethod = try admin.get(Self.base + "/projects/list")
        #expect(wrongMethod.status == 405 && wrongMethod.json == .object(["detail": .string("Method \"GET\" not allowed.")]))
        #expect(wrongMethod.header("Allow") == "POST")
    }
}
