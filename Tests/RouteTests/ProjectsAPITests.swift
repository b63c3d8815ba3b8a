import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// Helpers for the project suites: unique ids (suites share the `Shared` server), a second organization, scoped tokens.
enum ProjectsE2E {
    static func uid() -> String { RandomID.make(length: 10) }

    /// Creates a project through the API; returns its response (expects 201).
    @discardableResult
    static func create(_ client: HTTPTestClient, _ id: String, name: String? = nil, _ extra: [(String, JSON)] = []) throws -> TestResponse {
        var body = JSONObject([("project_id", JSON.string(id)), ("name", JSON.string(name ?? "Project \(id)"))])
        for (key, value) in extra { body[key] = value }
        let response = try client.post("/api/v2/projects/", .object(body))
        guard response.status == 201 else { throw TestClientError2("create \(id) → \(response.status) \(response.text)") }
        return response
    }

    /// A second organization with an owner (admin-cli on the server's database file, then login over HTTP).
    static func otherOrganization(_ server: any APIServer) throws -> (slug: String, token: String) {
        let slug = "org-\(uid())"
        let owner = "\(slug)-owner"
        for arguments in [["org", "create", slug, "--name", "Other \(slug)"],
                          ["user", "create", owner, "--org", slug, "--role", "owner", "--password", "password-\(slug)"]] {
            let result = try runProgram("admin-cli", ["--db", server.databasePath] + arguments)
            guard result.exitCode == 0 else { throw TestClientError2("admin-cli \(arguments) failed: \(result.stderr)") }
        }
        let login = try server.client().request("POST", "/api/v2/auth/login/", json: .object([
            "username": .string(owner), "password": .string("password-\(slug)"),
        ]), token: .some(nil))
        guard let token = login.json["token"]?.stringValue else { throw TestClientError2("login failed: \(login.text)") }
        return (slug, token)
    }

    /// A token minted by the admin (owner) with `role`, scoped to `projects`.
    static func scopedToken(_ server: any APIServer, role: String, projects: [String]) throws -> String {
        let minted = try server.client().post("/api/v2/tokens/", .object([
            "name": .string("scoped"), "role": .string(role), "projects": .array(projects.map(JSON.string)),
        ]))
        guard minted.status == 201, let token = minted.json["token"]?.stringValue else {
            throw TestClientError2("mint failed: \(minted.status) \(minted.text)")
        }
        return token
    }

    static func ids(_ response: TestResponse) -> [String] {
        response.json["results"]?.arrayValue?.compactMap { $0["project_id"]?.stringValue } ?? []
    }
}

