import Core
import Foundation
import Testing
import TestSupport

@Suite struct BadInputTests {
    @Test func malformedJSONIs400() throws {
        let client = try Shared.get().client()
        for raw in ["{", "{\"name\": }", "[1,]", "NaN", "\u{FF}"] {
            let response = try client.request("POST", "/api/v2/tokens/", rawBody: Array(raw.utf8))
            #expect(response.status == 400)
            #expect(response.code == "MALFORMED_JSON")
        }
    }

    @Test func unknownFieldsAndWrongTypesAreNamed() throws {
        let client = try Shared.get().client()
        let unknown = try client.post("/api/v2/tokens/", .object(["name": .string("x"), "colour": .string("red")]))
        #expect(unknown.status == 400 && unknown.code == "VALIDATION_ERROR")
        #expect(unknown.json["fields"]?["colour"] == .string("unknown field"))
        let wrongTypes = try client.post("/api/v2/tokens/", .object(["name": .number(5), "projects": .string("p1"), "role": .string("god")]))
        #expect(wrongTypes.status == 400)
        #expect(Set(wrongTypes.json["fields"]?.objectValue?.keys ?? []) == ["name", "projects", "role"])
        let notObject = try client.post("/api/v2/tokens/", .array([]))
        #expect(notObject.status == 400 && notObject.code == "VALIDATION_ERROR")
        let badProject = try client.post("/api/v2/tokens/", .object(["projects": .array([.string("Not Valid!")])]))
        #expect(badProject.json["fields"]?["projects"] != nil)
    }

    @Test func wrongContentTypeIs415() throws {
        let client = try Shared.get().client()
        let response = try client.request("POST", "/api/v2/tokens/", rawBody: Array("{}".utf8), headers: [("Content-Type", "text/plain")])
        #expect(response.status == 415 && response.code == "UNSUPPORTED_MEDIA_TYPE")
        let login = try client.request("POST", "/api/v2/auth/login/", rawBody: Array("username=a".utf8),
                                       headers: [("Content-Type", "application/x-www-form-urlencoded")], token: .some(nil))
        #expect(login.status == 415)
    }

    @Test func unknownRoutesAndMethodsUseTheEnvelope() throws {
        let client = try Shared.get().client()
        let missing = try client.get("/api/v2/no-such-thing/")
        #expect(missing.status == 404 && missing.code == "NOT_FOUND")
        let wrongMethod = try client.request("PUT", "/api/v2/me/", json: .object([:]))
        #expect(wrongMethod.status == 405 && wrongMethod.code == "METHOD_NOT_ALLOWED")
        #expect(wrongMethod.header("Allow") == "GET, HEAD")
        let badID = try client.get("/api/v2/tokens/not-a-number/")
        #expect(badID.status == 404)
    }

