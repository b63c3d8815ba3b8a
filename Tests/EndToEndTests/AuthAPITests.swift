import Core
import Foundation
import Testing
import TestSupport

@Suite struct AuthAPITests {
    @Test func meDescribesTheCaller() throws {
        let server = try Shared.get()
        let me = try server.client().get("/api/v2/me/")
        #expect(me.status == 200)
        #expect(me.json["user"]?["username"] == .string("admin"))
        #expect(me.json["organization"]?["slug"] == .string("default"))
        #expect(me.json["token"]?["role"] == .string("owner"))
        #expect(me.json["token"]?["all_projects"] == .bool(true))
    }

    @Test func missingOrBadTokensAre401WithTheEnvelope() throws {
        let server = try Shared.get()
        for token: String? in [nil, "iot_nonsense", ""] {
            let response = try server.client().request("GET", "/api/v2/me/", token: .some(token))
            #expect(response.status == 401)
            #expect(response.code == "UNAUTHORIZED")
        }
        let basic = try server.client().request("GET", "/api/v2/me/", headers: [("Authorization", "Basic YTpi")], token: .some(nil))
        #expect(basic.status == 401)
    }

    @Test func loginThenMintAScopedTokenForAnIntegrator() throws {
        let server = try Shared.get()
        let manager = try server.client(asNewUser: "manager")
        let minted = try manager.post("/api/v2/tokens/", .object([
            "name": .string("integrator"), "role": .string("viewer"), "projects": .array([.string("cold-chain-east")]),
            "expires_in": .string("7d"),
        ]))
        #expect(minted.status == 201)
        let id = try #require(minted.json["id"]?.int64Value)
        #expect(minted.header("Location") == "/api/v2/tokens/\(id)/")
        let secret = try #require(minted.json["token"]?.stringValue)
        let integrator = server.client(token: secret)
        let me = try integrator.get("/api/v2/me/")
        #expect(me.json["token"]?["role"] == .string("viewer"))
        #expect(me.json["token"]?["projects"] == .array([.string("cold-chain-east")]))
        #expect(me.json["token"]?["all_projects"] == .bool(false))
        // The secret is never shown again.
        let detail = try manager.get("/api/v2/tokens/\(id)/")
        #expect(detail.status == 200 && detail.json["token"] == nil)
        #expect(!detail.text.contains(secret))
        // A viewer cannot mint, and a scoped token cannot widen itself.
        #expect(try integrator.post("/api/v2/tokens/", .object([:])).status == 403)
        // Revoked → 401 at once.
        #expect(try manager.delete("/api/v2/tokens/\(id)/").status == 204)
        #expect(try integrator.get("/api/v2/me/").status == 401)
    }

    @Test func tokenCannotMintMoreRightsThanItHas() throws {
        let server = try Shared.get()
        let manager = try server.client(asNewUser: "manager")
        let ownerAttempt = try manager.post("/api/v2/tokens/", .object(["role": .string("owner")]))
        #expect(ownerAttempt.status == 403 && ownerAttempt.code == "FORBIDDEN")
        let scoped = try manager.post("/api/v2/tokens/", .object(["projects": .array([.string("p-one"), .string("p-two")])]))
        let scopedClient = server.client(token: try #require(scoped.json["token"]?.stringValue))
        #expect(try scopedClient.post("/api/v2/tokens/", .object(["all_projects": .bool(true)])).status == 403)
        #expect(try scopedClient.post("/api/v2/tokens/", .object(["projects": .array([.string("p-three")])])).status == 403)
        #expect(try scopedClient.post("/api/v2/tokens/", .object(["projects": .array([.string("p-two")])])).status == 201)
    }

    @Test func tokenListIsPaginatedAndScopedToTheOrganization() throws {
        let server = try Shared.get()
        let (_, viewerToken) = try Shared.user(server, role: "viewer")
        let admin = server.client()
        for _ in 0..<3 { #expect(try admin.post("/api/v2/tokens/", .object(["name": .string("bulk")])).status == 201) }
        let page = try admin.get("/api/v2/tokens/?page=1&page_size=2")
        #expect(page.status == 200)
        #expect(page.json["results"]?.arrayValue?.count == 2)
        #expect((page.json["count"]?.int64Value ?? 0) >= 4)
        #expect(page.json["next"]?.stringValue?.contains("page=2") == true)
        #expect(page.json["previous"] == .null)
        let viewerList = try server.client(token: viewerToken).get("/api/v2/tokens/")
        #expect(viewerList.json["results"]?.arrayValue?.count == 1)
        #expect(try admin.get("/api/v2/tokens/?page=0").status == 400)
        #expect(try admin.get("/api/v2/tokens/?page_size=abc").code == "VALIDATION_ERROR")
    }

    @Test func anotherOrganizationsTokenIsInvisible() throws {
        let server = try Shared.get()
        let org = "other-\(RandomID.make(length: 6))"
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "org", "create", org, "--name", "Other"]).exitCode == 0)
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "user", "create", "\(org)-owner", "--org", org,
                                             "--role", "owner", "--password", "password-123"]).exitCode == 0)
        let minted = try runProgram("admin-cli", ["--db", server.databasePath, "token", "create", "--user", "\(org)-owner", "--json"])
        let json = try JSONParser.parse(minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let otherID = try #require(json["id"]?.int64Value)
        let admin = server.client()
        #expect(try admin.get("/api/v2/tokens/\(otherID)/").status == 404)
        #expect(try admin.delete("/api/v2/tokens/\(otherID)/").status == 404)
        let other = server.client(token: json["token"]?.stringValue)
        #expect(try other.get("/api/v2/me/").json["organization"]?["slug"] == .string(org))
    }

    @Test func loginRejectsBadPasswordsThenRateLimits() throws {
        // Own server: the per-address limit would otherwise lock out other suites' logins.
        let server = try ServerProcess(environment: ["IOT_AUTH_LOGIN_MAX_FAILURES": "3"])
        defer { server.stop() }
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "user", "create", "dora", "--org", "default",
                                             "--role", "viewer", "--password", "dora-password"]).exitCode == 0)
        let client = server.client(token: nil)
        let body: JSON = .object(["username": .string("dora"), "password": .string("wrong-password")])
        for _ in 0..<3 {
            let response = try client.request("POST", "/api/v2/auth/login/", json: body, token: .some(nil))
            #expect(response.status == 401 && response.code == "UNAUTHORIZED")
        }
        let limited = try client.request("POST", "/api/v2/auth/login/", json: .object([
            "username": .string("dora"), "password": .string("dora-password"),
        ]), token: .some(nil))
        #expect(limited.status == 429 && limited.code == "RATE_LIMITED")
        #expect(Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
    }
}