@Suite struct ProjectsAPITests {
    @Test func createRetrievePatchDeleteRestore() throws {
        let server = try Shared.get()
        let admin = server.client()
        let id = "walk-\(ProjectsE2E.uid())"
        let created = try admin.post("/api/v2/projects/", .object([
            "project_id": .string(id), "name": .string("Cold Chain East"), "description": .string("Reefers"),
            "tags": .array([.string(id), .string("cold")]), "custom_fields": .object(["region": .string("east")]),
            "identifiers": .object(["gtin": .string("0001")]), "organization_id": .number(999),
        ]))
        #expect(created.status == 201)
        #expect(created.header("Location") == "/api/v2/projects/\(id)/")
        let body = created.json
        #expect(body["project_id"] == .string(id) && body["name"] == .string("Cold Chain East") && body["favorite"] == .bool(false))
        #expect(body["organization"] == .string("default") && body["created_by"] == .string("admin"))
        #expect(body["tags"] == .array([.string(id), .string("cold")]) && body["custom_fields"]?["region"] == .string("east"))
        #expect(body["identifiers"]?["gtin"] == .string("0001") && body["deleted_at"] == .null)
        #expect(body["device_count"] == .number(0) && body["offline_device_count"] == .number(0))
        let createdAt = try #require(body["created_at"]?.stringValue)
        #expect(Timestamp.parse(createdAt) != nil && createdAt.hasSuffix("Z"))
        #expect(body["updated_at"] == body["created_at"])

        let retrieved = try admin.get("/api/v2/projects/\(id)/")
        #expect(retrieved.status == 200 && retrieved.json == body)
        #expect(try admin.get("/api/v2/projects/\(id)").status == 200)   // slash-less form answers too

        let patched = try admin.patch("/api/v2/projects/\(id)/", .object([
            "name": .string("Cold Chain East (North)"), "favorite": .bool(true),
            "project_id": .string("hijack"), "organization_id": .number(2), "id": .number(7), "created_at": .string("2000-01-01T00:00:00Z"),
        ]))
        #expect(patched.status == 200)
        #expect(patched.json["project_id"] == .string(id) && patched.json["name"] == .string("Cold Chain East (North)"))
        #expect(patched.json["favorite"] == .bool(true) && patched.json["description"] == .string("Reefers"))
        #expect(patched.json["created_at"] == body["created_at"] && patched.json["organization"] == .string("default"))
        #expect(try admin.get("/api/v2/projects/hijack/").status == 404)

        #expect(try admin.delete("/api/v2/projects/\(id)/").status == 204)
        let gone = try admin.get("/api/v2/projects/\(id)/")
        #expect(gone.status == 404 && gone.code == "PROJECT_NOT_FOUND")
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(id)")).isEmpty)
        let scoped = server.client(token: try ProjectsE2E.scopedToken(server, role: "viewer", projects: [id]))
        let trash = try scoped.get("/api/v2/projects/trash/")
        #expect(trash.status == 200 && ProjectsE2E.ids(trash) == [id] && trash.json["count"] == .number(1))
        #expect(trash.json["results"]?.arrayValue?.first?["deleted_at"]?.stringValue != nil)

        let restored = try admin.request("POST", "/api/v2/projects/\(id)/restore/")
        #expect(restored.status == 200 && restored.json["project_id"] == .string(id) && restored.json["deleted_at"] == .null)
        #expect(try admin.get("/api/v2/projects/\(id)/").status == 200)
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(id)")) == [id])
        #expect(try scoped.get("/api/v2/projects/trash/").json["count"] == .number(0))
        let again = try admin.request("POST", "/api/v2/projects/\(id)/restore/")
        #expect(again.status == 409 && again.code == "PROJECT_NOT_IN_TRASH")
    }

    @Test func generatedIDsAndDuplicates() throws {
        let server = try Shared.get()
        let admin = server.client()
        let generated = try admin.post("/api/v2/projects/", .object(["name": .string("No id")]))
        #expect(generated.status == 201)
        let id = try #require(generated.json["project_id"]?.stringValue)
        #expect(id.hasPrefix("proj_") && generated.header("Location") == "/api/v2/projects/\(id)/")
        let duplicate = try admin.post("/api/v2/projects/", .object(["project_id": .string(id), "name": .string("Again")]))
        #expect(duplicate.status == 409 && duplicate.code == "PROJECT_EXISTS")
        // Globally unique: another organization cannot take it either.
        let other = server.client(token: try ProjectsE2E.otherOrganization(server).token)
        #expect(try other.post("/api/v2/projects/", .object(["project_id": .string(id), "name": .string("Mine")])).status == 409)
    }