    @Test func hostileBytesNeverCrashTheServer() throws {
        let server = try Shared.get()
        let client = server.client()
        let payloads: [[UInt8]] = [
            Array(String(repeating: "[", count: 50_000).utf8),
            Array(#"{"name": "\ud800"}"#.utf8),
            [0x00, 0x01, 0x02],
            Array(#"{"projects": [[[[[[[[[[]]]]]]]]]]}"#.utf8),
            Array(#"{"expires_in": 1e309}"#.utf8),
        ]
        for payload in payloads {
            let response = try client.request("POST", "/api/v2/tokens/", rawBody: payload)
            #expect((400..<500).contains(response.status))
        }
        #expect(try client.get("/healthz").status == 200)
    }
}

@Suite struct SystemRoutesTests {
    @Test func healthReadinessAndIndex() throws {
        let client = try Shared.get().client(token: nil)
        let health = try client.get("/healthz")
        #expect(health.status == 200 && health.json["status"] == .string("ok"))
        let ready = try client.get("/readyz")
        #expect(ready.status == 200 && ready.json["status"] == .string("ready"))
        let index = try client.get("/api/v2/")
        #expect(index.status == 200 && index.json["openapi"] == .string("/api/v2/openapi.json"))
        #expect(try client.get("/api/v2").status == 200)
    }

    @Test func metricsCountRequestsByRouteAndStatus() throws {
        let server = try Shared.get()
        let client = server.client()
        _ = try client.get("/api/v2/me/")
        _ = try client.request("GET", "/api/v2/me/", token: .some("iot_bad"))
        let metrics = try client.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
        #expect(metrics.text.contains(#"http_requests_total{method="GET",route="/api/v2/me/",status="200"}"#))
        #expect(metrics.text.contains(#"http_requests_total{method="GET",route="/api/v2/me/",status="401"}"#))
        #expect(metrics.text.contains("http_request_duration_seconds_bucket"))
    }

    @Test func unknownMethodsAreCountedAsOTHERAndNeverBecomeALabel() throws {
        let client = try Shared.get().client()
        let answered = try client.request("FOOBARBAZ", "/api/v2/me/")
        #expect(answered.status == 405 && answered.code == "METHOD_NOT_ALLOWED")
        _ = try client.request("FOOBARBAZ", "/no-such-route/")
        let metrics = try client.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"http_requests_total{method="OTHER",route="unmatched",status="405"}"#))
        #expect(metrics.text.contains(#"http_requests_total{method="OTHER",route="unmatched",status="404"}"#))
        #expect(!metrics.text.contains("FOOBARBAZ"))
    }

    @Test func duplicateObjectKeysAre400MalformedJSON() throws {
        let client = try Shared.get().client()
        // Refused before any login is tried (no failure counted against this address on the shared server):
        // last-wins would try "b", first-wins "a"; the body has no single meaning.
        let login = try client.request("POST", "/api/v2/auth/login/", rawBody: Array(#"{"username":"a","username":"b","password":"x"}"#.utf8),
                                       token: .some(nil))
        #expect(login.status == 400 && login.code == "MALFORMED_JSON", "\(login.status) \(login.text)")
        // Also when nested, and on an authenticated route.
        let nested = try client.request("POST", "/api/v2/tokens/", rawBody: Array(#"{"name":"n","projects":["p"],"name":"m"}"#.utf8))
        #expect(nested.status == 400 && nested.code == "MALFORMED_JSON")
        let deep = try client.request("POST", "/api/v2/tokens/", rawBody: Array(#"{"name":"n","x":{"k":1,"k":2}}"#.utf8))
        #expect(deep.status == 400 && deep.code == "MALFORMED_JSON")
    }

    @Test func requestIDIsEchoedOrGenerated() throws {
        let client = try Shared.get().client()
        let echoed = try client.request("GET", "/healthz", headers: [("X-Request-Id", "trace-42")])
        #expect(echoed.header("X-Request-Id") == "trace-42")
        let generated = try client.get("/healthz")
        #expect((generated.header("X-Request-Id") ?? "").count == 16)
    }

    /// Every answer says `X-Content-Type-Options: nosniff` once: JSON, errors, the console, 404s, 405s, malformed requests.
    @Test func everyAnswerIsNosniff() throws {
        let server = try Shared.get()
        let client = server.client()
        let answers = [
            try client.get("/healthz"), try client.get("/api/v2/me/"), try client.get("/api/v2/nope/"), try client.get("/"),
            try client.request("PUT", "/healthz"), try server.client(token: "iot_wrong").get("/api/v2/projects/"),
            try client.request("POST", "/api/v2/tokens/", rawBody: Array("{".utf8)),
        ]
        for answer in answers {
            #expect(answer.headers.filter { $0.0.lowercased() == "x-content-type-options" }.map(\.1) == ["nosniff"], "\(answer.status)")
        }
    }

    @Test func accessLogHasOneJSONLinePerRequest() throws {
        let server = try Shared.get()
        let marker = "log-\(RandomID.make(length: 10))"
        _ = try server.client().request("GET", "/api/v2/me/", headers: [("X-Request-Id", marker)])
        var line: String?
        for _ in 0..<100 where line == nil {
            line = server.log.split(separator: "\n").first { $0.contains(marker) }.map(String.init)
            if line == nil { usleep(20_000) }
        }
        let entry = try JSONParser.parse(try #require(line))
        #expect(entry["msg"] == .string("request"))
        #expect(entry["status"] == .number(200))
        #expect(entry["route"] == .string("/api/v2/me/"))
        #expect(!(line ?? "").contains(server.adminToken ?? "no-token"))
    }

    @Test func openAPIDocumentListsEveryRoute() throws {
        let client = try Shared.get().client(token: nil)
        let document = try client.get("/api/v2/openapi.json")
        #expect(document.status == 200)
        #expect(document.json["openapi"] == .string("3.1.0"))
        let paths = try #require(document.json["paths"]?.objectValue)
        for (path, method) in [("/api/v2/me/", "get"), ("/api/v2/tokens/", "post"), ("/api/v2/tokens/{token_id}/", "delete"),
                               ("/api/v2/auth/login/", "post"), ("/healthz", "get"), ("/metrics", "get")] {
            #expect(paths[path]?[method] != nil, "missing \(method) \(path)")
        }
        for (path, method) in [("/api/v2/projects/", "get"), ("/api/v2/projects/{project_id}/transfer/", "post"),
                               ("/api/v2/projects/{project_id}/devices/{device_pk}/data/", "post"),
                               ("/api/v2/projects/{project_id}/devices/{device_pk}/factors/{factor_id}/", "patch"),
                               ("/api/v2/gateway/commands/{command_id}/ack/", "post"), ("/api/v2/modules/", "get")] {
            #expect(paths[path]?[method] != nil, "missing \(method) \(path)")
        }
    }

    /// The document is kept true: every documented operation is routed (never "No route" nor 405).
    @Test func everyDocumentedOperationIsRouted() throws {
        let client = try Shared.get().client(token: nil)
        let paths = try #require(try client.get("/api/v2/openapi.json").json["paths"]?.objectValue)
        #expect(paths.count > 30)
        for (path, operations) in paths.entries {
            let concrete = path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("{") ? "1" : String($0) }.joined(separator: "/")
            for method in operations.objectValue?.keys ?? [] where method != "get" || !concrete.contains("debug") {
                let response = try client.request(method.uppercased(), concrete, token: .some(nil))
                #expect(response.status != 405, "\(method) \(path) answered 405")
                let detail = response.json["detail"]?.stringValue ?? ""
                let routed = !detail.hasPrefix("No route")
                #expect(routed, "\(method) \(path) is not routed")
            }
        }
    }
}
