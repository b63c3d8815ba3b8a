import Core
import HTTP
import Testing

@Suite struct RouterTests {
    static func makeResponder() -> APIResponder {
        let router = Router()
        let api = router.group("/api/v2", tag: "test")
        api.get("/projects/", auth: .anonymous) { _ in .text("list") }
        api.post("/projects/", auth: .anonymous) { _ in .text("create", status: 201) }
        api.get("/projects/trash/", auth: .anonymous) { _ in .text("trash") }
        api.get("/projects/:project_id/", auth: .anonymous) { request in .text("detail \(try request.parameters.require("project_id"))") }
        api.patch("/projects/:project_id/", auth: .anonymous) { _ in .text("patch") }
        api.get("/projects/:project_id/devices/:device_pk/", auth: .anonymous) { request in
            let pk = try request.parameters.requireInt("device_pk", notFound: SampleError.noDevice)
            return .text("device \(try request.parameters.require("project_id")) \(pk)")
        }
        api.get("/boom/", auth: .anonymous) { _ in throw SampleError.taken }
        api.get("/downstream/", auth: .anonymous) { _ in throw SampleError.downstream }
        api.get("/unavailable/", auth: .anonymous) { _ in throw APIError.unavailable("Shutting down") }
        api.get("/internal/", auth: .anonymous) { _ in throw APIError.internalError("disk on fire") }
        api.get("/crash/", auth: .anonymous) { _ in
            struct Secret: Error {}
            throw Secret()
        }
        api.get("/query/", auth: .anonymous) { request in .text(request.query["q"] ?? "-") }
        return APIResponder(table: router.freeze(), logger: Logger(level: .error), metrics: MetricsRegistry(), accessLog: false)
    }

    let responder = RouterTests.makeResponder()

    func call(_ method: HTTPMethod, _ target: String, headers: [(String, String)] = []) throws -> Response {
        responder.respond(to: try Request(method: method, target: target, headers: HTTPHeaders(headers)))
    }

    func text(_ response: Response) -> String { String(decoding: response.body, as: UTF8.self) }

    @Test func matchesWithAndWithoutTrailingSlash() throws {
        #expect(text(try call(.get, "/api/v2/projects/")) == "list")
        #expect(text(try call(.get, "/api/v2/projects")) == "list")
        #expect(text(try call(.get, "/api/v2/projects/abc")) == "detail abc")
    }

    /// The path is split on its UTF-8 bytes: multi-byte segments, a lone `/`, an empty path and empty segments.
    @Test func splitsPathsByteWiseWithTheSameMeaning() throws {
        #expect(text(try call(.get, "/api/v2/projects/%C3%BC%E6%97%A5/")) == "detail ü日")
        #expect(text(try call(.get, "/api/v2/projects/e%CC%81/devices/7")) == "device e\u{301} 7")
        #expect(try call(.get, "/").status == 404)
        #expect(try call(.get, "/api/v2/projects//").status == 404)
        #expect(try call(.get, "/api/v2/projects/x//").status == 404)
        #expect(try call(.get, "//api/v2/projects/").status == 404)
    }

    @Test func literalSegmentsWinOverParameters() throws {
        #expect(text(try call(.get, "/api/v2/projects/trash/")) == "trash")
    }

    @Test func capturesTypedParametersAndPercentDecodes() throws {
        #expect(text(try call(.get, "/api/v2/projects/a%20b/devices/42/")) == "device a b 42")
        let bad = try call(.get, "/api/v2/projects/p/devices/abc/")
        #expect(bad.status == 404)
        #expect(text(bad).contains("DEVICE_NOT_FOUND"))
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() throws {
        let missing = try call(.get, "/api/v2/nothing/")
        #expect(missing.status == 404)
        #expect(text(missing).contains(#""code":"NOT_FOUND""#))
        let wrong = try call(.put, "/api/v2/projects/abc/")
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "GET, HEAD, PATCH")
        #expect(text(wrong).contains("METHOD_NOT_ALLOWED"))
        #expect(try call(.get, "/api//v2/projects/").status == 404)
    }

    @Test func headUsesTheGetHandler() throws {
        #expect(try call(.head, "/api/v2/projects/").status == 200)
    }

    @Test func platformErrorsBecomeTheEnvelopeAndUnknownErrorsA500WithoutDetails() throws {
        let conflict = try call(.get, "/api/v2/boom/")
        #expect(conflict.status == 409)
        #expect(text(conflict) == #"{"code":"DEVICE_ALREADY_BOUND","detail":"taken"}"#)
        let crash = try call(.get, "/api/v2/crash/")
        #expect(crash.status == 500)
        #expect(text(crash).contains("INTERNAL_ERROR"))
        #expect(!text(crash).contains("Secret"))
    }

