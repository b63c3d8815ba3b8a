import Core
import Foundation
import Testing
import TestSupport

/// The dialects over the real server: what only a socket shows (absolute `Link` and `Location` URLs with the real host and
/// port, followed to the end; a UFDL session over the wire).
@Suite struct CompatE2ETests {
    @Test func evrythngPaginationFollowsAbsoluteLinksToTheEnd() throws {
        let server = try Shared.get()
        let key = try #require(server.adminToken)
        let client = server.client(token: nil)
        let tag = "e2e evt \(RandomID.make(length: 6))"   // a space: the Link must stay percent-encoded
        var ids: [String] = []
        for index in 0..<3 {
            let created = try client.request("POST", "/compat/evrythng/projects", json: .object([
                "name": .string("E2E \(index)"), "tags": .array([.string(tag)]), "description": .null,
            ]), headers: [("Authorization", "Token \(key)")], token: .some(nil))
            #expect(created.status == 201, "\(created.text)")
            ids.append(try #require(created.json["id"]?.stringValue))
            #expect(created.header("Location") == "http://127.0.0.1:\(server.port)/compat/evrythng/projects/\(ids.last!)")
        }
        let filter = "tags=\(tag)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        var next: String? = "/compat/evrythng/projects?perPage=1&filter=\(filter)"
        var seen: [String] = []
        while let path = next, seen.count < 10 {
            let page = try client.request("GET", path, headers: [("Authorization", key)], token: .some(nil))
            #expect(page.status == 200, "\(page.text)")
            seen += page.json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            next = nil
            if let link = page.header("Link") {
                let prefix = "<http://127.0.0.1:\(server.port)/compat/evrythng/projects?"
                #expect(link.hasPrefix(prefix) && link.hasSuffix(">; rel=\"next\"") && !link.contains(" e2e"), "\(link)")
                next = String(link.dropFirst("<http://127.0.0.1:\(server.port)".count).prefix { $0 != ">" })
            }
        }
        #expect(seen == ids.reversed())
    }

    @Test func ufdlSessionOverTheWire() throws {
        let server = try Shared.get()
        let user = try Shared.user(server, role: "manager")
        let client = server.client(token: nil)
        let obtained = try client.request("POST", "/compat/ufdl/v1/auth/obtain/", json: .object([
            "username": .string(user.name), "password": .string("secret-\(user.name)"),
        ]), token: .some(nil))
        let access = try #require(obtained.json["access"]?.stringValue, "\(obtained.text)")
        let team = try #require(try server.client(token: access).get("/api/v2/me/").json["organization"]?["id"])
        let name = "e2e-ufdl-\(RandomID.make(length: 6))"
        let created = try server.client(token: access).post("/compat/ufdl/v1/projects/create", .object(["name": .string(name), "team": team]))
        #expect(created.status == 201 && created.json["name"] == .string(name), "\(created.text)")
        let listed = try server.client(token: access).request("POST", "/compat/ufdl/v1/projects/list/", json: .object([
            "expressions": .array([.object(["type": .string("exact"), "field": .string("name"), "value": .string(name)])]),
        ]))
        #expect(listed.json.arrayValue?.map { $0["pk"] } == [created.json["pk"]])
        let missing = try server.client(token: access).get("/compat/ufdl/v1/projects/999999999")
        #expect(missing.status == 404 && missing.json == .object(["detail": .string("Not found.")]))
    }
}