    @Test func listIsOrderedFilteredAndPaginated() throws {
        let server = try Shared.get()
        let admin = server.client()
        let tag = "tag-\(ProjectsE2E.uid())"
        let ids = (0..<4).map { "ord-\($0)-\(tag)" }
        try ProjectsE2E.create(admin, ids[0], name: "Alpha Greenhouse",
                               [("tags", .array([.string(tag)])), ("identifiers", .object(["gtin": .string(tag)]))])
        usleep(5_000)   // distinct updated_at milliseconds, so the expected order does not hinge on pk ties
        try ProjectsE2E.create(admin, ids[1], name: "Beta Cold Room", [("tags", .array([.string(tag), .string("cold")])), ("favorite", .bool(true))])
        usleep(5_000)
        try ProjectsE2E.create(admin, ids[2], name: "Gamma GREENHOUSE", [("tags", .array([.string(tag)]))])
        usleep(5_000)
        try ProjectsE2E.create(admin, ids[3], name: "Delta", [("tags", .array([.string(tag)])), ("favorite", .bool(true))])
        let list = try admin.get("/api/v2/projects/?tag=\(tag)")
        #expect(list.status == 200 && list.json["count"] == .number(4))
        #expect(ProjectsE2E.ids(list) == [ids[3], ids[1], ids[2], ids[0]])   // favorite desc, updated_at desc, pk
        #expect(list.json["next"] == .null && list.json["previous"] == .null)
        // Touching a project moves it up within its favorite group.
        usleep(5_000)
        #expect(try admin.patch("/api/v2/projects/\(ids[0])/", .object(["description": .string("touched")])).status == 200)
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(tag)")) == [ids[3], ids[1], ids[0], ids[2]])

        #expect(Set(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(tag)&search=greenhouse"))) == [ids[0], ids[2]])
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(tag)&search=COLD%20room")) == [ids[1]])
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(tag)&tag=cold")) == [ids[1]])
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(tag)&favorite=true")) == [ids[3], ids[1]])
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?tag=\(tag)&favorite=false")) == [ids[0], ids[2]])
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?identifiers.gtin=\(tag)")) == [ids[0]])
        #expect(ProjectsE2E.ids(try admin.get("/api/v2/projects/?identifiers.gtin=\(tag)&identifiers.epc=x")).isEmpty)

        let first = try admin.get("/api/v2/projects/?tag=\(tag)&page_size=3")
        #expect(ProjectsE2E.ids(first).count == 3 && first.json["count"] == .number(4))
        let next = try #require(first.json["next"]?.stringValue)
        #expect(next.contains("page=2") && next.contains("tag=\(tag)"))
        let second = try admin.get("/api/v2/projects/?tag=\(tag)&page_size=3&page=2")
        #expect(ProjectsE2E.ids(second) == [ids[2]] && second.json["next"] == .null && second.json["previous"]?.stringValue != nil)
        let past = try admin.get("/api/v2/projects/?tag=\(tag)&page=50")
        #expect(past.status == 200 && ProjectsE2E.ids(past).isEmpty && past.json["count"] == .number(4))
        #expect(try admin.get("/api/v2/projects/?tag=\(tag)&page_size=1000").json["results"]?.arrayValue?.count == 4)   // clamped to 100
    }

    @Test func putAndUnknownMethodsAre405() throws {
        let server = try Shared.get()
        let admin = server.client()
        let id = "put-\(ProjectsE2E.uid())"
        try ProjectsE2E.create(admin, id)
        let put = try admin.request("PUT", "/api/v2/projects/\(id)/", json: .object(["name": .string("Replaced")]))
        #expect(put.status == 405 && put.code == "METHOD_NOT_ALLOWED")
        #expect(put.header("Allow") == "DELETE, GET, HEAD, PATCH")
        #expect(try admin.request("DELETE", "/api/v2/projects/").status == 405)
        #expect(try admin.request("PATCH", "/api/v2/projects/\(id)/transfer/", json: .object([:])).status == 405)
        #expect(try admin.get("/api/v2/projects/\(id)/").json["name"] == .string("Project \(id)"))
    }

    @Test func hardDeleteAndDeletingATrashedProjectRemoveItForGood() throws {
        let server = try Shared.get()
        let admin = server.client()
        let hard = "hard-\(ProjectsE2E.uid())"
        let twice = "twice-\(ProjectsE2E.uid())"
        try ProjectsE2E.create(admin, hard)
        try ProjectsE2E.create(admin, twice)
        let scoped = server.client(token: try ProjectsE2E.scopedToken(server, role: "viewer", projects: [hard, twice]))
        #expect(try admin.delete("/api/v2/projects/\(hard)/?hard=true").status == 204)
        #expect(try scoped.get("/api/v2/projects/trash/").json["count"] == .number(0))
        #expect(try admin.delete("/api/v2/projects/\(twice)/").status == 204)
        #expect(ProjectsE2E.ids(try scoped.get("/api/v2/projects/trash/")) == [twice])
        #expect(try admin.delete("/api/v2/projects/\(twice)/").status == 204)
        #expect(try scoped.get("/api/v2/projects/trash/").json["count"] == .number(0))
        for id in [hard, twice] {
            #expect(try admin.get("/api/v2/projects/\(id)/").status == 404)
            #expect(try admin.delete("/api/v2/projects/\(id)/").code == "PROJECT_NOT_FOUND")
            #expect(try admin.request("POST", "/api/v2/projects/\(id)/restore/").status == 404)
        }
        // Purged ids can be used again.
        #expect(try admin.post("/api/v2/projects/", .object(["project_id": .string(hard), "name": .string("Reborn")])).status == 201)
    }