    @Test func anErrorDecidesWhetherItsDetailIsExposed() throws {
        let downstream = try call(.get, "/api/v2/downstream/")
        #expect(downstream.status == 500)
        #expect(text(downstream) == #"{"code":"DOWNSTREAM_FAILED","detail":"the device said no"}"#)
        let unavailable = try call(.get, "/api/v2/unavailable/")
        #expect(unavailable.status == 503)
        #expect(text(unavailable) == #"{"code":"UNAVAILABLE","detail":"Shutting down"}"#)
        let hidden = try call(.get, "/api/v2/internal/")
        #expect(hidden.status == 500)
        #expect(text(hidden).contains("INTERNAL_ERROR") && !text(hidden).contains("disk on fire"))
    }

    @Test func requestIDIsEchoedOrGenerated() throws {
        #expect(try call(.get, "/api/v2/projects/", headers: [("X-Request-Id", "abc-123")]).headers["X-Request-Id"] == "abc-123")
        let generated = try call(.get, "/api/v2/projects/").headers["X-Request-Id"]
        #expect(generated != nil && generated!.count == 16)
        let hostile = try call(.get, "/api/v2/projects/", headers: [("X-Request-Id", "bad id\u{7F}")]).headers["X-Request-Id"]
        #expect(hostile != "bad id\u{7F}")
    }

    @Test func authenticatedRoutesRunOnlyWithTheIdentityAndDeclareTheirScheme() throws {
        let router = Router()
        let token = Authenticator<String>(scheme: .bearer) { request in
            guard let value = AuthorizationHeader.bearerToken(request) else { throw APIError.unauthorized }
            return "user-" + value
        }
        let api = router.group("/api/v2", tag: "test")
        api.get("/me/", auth: token) { _, user in .text(user) }
        api.get("/open/", auth: .anonymous) { _ in .text("open") }
        let table = router.freeze()
        #expect(table.routes.map(\.authentication) == [.bearer, .none])
        let responder = APIResponder(table: table, logger: Logger(level: .error), metrics: MetricsRegistry(), accessLog: false)
        let denied = responder.respond(to: try Request(method: .get, target: "/api/v2/me/"))
        #expect(denied.status == 401)
        let wrongScheme = responder.respond(to: try Request(method: .get, target: "/api/v2/me/", headers: HTTPHeaders([("Authorization", "Basic eDp5")])))
        #expect(wrongScheme.status == 401)
        let allowed = responder.respond(to: try Request(method: .get, target: "/api/v2/me/", headers: HTTPHeaders([("Authorization", "bearer abc")])))
        #expect(allowed.status == 200 && String(decoding: allowed.body, as: UTF8.self) == "user-abc")
        #expect(AuthorizationHeader.basic(try Request(method: .get, target: "/", headers: HTTPHeaders([("Authorization", "Basic ZGV2OmtleTpwYXJ0")])))?.password
                == "key:part")
    }

    /// The scheme is matched case-insensitively and byte-wise; the value is what follows the first space, trimmed.
    @Test func authorizationHeaderForms() throws {
        func bearer(_ value: String) throws -> String? {
            AuthorizationHeader.bearerToken(try Request(method: .get, target: "/", headers: HTTPHeaders([("Authorization", value)])))
        }
        #expect(try bearer("Bearer abc") == "abc")
        #expect(try bearer("bEaReR abc") == "abc")
        #expect(try bearer("  Bearer   abc \t") == "abc")
        #expect(try bearer("Bearer a b") == "a b")
        #expect(try bearer("Bearer") == nil)
        #expect(try bearer("Bearer ") == nil)
        #expect(try bearer("Bearer \t ") == nil)
        #expect(try bearer("Bearer\tabc") == nil)
        #expect(try bearer("Bearerx abc") == nil)
        #expect(try bearer("Beare abc") == nil)
        #expect(try bearer("Bëarer abc") == nil)
        #expect(try bearer("Basic abc") == nil)
        #expect(try bearer("Bearer ü日") == "ü日")
        #expect(AuthorizationHeader.bearerToken(try Request(method: .get, target: "/")) == nil)
    }

    @Test func unknownMethodsAreCountedAsOTHERInTheMetrics() throws {
        let router = Router()
        router.group("/api/v2", tag: "test").get("/projects/", auth: .anonymous) { _ in .text("list") }
        let metrics = MetricsRegistry()
        let responder = APIResponder(table: router.freeze(), logger: Logger(level: .error), metrics: metrics, accessLog: false)
        for method in ["FOOBARBAZ", "BREW", "X\(Int.random(in: 1000...9999))"] {
            let response = responder.respond(to: try Request(method: HTTPMethod(method), target: "/api/v2/projects/"))
            #expect(response.status == 405)
        }
        _ = responder.respond(to: try Request(method: .get, target: "/api/v2/projects/"))
        let text = metrics.render()
        #expect(text.contains(#"http_requests_total{method="OTHER",route="unmatched",status="405"} 3"#), "\(text)")
        #expect(text.contains(#"http_requests_total{method="GET",route="/api/v2/projects/",status="200"} 1"#))
        // The label set does not grow with what clients send.
        #expect(!text.contains("FOOBARBAZ") && !text.contains("BREW"))
        #expect(!text.contains(#"method="X"#))
    }

    @Test func queryParametersArePercentDecoded() throws {
        #expect(text(try call(.get, "/api/v2/query/?q=a%2Bb+c")) == "a+b c")
        #expect(throws: APIError.self) { try Request(method: .get, target: "/api/v2/query/?q=%zz") }
        #expect(throws: APIError.self) { try Request(method: .get, target: "/api/%ff%fe/") }
    }

    /// The query starts at the first `?` byte, even when a combining mark follows it (as one grapheme, `?\u{301}` is
    /// not the character `?`, so a character-wise search missed it and the whole target became the path).
    @Test func theQueryStartsAtTheFirstQuestionMarkByte() throws {
        #expect(text(try call(.get, "/api/v2/query/?\u{301}=1&q=ok")) == "ok")
        let request = try Request(method: .get, target: "/api/v2/query?\u{301}x=y")
        #expect(request.path == "/api/v2/query" && request.query["\u{301}x"] == "y")
    }
}

