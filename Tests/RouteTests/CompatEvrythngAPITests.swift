import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// The EVRYTHNG dialect (DESIGN §5.6) as its SDKs speak it: `Authorization: <key>` (raw or `Token <key>`), bodies with
/// nulls, a PUT carrying the whole document back, pagination by following `Link`, its one-item error document.
@Suite struct CompatEvrythngAPITests {
    static let base = "/compat/evrythng"

    /// A request with EVRYTHNG's `Authorization` header (raw key unless `prefix`).
    static func call(_ client: HTTPTestClient, _ method: String, _ path: String, _ body: JSON? = nil, key: String?, prefix: String = "")
        throws -> TestResponse {
        try client.request(method, base + path, json: body, headers: key.map { [("Authorization", prefix + $0)] } ?? [], token: .some(nil))
    }

    /// The one-item error document, never `code`/`detail` of the native envelope.
    static func expectError(_ response: TestResponse, _ status: Int, _ message: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "\(response.status) \(response.text)", sourceLocation: sourceLocation)
        #expect(response.json["status"] == .number(Double(status)), sourceLocation: sourceLocation)
        #expect(response.json["errors"]?.arrayValue?.count == 1, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.json["code"]?.stringValue?.isEmpty == false && response.json["moreInfo"] != nil && response.json["detail"] == nil,
                sourceLocation: sourceLocation)
        if let message { #expect(response.json["errors"]?.arrayValue?.first == .string(message),
                                 "\(response.text)", sourceLocation: sourceLocation) }
    }

    @Test func createReadPutDeleteAsTheSDKDoes() throws {
        let server = try Shared.get()
        let admin = server.client()
        let key = try #require(server.adminToken)
        let tag = "evt-\(RandomID.make(length: 8))"
        let created = try Self.call(admin, "POST", "/projects", .object([
            "name": .string("European Region"), "description": .null, "tags": .array([.string(tag)]),
            "customFields": .object(["region": .string("europe")]), "identifiers": .object(["gtin": .string("0001")]),
            "startsAt": .number(1_510_918_931_000), "endsAt": .null, "shortDomains": .array([.string("tn.gg")]), "scopes": .null,
        ]), key: key)
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.stringValue)
        #expect(created.header("Location") == "http://127.0.0.1:0/compat/evrythng/projects/\(id)")
        #expect(created.json["errors"] == nil && created.json["name"] == .string("European Region") && created.json["description"] == .string(""))
        #expect(created.json["startsAt"] == .number(1_510_918_931_000) && created.json["endsAt"] == nil)
        #expect(created.json["createdAt"]?.int64Value != nil && created.json["createdAt"] == created.json["updatedAt"])

        // `Token <key>` works too; the document reads back the same; the native API sees the same project.
        let read = try Self.call(admin, "GET", "/projects/\(id)", key: key, prefix: "Token ")
        #expect(read.status == 200 && read.json == created.json)
        let native = try admin.get("/api/v2/projects/\(id)/")
        #expect(native.json["name"] == .string("European Region") && native.json["starts_at"] == .string("2017-11-17T11:42:11Z"))
        #expect(native.json["short_domains"] == .array([.string("tn.gg")]) && native.json["custom_fields"]?["region"] == .string("europe"))

        // A PUT carrying the whole document back, with a change and nulls: partial, read-only fields ignored.
        guard case .object(var document) = read.json else { throw TestClientError2("not an object") }
        document["name"] = .string("American Region")
        document["description"] = .null
        document["createdAt"] = .number(1)
        document["customFields"] = .object(["region": .string("america")])
        let updated = try Self.call(admin, "PUT", "/projects/\(id)", .object(document), key: key)
        #expect(updated.status == 200, "\(updated.text)")
        #expect(updated.json["name"] == .string("American Region") && updated.json["customFields"]?["region"] == .string("america"))
        #expect(updated.json["createdAt"] == created.json["createdAt"] && updated.json["tags"] == created.json["tags"])
        #expect(try Self.call(admin, "PUT", "/projects/\(id)", .object(["name": .null]), key: key).json["name"] == .string("American Region"))

        // Unknown fields → 400 in its shape (names as the client spelled them); imageUrl is named as unsupported.
        Self.expectError(try Self.call(admin, "PUT", "/projects/\(id)", .object(["colour": .string("red")]), key: key), 400, "colour: unknown field")
        Self.expectError(try Self.call(admin, "POST", "/projects", .object(["name": .string("x"), "imageUrl": .string("u")]), key: key), 400)
        Self.expectError(try Self.call(admin, "POST", "/projects", .object(["customFields": .number(1)]), key: key), 400)
        let badType = try Self.call(admin, "POST", "/projects", .object(["name": .string("x"), "customFields": .number(1)]), key: key)
        #expect(badType.json["errors"]?.arrayValue?.first?.stringValue?.hasPrefix("customFields:") == true, "\(badType.text)")
        Self.expectError(try Self.call(admin, "POST", "/projects", nil, key: key), 400)

        // DELETE → 200, then 404 everywhere; the project is in our trash.
        let deleted = try Self.call(admin, "DELETE", "/projects/\(id)", key: key)
        #expect(deleted.status == 200 && deleted.json["errors"] == nil)
        Self.expectError(try Self.call(admin, "GET", "/projects/\(id)", key: key), 404, "Project not found.")
        Self.expectError(try Self.call(admin, "DELETE", "/projects/\(id)", key: key), 404, "Project not found.")
        #expect(try admin.get("/api/v2/projects/\(id)/").status == 404)
        #expect(try admin.get("/api/v2/projects/trash/?page_size=100").json["results"]?.arrayValue?.contains { $0["project_id"] == .string(id) } == true)
    }

    @Test func listFollowsLinkToTheEndWithFilters() throws {
        let server = try Shared.get()
        let admin = server.client()
        let key = try #require(server.adminToken)
        let tag = "evl-\(RandomID.make(length: 8))"
        var ids: [String] = []
        for index in 0..<5 {
            let created = try Self.call(admin, "POST", "/projects", .object([
                "name": .string(index == 3 ? "Cold Room North" : "List \(index)"), "tags": .array([.string(tag)]),
                "identifiers": .object(["lot": .string(index.isMultiple(of: 2) ? "even" : "odd")]),
            ]), key: key)
            ids.append(try #require(created.json["id"]?.stringValue, "\(created.text)"))
        }
        func follow(_ first: String) throws -> (ids: [String], pages: Int) {
            var seen: [String] = []
            var path: String? = first
            var pages = 0
            while let next = path {
                let page = try admin.request("GET", next, headers: [("Authorization", key)], token: .some(nil))
                #expect(page.status == 200, "\(page.text)")
                seen += page.json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                pages += 1
                path = nil
                if let link = page.header("Link") {
                    #expect(link.hasPrefix("<http://127.0.0.1:0/compat/evrythng/projects?") && link.hasSuffix(">; rel=\"next\""), "\(link)")
                    let url = String(link.dropFirst().prefix { $0 != ">" })
                    #expect(!url.contains(" ") && url.contains("filter=tags%3D"))
                    path = String(url.dropFirst("http://127.0.0.1:0".count))
                }
                if pages > 10 { break }
            }
            return (seen, pages)
        }
        let filter = "filter=" + PercentEncoding.component("tags=\(tag)")
        let descending = try follow("\(Self.base)/projects?perPage=2&\(filter)")
        #expect(descending.ids == ids.reversed() && descending.pages == 3)
        let ascending = try follow("\(Self.base)/projects?perPage=2&sortOrder=ASCENDING&\(filter)")
        #expect(ascending.ids == ids && ascending.pages == 3)
        #expect(try follow("\(Self.base)/projects?perPage=5&\(filter)").pages == 1)   // no Link on the last page

        // name= (a space as + or %20), identifiers.<key>=, several clauses joined by &.
        for encoded in ["name%3DCold+Room+North", "name%3DCold%2520Room%2520North", "name%3DCold%20Room%20North"] {
            let page = try Self.call(admin, "GET", "/projects?filter=\(encoded)%26tags%3D\(tag)", key: key)
            #expect(page.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[3]], "\(encoded): \(page.text)")
        }
        let odd = try Self.call(admin, "GET", "/projects?filter=identifiers.lot%3Dodd%26tags%3D\(tag)", key: key)
        #expect(Set(odd.json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []) == [ids[1], ids[3]])
        Self.expectError(try Self.call(admin, "GET", "/projects?filter=colour%3Dred", key: key), 400)
        Self.expectError(try Self.call(admin, "GET", "/projects?perPage=0", key: key), 400)
        Self.expectError(try Self.call(admin, "GET", "/projects?nextPageToken=nonsense", key: key), 400)
        // One rule for every out-of-range value (issue 21 §3: 101 used to be read as 100).
        for perPage in ["101", "1000", "-1", "x"] { Self.expectError(try Self.call(admin, "GET", "/projects?perPage=\(perPage)", key: key), 400) }
        #expect(try Self.call(admin, "GET", "/projects?perPage=100&\(filter)", key: key).json.arrayValue?.count == 5)
    }

    @Test func authorizationAsEverywhere() throws {
        let server = try Shared.get()
        let admin = server.client()
        let key = try #require(server.adminToken)
        let tag = "eva-\(RandomID.make(length: 8))"
        func create(_ name: String) throws -> String {
            try #require(try Self.call(admin, "POST", "/projects", .object(["name": .string(name), "tags": .array([.string(tag)])]), key: key)
                .json["id"]?.stringValue)
        }
        let a = try create("A"), b = try create("B")
        let viewer = try Shared.user(server, role: "viewer").token
        #expect(try Self.call(admin, "GET", "/projects/\(a)", key: viewer).status == 200)
        Self.expectError(try Self.call(admin, "PUT", "/projects/\(a)", .object(["name": .string("X")]), key: viewer), 403)
        Self.expectError(try Self.call(admin, "POST", "/projects", .object(["name": .string("X")]), key: viewer), 403)
        Self.expectError(try Self.call(admin, "DELETE", "/projects/\(a)", key: viewer), 403)
        let manager = try Shared.user(server, role: "manager").token
        #expect(try Self.call(admin, "PUT", "/projects/\(a)", .object(["name": .string("A2")]), key: manager).status == 200)

        let scoped = try ProjectsE2E.scopedToken(server, role: "viewer", projects: [b])
        let list = try Self.call(admin, "GET", "/projects?filter=tags%3D\(tag)", key: scoped)
        #expect(list.json.arrayValue?.compactMap { $0["id"]?.stringValue } == [b])
        Self.expectError(try Self.call(admin, "GET", "/projects/\(a)", key: scoped), 403)

        let other = try ProjectsE2E.otherOrganization(server)
        Self.expectError(try Self.call(admin, "GET", "/projects/\(a)", key: other.token), 404, "Project not found.")
        Self.expectError(try Self.call(admin, "PUT", "/projects/\(a)", .object(["name": .string("X")]), key: other.token), 404)
        #expect(try Self.call(admin, "GET", "/projects?filter=tags%3D\(tag)", key: other.token).json == .array([]))

        Self.expectError(try Self.call(admin, "GET", "/projects", key: nil), 401)
        Self.expectError(try Self.call(admin, "GET", "/projects", key: "not-a-token"), 401)
        Self.expectError(try Self.call(admin, "PATCH", "/projects/\(a)", .object([:]), key: key), 405)
        Self.expectError(try Self.call(admin, "GET", "/thngs", key: key), 404)
    }

    @Test func accessAndOperators() throws {
        let server = try Shared.get()
        let admin = server.client()
        let key = try #require(server.adminToken)
        let access = try Self.call(admin, "GET", "/access", key: key)
        #expect(access.status == 200 && access.json["type"] == .string("operator") && access.json["account"] == .string("default"))
        let id = try #require(access.json["actor"]?["id"]?.stringValue)
        let me = try admin.get("/api/v2/me/")
        #expect(me.json["user"]?["id"]?.int64Value.map(String.init) == id)
        let operatorDocument = try Self.call(admin, "GET", "/operators/\(id)", key: key)
        #expect(operatorDocument.status == 200 && operatorDocument.json["id"] == .string(id) && operatorDocument.json["firstName"] == .string("admin"))
        #expect(operatorDocument.json["email"] != nil && operatorDocument.json["lastName"] != nil)
        let other = try ProjectsE2E.otherOrganization(server)
        Self.expectError(try Self.call(admin, "GET", "/operators/\(id)", key: other.token), 404)
        Self.expectError(try Self.call(admin, "GET", "/operators/abc", key: key), 404)
    }
}

/// Percent-encoding of a query component, as a client library does.
enum PercentEncoding {
    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