    @Test func transferMovesTheProjectWithTheSeedMessages() throws {
        let server = try Shared.get()
        let admin = server.client()
        let (slug, otherToken) = try ProjectsE2E.otherOrganization(server)
        let other = server.client(token: otherToken)
        let id = "move-\(ProjectsE2E.uid())"
        try ProjectsE2E.create(admin, id)
        let manager = try server.client(asNewUser: "manager")

        let unknown = try manager.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .string("no-such-\(ProjectsE2E.uid())")]))
        #expect(unknown.status == 404 && unknown.json["detail"] == .string("目标组织不存在"))
        let same = try manager.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .string("default")]))
        #expect(same.status == 400 && same.json["detail"] == .string("项目已属于目标组织"))
        let missing = try manager.post("/api/v2/projects/\(id)/transfer/", .object([:]))
        #expect(missing.status == 400 && missing.json["fields"]?["target_org_slug"] != nil)

        let moved = try manager.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .string(slug)]))
        #expect(moved.status == 200 && moved.json["organization"] == .string(slug) && moved.json["project_id"] == .string(id))
        // Read-your-writes on both sides: gone from the source at once, present in the target at once.
        #expect(try admin.get("/api/v2/projects/\(id)/").status == 404)
        #expect(try manager.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .string("default")])).status == 404)
        #expect(try other.get("/api/v2/projects/\(id)/").json["organization"] == .string(slug))
        #expect(ProjectsE2E.ids(try other.get("/api/v2/projects/")).contains(id))
        // The new owner can send it back.
        let back = try other.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .string("default")]))
        #expect(back.status == 200 && back.json["organization"] == .string("default"))
        #expect(try admin.get("/api/v2/projects/\(id)/").status == 200)
    }

    @Test func aClientNeverReadsItsOwnWriteStale() throws {
        let server = try Shared.get()
        let admin = server.client()
        let (slug, otherToken) = try ProjectsE2E.otherOrganization(server)
        let other = server.client(token: otherToken)
        let id = "ryw-\(ProjectsE2E.uid())"
        try ProjectsE2E.create(admin, id, [("tags", .array([.string(id)]))])
        let list = "/api/v2/projects/?tag=\(id)"
        for round in 1...5 {
            // Warm every cache entry, write, read at once.
            _ = try admin.get("/api/v2/projects/\(id)/")
            _ = try admin.get(list)
            let name = "Round \(round)"
            #expect(try admin.patch("/api/v2/projects/\(id)/", .object(["name": .string(name)])).status == 200)
            #expect(try admin.get("/api/v2/projects/\(id)/").json["name"] == .string(name))
            #expect(try admin.get(list).json["results"]?.arrayValue?.first?["name"] == .string(name))
        }
        _ = try other.get(list)
        #expect(try admin.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .string(slug)])).status == 200)
        #expect(try admin.get("/api/v2/projects/\(id)/").status == 404)
        #expect(ProjectsE2E.ids(try admin.get(list)).isEmpty)
        #expect(ProjectsE2E.ids(try other.get(list)) == [id])
        _ = try other.get("/api/v2/projects/\(id)/")
        #expect(try other.delete("/api/v2/projects/\(id)/").status == 204)
        #expect(try other.get("/api/v2/projects/\(id)/").status == 404)
        #expect(ProjectsE2E.ids(try other.get(list)).isEmpty)
        #expect(try other.request("POST", "/api/v2/projects/\(id)/restore/").status == 200)
        #expect(try other.get("/api/v2/projects/\(id)/").status == 200)
        #expect(ProjectsE2E.ids(try other.get(list)) == [id])
    }

    @Test func adminCLIListsAndPurgesTheTrash() throws {
        // Own server: purging the trash would otherwise remove other suites' trashed projects.
        let server = try InProcessServer()
        let admin = server.client()
        try ProjectsE2E.create(admin, "cli-keep", name: "Keep me")
        try ProjectsE2E.create(admin, "cli-bin")
        #expect(try admin.delete("/api/v2/projects/cli-bin/").status == 204)
        let list = try runProgram("admin-cli", ["--db", server.databasePath, "projects", "list", "--org", "default", "--json"])
        #expect(list.exitCode == 0)
        let projects = try JSONParser.parse(list.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(projects.arrayValue?.compactMap { $0["project_id"]?.stringValue } == ["cli-keep"])
        let text = try runProgram("admin-cli", ["--db", server.databasePath, "projects", "list", "--org", "default"])
        #expect(text.stdout.hasPrefix("cli-keep\tKeep me"))
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "projects", "list", "--org", "nope"]).exitCode == 1)
        let kept = try runProgram("admin-cli", ["--db", server.databasePath, "projects", "purge-trash"])
        #expect(kept.exitCode == 0 && kept.stdout.contains("purged 0 projects"))
        let purged = try runProgram("admin-cli", ["--db", server.databasePath, "projects", "purge-trash", "--older-than", "0s"])
        #expect(purged.exitCode == 0 && purged.stdout.contains("purged 1 project"))
        #expect(try admin.get("/api/v2/projects/trash/").json["count"] == .number(0))
        #expect(try admin.request("POST", "/api/v2/projects/cli-bin/restore/").status == 404)
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "projects", "purge-trash", "--older-than", "x"]).exitCode == 2)
    }
}