@Suite struct RequestBodyTests {
    @Test func jsonRequiresAJSONContentTypeAndValidText() throws {
        let good = try Request(method: .post, target: "/", headers: HTTPHeaders([("Content-Type", "application/json; charset=utf-8")]),
                               body: Array(#"{"a":1}"#.utf8))
        #expect(try good.json()["a"] == .number(1))
        let wrongType = try Request(method: .post, target: "/", headers: HTTPHeaders([("Content-Type", "text/plain")]), body: Array("{}".utf8))
        #expect(throws: APIError.self) { try wrongType.json() }
        do {
            _ = try wrongType.json()
        } catch {
            #expect(error.status == 415)
        }
        let malformed = try Request(method: .post, target: "/", headers: HTTPHeaders([("Content-Type", "application/json")]), body: Array("{x".utf8))
        do {
            _ = try malformed.json()
            Issue.record("expected MALFORMED_JSON")
        } catch {
            #expect(error.code == "MALFORMED_JSON")
        }
    }
}

@Suite struct PaginationTests {
    struct Item: JSONRepresentable, Sendable { let n: Int; var json: JSON { .int(n) } }

    @Test func envelopeHasLinks() throws {
        let request = try Request(method: .get, target: "/api/v2/tokens/?page=2&page_size=2&search=a%20b",
                                  headers: HTTPHeaders([("Host", "example:8080")]))
        let page = try request.pageRequest()
        let response = Response.page(PageResult(count: 7, items: [Item(n: 3), Item(n: 4)]), of: page, for: request)
        let json = try JSONParser.parse(response.body)
        #expect(json["count"] == .number(7))
        #expect(json["next"]?.stringValue == "http://example:8080/api/v2/tokens/?page_size=2&search=a%20b&page=3")
        #expect(json["previous"]?.stringValue == "http://example:8080/api/v2/tokens/?page_size=2&search=a%20b&page=1")
        #expect(json["results"] == .array([.number(3), .number(4)]))
    }
}

/// A module's error enum as the HTTP layer sees it: any `PlatformError`.
enum SampleError: PlatformError {
    case noDevice(String)
    case taken
    case downstream

    var status: Int {
        switch self {
        case .noDevice: 404
        case .taken: 409
        case .downstream: 500
        }
    }

    var code: String {
        switch self {
        case .noDevice: "DEVICE_NOT_FOUND"
        case .taken: "DEVICE_ALREADY_BOUND"
        case .downstream: "DOWNSTREAM_FAILED"
        }
    }

    var detail: String {
        switch self {
        case .noDevice(let text): "No resource with device_pk \(text)"
        case .taken: "taken"
        case .downstream: "the device said no"
        }
    }

    var exposesDetail: Bool { if case .downstream = self { true } else { status < 500 } }
}
