import Core
import DomainTestSupport
import Exports
import Foundation
import Testing
import TestSupport

/// `data-download-tasks/`, `data-download-schedules/` and the pre-signed `downloads/{token}` through the platform's
/// responder: validation, the authorization matrix, 405 with Allow, the per-organization cap, and downloads with
/// redirects, HEAD, ranges and tampered or expired links.
@Suite(.serialized) struct ExportsAPITests {
    /// A project with a bound device holding `points` points of series `-01`; returns its paths.
    static func setup(_ server: InProcessServer, points: Int = 10) throws -> (client: HTTPTestClient, project: String, pk: Int64, agriID: String) {
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        if points > 0 {
            let items: [(String, Double, Int64?)] = (0..<points).map { index -> (String, Double, Int64?) in
                let t = Int64(1_700_000_000) + Int64(index) * 60
                return (device.agriID + "-01", Double(index) * 1.5, t)
            }
            let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points(items))
            #expect(posted.status == 202)
        }
        return (client, project, pk, device.agriID)
    }

    static func body(_ fields: [String: JSON]) -> JSON { .object(JSONObject(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })) }

    static func runScheduler(_ server: InProcessServer) throws { try server.composition.exports.runner.runDue() }

    @Test func createValidatesEveryField() throws {
        let server = try Shared.get()
        let (client, project, pk, agriID) = try Self.setup(server, points: 0)
        let other = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let cases: [([String: JSON], String)] = [
            (["start_time": .int64(0), "format": .string("pdf")], "format"),
            (["start_time": .int64(100), "end_time": .int64(100)], "end_time"),
            (["start_time": .string("yesterday")], "start_time"),
            (["end_time": .int64(100)], "start_time"),
            (["start_time": .int64(0), "device_id": .int64(other.pk)], "device_id"),
            (["start_time": .int64(0), "device_id": .int64(pk), "factors": .array([.string(other.agriID + "-01")])], "factors"),
            (["start_time": .int64(0), "colour": .string("red")], "colour"),
            (["start_time": .int64(0), "name": .string(String(repeating: "n", count: 201))], "name"),
        ]
        for (fields, field) in cases {
            let response = try client.post(base, Self.body(fields))
            #expect(response.status == 400, "\(fields)")
            #expect(response.code == "VALIDATION_ERROR")
            #expect(response.json["fields"]?[field] != nil, "\(field): \(response.text)")
        }
        let created = try client.post(base, Self.body(["start_time": .string("2024-02-01T00:00:00Z"), "end_time": .int64(1_706_918_400),
                                                       "device_id": .int64(pk), "factors": .array([.string(agriID + "-01")]),
                                                       "format": .string("xlsx")]))
        #expect(created.status == 201)
        let id = try #require(created.json["id"]?.int64Value)
        #expect(created.header("Location") == "/api/v2/projects/\(project)/data-download-tasks/\(id)/")
        #expect(created.json["name"]?.stringValue?.hasSuffix("2024-02-01–2024-02-02") == true)
        #expect(created.json["start_time"] == .int64(1_706_745_600))
        #expect(created.json["status"]?.stringValue == "pending")
        #expect(created.json["download_url"] == .null)
        let all = try client.post(base, Self.body(["start_time": .int64(0)]))
        #expect(all.status == 201)
        #expect(all.json["device_id"] == .null)
        #expect(all.json["name"]?.stringValue?.hasPrefix("All devices") == true)
    }

    @Test func listIsNewestFirstPaginatedAndFilteredByStatus() throws {
        let server = try Shared.get()
        let (client, project, pk, _) = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        var ids: [Int64] = []
        for _ in 0..<3 { ids.append(try client.post(base, Self.body(["start_time": .int64(0), "device_id": .int64(pk)])).json["id"]!.int64Value!) }
        #expect(try client.post("\(base)\(ids[0])/cancel/", .object([:])).json["status"]?.stringValue == "cancelled")
        let page = try client.get("\(base)?page_size=2")
        #expect(page.json["count"]?.int64Value == 3)
        #expect(page.json["results"]?.arrayValue?.compactMap { $0["id"]?.int64Value } == [ids[2], ids[1]])
        #expect(page.json["next"]?.stringValue != nil)
        let cancelled = try client.get("\(base)?status=cancelled")
        #expect(cancelled.json["results"]?.arrayValue?.compactMap { $0["id"]?.int64Value } == [ids[0]])
        #expect(try client.get("\(base)?status=done").status == 400)
        #expect(try client.get("\(base)\(ids[1])/").json["id"]?.int64Value == ids[1])
        #expect(try client.get("\(base)999999/").code == "EXPORT_NOT_FOUND")
    }

    @Test func authorizationMatrix() throws {
        let server = try Shared.get()
        let (client, project, pk, _) = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let create = Self.body(["start_time": .int64(0), "device_id": .int64(pk)])
        let id = try #require(try client.post(base, create).json["id"]?.int64Value)
        #expect(try client.request("GET", base, token: .some(nil)).status == 401)
        #expect(try client.request("POST", base, json: create, token: .some("iot_not-a-token")).status == 401)
        let viewer = try Shared.user(server, role: "viewer")
        let asViewer = server.client(token: viewer.token)
        #expect(try asViewer.get(base).status == 200)
        #expect(try asViewer.get("\(base)\(id)/").status == 200)
        #expect(try asViewer.post(base, create).status == 403)
        #expect(try asViewer.post("\(base)\(id)/cancel/", .object([:])).status == 403)
        #expect(try asViewer.delete("\(base)\(id)/").status == 403)
        let stranger = try DeviceAPI.organization(server)
        let asStranger = server.client(token: stranger.token)
        for response in [try asStranger.get(base), try asStranger.get("\(base)\(id)/"), try asStranger.post(base, create)] {
            #expect(response.status == 404)
            #expect(response.code == "PROJECT_NOT_FOUND")
        }
        let elsewhere = try DeviceAPI.project(client)
        let scoped = server.client(token: try DeviceAPI.scopedToken(client, role: "manager", projects: [elsewhere]))
        #expect(try scoped.get(base).status == 403)
        #expect(try scoped.post(base, create).status == 403)
        let schedules = "/api/v2/projects/\(project)/data-download-schedules/"
        #expect(try client.request("GET", schedules, token: .some(nil)).status == 401)
        #expect(try asViewer.get(schedules).status == 200)
        #expect(try asViewer.post(schedules, Self.body(["period": .string("daily")])).status == 403)
        #expect(try asStranger.get(schedules).code == "PROJECT_NOT_FOUND")
    }

    @Test func putAndPatchAre405WithAllow() throws {
        let server = try Shared.get()
        let (client, project, pk, _) = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let id = try #require(try client.post(base, Self.body(["start_time": .int64(0), "device_id": .int64(pk)])).json["id"]?.int64Value)
        for method in ["PUT", "PATCH"] {
            let response = try client.request(method, "\(base)\(id)/", json: .object(["name": .string("x")]))
            #expect(response.status == 405)
            #expect(response.code == "METHOD_NOT_ALLOWED")
            #expect(response.header("Allow") == "DELETE, GET, HEAD")
        }
    }

    @Test func cancelDeleteAndStates() throws {
        let server = try Shared.get()
        let (client, project, pk, _) = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let id = try #require(try client.post(base, Self.body(["start_time": .int64(0), "device_id": .int64(pk)])).json["id"]?.int64Value)
        #expect(try client.get("\(base)\(id)/download/").code == "EXPORT_NOT_READY")
        #expect(try client.get("\(base)\(id)/download/").status == 409)
        let cancelled = try client.post("\(base)\(id)/cancel/", .object([:]))
        #expect(cancelled.status == 200)
        #expect(cancelled.json["status"]?.stringValue == "cancelled")
        let again = try client.post("\(base)\(id)/cancel/", .object([:]))
        #expect(again.status == 400)
        #expect(again.code == "INVALID_TASK_STATE")
        #expect(try client.get("\(base)\(id)/download/").status == 410)
        #expect(try client.delete("\(base)\(id)/").status == 204)
        #expect(try client.get("\(base)\(id)/").status == 404)
        #expect(try client.delete("\(base)\(id)/").status == 404)
    }

    @Test func theOrganizationCapAnswers429() throws {
        let server = try InProcessServer(config: ["exports.max_unfinished_per_org": "2"])
        let (client, project, pk, _) = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let create = Self.body(["start_time": .int64(0), "device_id": .int64(pk)])
        let first = try client.post(base, create)
        #expect(first.status == 201)
        #expect(try client.post(base, create).status == 201)
        let third = try client.post(base, create)
        #expect(third.status == 429)
        #expect(third.code == "RATE_LIMITED")
        #expect(third.header("Retry-After") != nil)
        #expect(try client.post("\(base)\(first.json["id"]!.int64Value!)/cancel/", .object([:])).status == 200)
        #expect(try client.post(base, create).status == 201)
    }

    /// Issue 21 §3: the saved file name is a safe base name, and a link stops working once its project is in the trash.
    @Test func downloadNamesAreSafeAndTrashedProjectsLinksAnswer404() throws {
        let server = try Shared.get()
        let (client, project, pk, _) = try Self.setup(server, points: 3)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let name = "../../../../etc/x\u{202E}vsc.exe\u{1}\r\n\\a"
        let id = try #require(try client.post(base, Self.body(["start_time": .int64(0), "device_id": .int64(pk), "name": .string(name)]))
            .json["id"]?.int64Value)
        try Self.runScheduler(server)
        let url = try #require(try client.get("\(base)\(id)/download/?redirect=false").json["url"]?.stringValue)
        let anonymous = server.client(token: nil)
        let file = try anonymous.request("GET", url, token: .some(nil))
        #expect(file.status == 200)
        let disposition = try #require(file.header("Content-Disposition"))
        #expect(disposition == "attachment; filename=\"etc_x_vsc.exe____a.csv\"; filename*=UTF-8''etc_x_vsc.exe____a.csv",
                "\(disposition)")

        #expect(try client.delete("/api/v2/projects/\(project)/").status == 204)
        #expect(try client.get("\(base)\(id)/").status == 404)
        let after = try anonymous.request("GET", url, token: .some(nil))
        #expect(after.status == 404, "\(after.status) \(after.text)")
        #expect(try anonymous.request("HEAD", url, token: .some(nil)).status == 404)
    }

    @Test func downloadRedirectsToASignedLinkThatServesRangesAndHead() throws {
        let server = try Shared.get()
        let (client, project, pk, agriID) = try Self.setup(server, points: 20)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let id = try #require(try client.post(base, Self.body(["start_time": .int64(0), "device_id": .int64(pk), "name": .string("温室 export")]))
            .json["id"]?.int64Value)
        try Self.runScheduler(server)
        let detail = try client.get("\(base)\(id)/")
        #expect(detail.json["status"]?.stringValue == "succeeded")
        #expect(detail.json["row_count"]?.int64Value == 20)
        #expect(detail.json["download_url"]?.stringValue == "\(base)\(id)/download/")
        let redirect = try client.get("\(base)\(id)/download/")
        #expect(redirect.status == 302)
        let location = try #require(redirect.header("Location"))
        #expect(location.hasPrefix("/api/v2/downloads/"))
        #expect(redirect.json["url"]?.stringValue == location)
        #expect(redirect.json["expires_at"]?.stringValue != nil)
        let plain = try client.get("\(base)\(id)/download/?redirect=false")
        #expect(plain.status == 200)
        let url = try #require(plain.json["url"]?.stringValue)

        let anonymous = server.client(token: nil)
        let file = try anonymous.request("GET", url, token: .some(nil))
        #expect(file.status == 200)
        #expect(file.header("Content-Type") == "text/csv; charset=utf-8")
        #expect(file.header("Content-Length") == String(file.body.count))
        #expect(file.header("Accept-Ranges") == "bytes")
        let disposition = try #require(file.header("Content-Disposition"))
        #expect(disposition.hasPrefix("attachment; filename=\"__ export.csv\""))
        #expect(disposition.hasSuffix("filename*=UTF-8''%E6%B8%A9%E5%AE%A4%20export.csv"))
        #expect(file.body.prefix(3) == [0xEF, 0xBB, 0xBF])
        let lines = file.text.split(separator: "\r\n")
        #expect(lines.count == 21)
        #expect(lines[1].contains("\(agriID)-01"))
        #expect(lines[2].hasSuffix(",1.5"))

        let head = try anonymous.request("HEAD", url, token: .some(nil))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("Content-Length") == String(file.body.count))

        let half = file.body.count / 2
        let first = try anonymous.request("GET", url, headers: [("Range", "bytes=0-\(half - 1)")], token: .some(nil))
        #expect(first.status == 206)
        #expect(first.header("Content-Range") == "bytes 0-\(half - 1)/\(file.body.count)")
        let second = try anonymous.request("GET", url, headers: [("Range", "bytes=\(half)-")], token: .some(nil))
        #expect(second.status == 206)
        #expect(first.body + second.body == file.body)
        let suffix = try anonymous.request("GET", url, headers: [("Range", "bytes=-10")], token: .some(nil))
        #expect(suffix.body == Array(file.body.suffix(10)))
        let outside = try anonymous.request("GET", url, headers: [("Range", "bytes=\(file.body.count)-")], token: .some(nil))
        #expect(outside.status == 416)
        #expect(outside.header("Content-Range") == "bytes */\(file.body.count)")
        #expect(try anonymous.request("GET", url, headers: [("Range", "bytes=0-1,5-6")], token: .some(nil)).status == 200)

        var tampered = Array(url)
        let position = tampered.count - 5
        tampered[position] = tampered[position] == "A" ? "B" : "A"
        let forged = try anonymous.request("GET", String(tampered), token: .some(nil))
        #expect(forged.status == 403)
        #expect(forged.code == "DOWNLOAD_LINK_INVALID")
        #expect(try anonymous.request("GET", "/api/v2/downloads/garbage", token: .some(nil)).status == 403)

        #expect(try client.delete("\(base)\(id)/").status == 204)
        #expect(try anonymous.request("GET", url, token: .some(nil)).status == 404)
    }

    @Test func anExpiredLinkIs403AndAnExpiredTaskIs410() throws {
        let server = try InProcessServer(config: ["exports.link_ttl": "1s", "exports.retention": "2s"])
        let (client, project, pk, _) = try Self.setup(server, points: 3)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let id = try #require(try client.post(base, Self.body(["start_time": .int64(0), "device_id": .int64(pk)])).json["id"]?.int64Value)
        try Self.runScheduler(server)
        let url = try #require(try client.get("\(base)\(id)/download/?redirect=false").json["url"]?.stringValue)
        usleep(2_100_000)
        let expired = try server.client(token: nil).request("GET", url, token: .some(nil))
        #expect(expired.status == 403)
        #expect(expired.code == "DOWNLOAD_LINK_EXPIRED")
        try Self.runScheduler(server)
        #expect(try client.get("\(base)\(id)/").json["status"]?.stringValue == "expired")
        #expect(try client.get("\(base)\(id)/download/").status == 410)
    }

    @Test func schedulesCRUD() throws {
        let server = try Shared.get()
        let (client, project, pk, agriID) = try Self.setup(server, points: 0)
        let base = "/api/v2/projects/\(project)/data-download-schedules/"
        let created = try client.post(base, Self.body(["period": .string("weekly"), "hour": .int64(6), "weekday": .int64(3), "device_id": .int64(pk),
                                                       "factors": .array([.string(agriID + "-01")]), "format": .string("ndjson")]))
        #expect(created.status == 201)
        let id = try #require(created.json["id"]?.int64Value)
        #expect(created.header("Location") == "\(base)\(id)/")
        #expect(created.json["enabled"] == .bool(true))
        #expect(created.json["next_run_at"]?.stringValue != nil)
        #expect(created.json["last_run_at"] == .null)
        for (fields, field) in [(["period": JSON.string("monthly")], "period"), (["period": .string("daily"), "hour": .int64(24)], "hour"),
                                (["period": .string("weekly"), "weekday": .int64(8)], "weekday"), (["hour": .int64(1)], "period"),
                                (["period": .string("daily"), "x": .int64(1)], "x")] {
            let response = try client.post(base, Self.body(fields))
            #expect(response.status == 400)
            #expect(response.json["fields"]?[field] != nil, "\(response.text)")
        }
        let patched = try client.patch("\(base)\(id)/", .object(["enabled": .bool(false)]))
        #expect(patched.json["enabled"] == .bool(false))
        #expect(patched.json["next_run_at"] == .null)
        #expect(try client.get(base).json.arrayValue?.count == 1)
        #expect(try client.delete("\(base)\(id)/").status == 204)
        #expect(try client.get("\(base)\(id)/").code == "SCHEDULE_NOT_FOUND")
    }
}