extension ProjectsAPITests {
    /// The scope checker on every route: owner/manager/viewer, project-scoped tokens, another organization, no token.
    @Suite struct Authorization {
        @Test func matrixOnEveryRoute() throws {
            let server = try Shared.get()
            let admin = server.client()
            let u = ProjectsE2E.uid()
            let (a, b, t) = ("auth-a-\(u)", "auth-b-\(u)", "auth-t-\(u)")
            for id in [a, b, t] { try ProjectsE2E.create(admin, id, [("tags", .array([.string(u)]))]) }
            #expect(try admin.delete("/api/v2/projects/\(t)/").status == 204)
            let manager = server.client(token: try Shared.user(server, role: "manager").token)
            let viewer = server.client(token: try Shared.user(server, role: "viewer").token)
            let scopedManager = server.client(token: try ProjectsE2E.scopedToken(server, role: "manager", projects: [a, t]))
            let scopedViewer = server.client(token: try ProjectsE2E.scopedToken(server, role: "viewer", projects: [a]))
            let (otherSlug, otherToken) = try ProjectsE2E.otherOrganization(server)
            let other = server.client(token: otherToken)
            let anonymous = server.client()

            func check(_ client: HTTPTestClient, _ method: String, _ path: String, _ body: JSON? = nil, _ expected: Int,
                       _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                let response = try client.request(method, path, json: body)
                #expect(response.status == expected, "\(label): \(method) \(path) → \(response.status) \(response.text)",
                        sourceLocation: sourceLocation)
                if expected == 404 {
                    #expect(response.code == "PROJECT_NOT_FOUND" && response.json["name"] == nil, sourceLocation: sourceLocation)
                }
                if expected == 403 { #expect(response.code == "FORBIDDEN", sourceLocation: sourceLocation) }
            }
            let patch: JSON = .object(["description": .string("matrix")])
            let transfer: JSON = .object(["target_org_slug": .string(otherSlug)])

            // No token: 401 everywhere.
            for (method, path) in [("GET", "/api/v2/projects/"), ("POST", "/api/v2/projects/"), ("GET", "/api/v2/projects/trash/"),
                                   ("GET", "/api/v2/projects/\(a)/"), ("PATCH", "/api/v2/projects/\(a)/"), ("DELETE", "/api/v2/projects/\(a)/"),
                                   ("POST", "/api/v2/projects/\(t)/restore/"), ("POST", "/api/v2/projects/\(a)/transfer/")] {
                let body: JSON? = method == "GET" || method == "DELETE" ? nil : .object([:])
                let response = try anonymous.request(method, path, json: body, token: .some(nil))
                #expect(response.status == 401 && response.code == "UNAUTHORIZED", "\(method) \(path)")
            }

            // List: everyone 200; a scoped token sees only its projects; another org sees none of ours.
            #expect(Set(ProjectsE2E.ids(try viewer.get("/api/v2/projects/?tag=\(u)"))) == [a, b])
            #expect(ProjectsE2E.ids(try scopedManager.get("/api/v2/projects/")) == [a])
            #expect(try scopedManager.get("/api/v2/projects/").json["count"] == .number(1))
            #expect(ProjectsE2E.ids(try scopedViewer.get("/api/v2/projects/?tag=\(u)")) == [a])
            #expect(try other.get("/api/v2/projects/?tag=\(u)").json["count"] == .number(0))

            // Trash list: same rules.
            #expect(ProjectsE2E.ids(try scopedManager.get("/api/v2/projects/trash/")) == [t])
            #expect(try scopedViewer.get("/api/v2/projects/trash/").json["count"] == .number(0))
            #expect(ProjectsE2E.ids(try viewer.get("/api/v2/projects/trash/?page_size=100")).contains(t))
            #expect(!ProjectsE2E.ids(try other.get("/api/v2/projects/trash/?page_size=100")).contains(t))

            // Create: managers with all-projects tokens only.
            let create: (String) -> JSON = { .object(["project_id": .string("\($0)-\(u)"), "name": .string("Created")]) }
            try check(manager, "POST", "/api/v2/projects/", create("by-manager"), 201, "manager creates")
            try check(viewer, "POST", "/api/v2/projects/", create("by-viewer"), 403, "viewer creates")
            try check(scopedManager, "POST", "/api/v2/projects/", create("by-scoped"), 403, "scoped token creates")
            try check(other, "POST", "/api/v2/projects/", create("by-other"), 201, "other org creates its own")
            #expect(try admin.get("/api/v2/projects/by-other-\(u)/").status == 404)

            // Retrieve.
            for (client, label) in [(manager, "manager"), (viewer, "viewer"), (scopedManager, "scoped manager"), (scopedViewer, "scoped viewer")] {
                try check(client, "GET", "/api/v2/projects/\(a)/", nil, 200, label)
            }
            try check(scopedManager, "GET", "/api/v2/projects/\(b)/", nil, 403, "scoped outside")
            try check(scopedManager, "GET", "/api/v2/projects/\(t)/", nil, 404, "trashed")
            try check(other, "GET", "/api/v2/projects/\(a)/", nil, 404, "other org")

            // PATCH.
            try check(manager, "PATCH", "/api/v2/projects/\(a)/", patch, 200, "manager")
            try check(scopedManager, "PATCH", "/api/v2/projects/\(a)/", patch, 200, "scoped manager inside")
            try check(viewer, "PATCH", "/api/v2/projects/\(a)/", patch, 403, "viewer")
            try check(scopedViewer, "PATCH", "/api/v2/projects/\(a)/", patch, 403, "scoped viewer")
            try check(scopedManager, "PATCH", "/api/v2/projects/\(b)/", patch, 403, "scoped outside")
            try check(other, "PATCH", "/api/v2/projects/\(a)/", patch, 404, "other org")

            // Transfer: owner/manager with an all-projects token; scoped tokens never.
            try check(viewer, "POST", "/api/v2/projects/\(a)/transfer/", transfer, 403, "viewer")
            try check(scopedManager, "POST", "/api/v2/projects/\(a)/transfer/", transfer, 403, "scoped manager inside")
            try check(scopedManager, "POST", "/api/v2/projects/\(b)/transfer/", transfer, 403, "scoped outside")
            try check(other, "POST", "/api/v2/projects/\(a)/transfer/", .object(["target_org_slug": .string("default")]), 404, "other org")

            // Restore (of the trashed t).
            try check(viewer, "POST", "/api/v2/projects/\(t)/restore/", nil, 403, "viewer")
            try check(scopedViewer, "POST", "/api/v2/projects/\(t)/restore/", nil, 403, "scoped viewer outside")
            try check(other, "POST", "/api/v2/projects/\(t)/restore/", nil, 404, "other org")
            try check(scopedManager, "POST", "/api/v2/projects/\(t)/restore/", nil, 200, "scoped manager inside")

            // DELETE.
            try check(viewer, "DELETE", "/api/v2/projects/\(a)/", nil, 403, "viewer")
            try check(scopedViewer, "DELETE", "/api/v2/projects/\(a)/", nil, 403, "scoped viewer")
            try check(scopedManager, "DELETE", "/api/v2/projects/\(b)/", nil, 403, "scoped outside")
            try check(other, "DELETE", "/api/v2/projects/\(a)/", nil, 404, "other org")
            try check(other, "DELETE", "/api/v2/projects/\(a)/?hard=true", nil, 404, "other org, hard")
            try check(scopedManager, "DELETE", "/api/v2/projects/\(a)/", nil, 204, "scoped manager inside")
            try check(manager, "DELETE", "/api/v2/projects/\(b)/?hard=true", nil, 204, "manager, hard")

            // Nothing of ours moved or leaked: t is back, a is in the trash, b is gone.
            #expect(try admin.get("/api/v2/projects/\(t)/").json["organization"] == .string("default"))
            #expect(ProjectsE2E.ids(try scopedManager.get("/api/v2/projects/trash/")) == [a])
            #expect(try admin.get("/api/v2/projects/\(b)/").status == 404)
        }
    }

