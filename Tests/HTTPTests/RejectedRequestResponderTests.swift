import Core
import Foundation
@testable import HTTP
import Testing

/// Requests the server rejects before routing (parse errors, undecodable targets) are answered through
/// `HTTPResponder.respond(rejecting:head:remoteAddress:)`, so the application's responder can give them a request id
/// and an access log line; and `APIResponder` does.
@Suite struct RejectedRequestResponderTests {
    struct MarkingResponder: HTTPResponder {
        let rejected: Recorder
        func respond(to request: Request) -> Response { .text("ok") }
        func mayBlock(method: HTTPMethod, path: String) -> Bool { false }
        func respond(rejecting error: any PlatformError, head: RequestHead?, remoteAddress: String) -> Response {
            rejected.append("\(error.status) \(head?.target ?? "-") \(remoteAddress.hasPrefix("127.0.0.1:"))")
            var response = Response.error(error)
            response.headers.set("X-Request-Id", "marked")
            return response
        }
    }

    @Test func parseErrorsAndUndecodableTargetsGoThroughTheResponder() throws {
        let rejected = Recorder()
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.eventLoops = 1
        let server = HTTPServer(configuration: configuration, responder: MarkingResponder(rejected: rejected), logger: Logger(level: .error))
        let port = try server.start()
        defer { server.shutdown(gracePeriod: 1) }
        for raw in ["GARBAGE\r\n\r\n", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/3.0\r\nHost: x\r\n\r\n",
                    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"] {
            let connection = try RawConnection(port: port)
            try connection.send(raw)
            let response = try connection.readResponse()
            #expect(response.status >= 400)
            #expect(response.header("X-Request-Id") == "marked", "\(raw)")
        }
        #expect(rejected.values == ["400 - true", "400 /%zz true", "505 - true", "400 /c true"])
    }

    @Test func apiResponderGivesRejectionsAnIDMetricsAndAnAccessLogLine() throws {
        let metrics = MetricsRegistry()
        let responder = APIResponder(table: Router().freeze(), logger: Logger(level: .error), metrics: metrics)
        let plain = responder.respond(rejecting: HTTPParserError.headerTooLarge, head: nil, remoteAddress: "127.0.0.1:1")
        #expect(plain.status == 431)
        #expect(plain.headers["X-Request-Id"]?.utf8.count == 16)
        var headers = HTTPHeaders()
        headers.add("X-Request-Id", "client-7")
        let head = RequestHead(method: .post, target: "/x?y=1", version: .http1_1, headers: headers, contentLength: nil, chunked: true,
                               expectsContinue: false)
        let echoed = responder.respond(rejecting: HTTPParserError.malformed("bad chunk"), head: head, remoteAddress: "127.0.0.1:1")
        #expect(echoed.status == 400 && echoed.headers["X-Request-Id"] == "client-7")
        let exposition = metrics.render()
        #expect(exposition.contains("rejected"), "\(exposition)")
    }

    /// Regression: a request rejected before routing under a route group with its own error shape (a compatibility
    /// dialect) was answered with the platform's envelope, which is not what that group documents.
    @Test func rejectionsUnderARouteGroupWithItsOwnShapeUseIt() throws {
        let router = Router()
        let schema = Schema.object([.required("message", .string())]).named("AcmeError")
        _ = router.group("/compat/acme").renderingErrors(with: ErrorRenderer(schema: schema, description: "Acme") { error, request in
            .json(JSONObject(["message": .string("\(request.method.rawValue) \(request.path): \(error.detail)")]), status: error.status)
        })
        let responder = APIResponder(table: router.freeze(), logger: Logger(level: .error), metrics: MetricsRegistry())
        for target in ["/compat/acme/things?q=%zz", "/compat/acme/%zz"] {
            let head = RequestHead(method: .get, target: target, version: .http1_1, headers: HTTPHeaders(), contentLength: nil, chunked: false,
                                   expectsContinue: false)
            let answer = responder.respond(rejecting: APIError.badRequest("Invalid percent-encoding"), head: head, remoteAddress: "127.0.0.1:1")
            let body = try JSONParser.parse(answer.body)
            #expect(answer.status == 400 && schema.problems(in: body).isEmpty, "\(target): \(String(decoding: answer.body, as: UTF8.self))")
            #expect(answer.headers["X-Request-Id"]?.utf8.count == 16)
        }
        let native = responder.respond(rejecting: APIError.badRequest("x"), head: RequestHead(method: .get, target: "/api/v2/%zz", version: .http1_1,
            headers: HTTPHeaders(), contentLength: nil, chunked: false, expectsContinue: false), remoteAddress: "127.0.0.1:1")
        #expect(Schema.error.problems(in: try JSONParser.parse(native.body)).isEmpty)
    }
}