    /// Bad input on every route.
    @Suite struct BadInput {
        @Test func malformedJSONAndWrongContentTypeOnEveryWriteRoute() throws {
            let server = try Shared.get()
            let admin = server.client()
            let id = "bad-\(ProjectsE2E.uid())"
            try ProjectsE2E.create(admin, id)
            let routes = [("POST", "/api/v2/projects/"), ("PATCH", "/api/v2/projects/\(id)/"), ("POST", "/api/v2/projects/\(id)/transfer/")]
            for (method, path) in routes {
                for raw in ["{", "{\"name\": }", "[1,]", "\u{FF}", ""] {
                    let response = try admin.request(method, path, rawBody: Array(raw.utf8))
                    #expect(response.status == 400 && response.code == "MALFORMED_JSON", "\(method) \(path) \(raw)")
                }
                let wrongType = try admin.request(method, path, rawBody: Array("name=x".utf8), headers: [("Content-Type", "text/plain")])
                #expect(wrongType.status == 415 && wrongType.code == "UNSUPPORTED_MEDIA_TYPE", "\(method) \(path)")
                let form = try admin.request(method, path, rawBody: Array("name=x".utf8),
                                             headers: [("Content-Type", "application/x-www-form-urlencoded")])
                #expect(form.status == 415, "\(method) \(path)")
                let notObject = try admin.request(method, path, json: .array([.string("x")]))
                #expect(notObject.status == 400 && notObject.code == "VALIDATION_ERROR", "\(method) \(path)")
            }
            #expect(try admin.get("/api/v2/projects/\(id)/").json["name"] == .string("Project \(id)"))
        }

        @Test func validationErrorsNameEveryField() throws {
            let server = try Shared.get()
            let admin = server.client()
            let id = "val-\(ProjectsE2E.uid())"
            try ProjectsE2E.create(admin, id)
            func fields(_ response: TestResponse) -> Set<String> { Set(response.json["fields"]?.objectValue?.keys ?? []) }

            let create = try admin.post("/api/v2/projects/", .object([
                "name": .number(3), "favorite": .string("yes"), "tags": .array([.number(1)]), "custom_fields": .array([]),
                "identifiers": .object(["gtin": .number(5)]), "colour": .string("red"), "description": .bool(true),
            ]))
            #expect(create.status == 400 && create.code == "VALIDATION_ERROR")
            #expect(fields(create) == ["name", "favorite", "tags", "custom_fields", "identifiers", "colour", "description"])
            #expect(create.json["fields"]?["colour"] == .string("unknown field"))
            #expect(fields(try admin.post("/api/v2/projects/", .object([:]))) == ["name"])

            let oversized: [(String, JSON)] = [
                ("name", .string(String(repeating: "n", count: 201))),
                ("description", .string(String(repeating: "d", count: 2001))),
                ("tags", .array([.string(String(repeating: "t", count: 61))])),
                ("tags", .array((0..<51).map { .string("t\($0)") })),
                ("custom_fields", .object(["blob": .string(String(repeating: "x", count: 17_000))])),
                ("identifiers", .object(["gtin": .string(String(repeating: "9", count: 201))])),
            ]
            for (field, value) in oversized {
                let post = try admin.post("/api/v2/projects/", .object(["name": .string("N"), field: value]))
                #expect(post.status == 400 && fields(post) == (field == "name" ? ["name"] : [field]), "create \(field)")
                let patch = try admin.patch("/api/v2/projects/\(id)/", .object([field: value]))
                #expect(patch.status == 400 && fields(patch) == [field], "patch \(field)")
            }
            for bad in ["UPPER", "x", "-dash", "_under", "with space", "trash", "ü-nicode", String(repeating: "a", count: 65), ""] {
                let response = try admin.post("/api/v2/projects/", .object(["project_id": .string(bad), "name": .string("N")]))
                #expect(response.status == 400 && fields(response) == ["project_id"], "project_id \(bad)")
            }
            #expect(fields(try admin.post("/api/v2/projects/", .object(["project_id": .number(12), "name": .string("N")]))) == ["project_id"])

            let patch = try admin.patch("/api/v2/projects/\(id)/", .object(["name": .null, "favorite": .number(1), "bogus": .bool(true)]))
            #expect(patch.status == 400 && fields(patch) == ["name", "favorite", "bogus"])
            let transfer = try admin.post("/api/v2/projects/\(id)/transfer/", .object(["target_org_slug": .number(1), "extra": .null]))
            #expect(transfer.status == 400 && fields(transfer) == ["target_org_slug", "extra"])
            // Nothing was applied.
            let unchanged = try admin.get("/api/v2/projects/\(id)/")
            #expect(unchanged.json["name"] == .string("Project \(id)") && unchanged.json["organization"] == .string("default"))
        }

        @Test func badQueryParametersAre400() throws {
            let server = try Shared.get()
            let admin = server.client()
            let id = "query-\(ProjectsE2E.uid())"
            try ProjectsE2E.create(admin, id)
            for path in ["/api/v2/projects/", "/api/v2/projects/trash/"] {
                for query in ["page=0", "page=-1", "page=abc", "page_size=0", "page_size=x", "page=1.5"] {
                    let response = try admin.get("\(path)?\(query)")
                    #expect(response.status == 400 && response.code == "VALIDATION_ERROR", "\(path)?\(query)")
                }
            }
            for query in ["favorite=maybe", "favorite=", "tag=", "identifiers.=x", "identifiers.gtin=",
                          "search=\(String(repeating: "s", count: 201))", "tag=\(String(repeating: "t", count: 61))"] {
                let response = try admin.get("/api/v2/projects/?\(query)")
                #expect(response.status == 400 && response.code == "VALIDATION_ERROR", "\(query)")
            }
            #expect(try admin.get("/api/v2/projects/?search=%ZZ").status == 400)
            let hard = try admin.delete("/api/v2/projects/\(id)/?hard=perhaps")
            #expect(hard.status == 400 && hard.json["fields"]?["hard"] != nil)
            #expect(try admin.get("/api/v2/projects/\(id)/").status == 200)   // the bad DELETE did nothing
            // Ids that cannot exist are simply not found.
            for path in ["/api/v2/projects/NOT%20VALID/", "/api/v2/projects/\(String(repeating: "a", count: 300))/",
                         "/api/v2/projects/%E2%9C%93/"] {
                let response = try admin.get(path)
                #expect(response.status == 404 && response.code == "PROJECT_NOT_FOUND", "\(path)")
            }
            #expect(try admin.request("POST", "/api/v2/projects/nope-\(ProjectsE2E.uid())/restore/").code == "PROJECT_NOT_FOUND")
            #expect(try admin.post("/api/v2/projects/nope-\(ProjectsE2E.uid())/transfer/", .object(["target_org_slug": .string("default")])).code
                    == "PROJECT_NOT_FOUND")
        }

        @Test func hostilePayloadsNeverCrashTheServer() throws {
            let server = try Shared.get()
            let admin = server.client()
            let id = "hostile-\(ProjectsE2E.uid())"
            try ProjectsE2E.create(admin, id)
            let payloads: [[UInt8]] = [
                Array(String(repeating: "[", count: 50_000).utf8),
                Array(#"{"name": "\ud800"}"#.utf8),
                [0x00, 0x01, 0x02],
                Array(#"{"name": "x", "custom_fields": {"a": {"b": {"c": {"d": [[[[[[[[[[]]]]]]]]]]}}}}}"#.utf8),
                Array(#"{"name": "x", "favorite": 1e309}"#.utf8),
                Array(("{\"name\": \"" + String(repeating: "名", count: 100_000) + "\"}").utf8),
            ]
            for payload in payloads {
                for (method, path) in [("POST", "/api/v2/projects/"), ("PATCH", "/api/v2/projects/\(id)/")] {
                    let response = try admin.request(method, path, rawBody: payload)
                    #expect((200..<500).contains(response.status), "\(method) \(path) → \(response.status)")
                }
            }
            #expect(try admin.get("/healthz").status == 200)
            #expect(try admin.get("/api/v2/projects/\(id)/").status == 200)
        }
    }
}
