import Core

/// An HTTP response. The server adds `Date`, `Content-Length` and `Connection`.
public struct Response: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// A body streamed from a file instead of `body` (see `FileBody`).
    public var file: FileBody?
    /// Set on `Response.deferred`: the real response comes later; everything else here is ignored.
    public var pending: DeferredResponse?
    /// Set when the handler, run on an event loop, needed to wait on the network: the server runs the request again on a
    /// worker and this response is dropped (see `EventLoopThread`).
    public var mustRunOffLoop = false

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ value: some JSONRepresentable, status: Int = 200) -> Response {
        json(encoded: JSONWriter.bytes(value.json), status: status)
    }

    /// A JSON document already encoded (a cached rendering).
    public static func json(encoded body: [UInt8], status: Int = 200) -> Response {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return Response(status: status, headers: headers, body: body)
    }

    /// 201 Created with a `Location` header.
    public static func created(_ value: some JSONRepresentable, location: String) -> Response {
        var response = json(value, status: 201)
        response.headers.add("Location", location)
        return response
    }

    /// 204 No Content.
    public static let noContent = Response(status: 204)

    public static func text(_ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> Response {
        var headers = HTTPHeaders()
        headers.add("Content-Type", contentType)
        return Response(status: status, headers: headers, body: Array(text.utf8))
    }

    /// The DESIGN §4 error envelope `{"code", "detail", "fields"?}` — the one place errors become responses.
    public static func error(_ error: any PlatformError) -> Response {
        var object = JSONObject()
        object.append("code", .string(error.code))
        object.append("detail", .string(error.detail))
        if !error.fields.isEmpty {
            var fields = JSONObject()
            for key in error.fields.keys.sorted() { fields.append(key, .string(error.fields[key]!)) }
            object.append("fields", .object(fields))
        }
        var response = json(object, status: error.status)
        for (name, value) in error.headers { response.headers.add(name, value) }
        return response
    }

    /// Standard reason phrases.
    public static func reason(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 302: "Found"
        case 301: "Moved Permanently"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// Anything that answers requests. The server calls it on its event loop, or on a worker for requests that may block.
public protocol HTTPResponder: Sendable {
    func respond(to request: Request) -> Response
    /// Whether answering `method path` may block (wait for a commit, a file, a long query): such requests run on
    /// the server's blocking pool, all others on the event loop that read them. Default: every request may block.
    func mayBlock(method: HTTPMethod, path: String) -> Bool
    /// `mayBlock(method:path:)` for a request the responder may annotate on the way (a router keeps the route it
    /// found, so each request is routed once). Default: `mayBlock(method: request.method, path: request.path)`.
    func mayBlock(_ request: inout Request) -> Bool
    /// Answers a request the server rejected before any route: the parser failed (`head` is the request's head when
    /// only its body was bad, else nil) or the target could not be decoded. Called on the event loop, must not block;
    /// the connection closes after the answer. Default: the §4 envelope alone.
    func respond(rejecting error: any PlatformError, head: RequestHead?, remoteAddress: String) -> Response
}

extension HTTPResponder {
    public func mayBlock(method: HTTPMethod, path: String) -> Bool { true }

    public func mayBlock(_ request: inout Request) -> Bool { mayBlock(method: request.method, path: request.path) }

    public func respond(rejecting error: any PlatformError, head: RequestHead?, remoteAddress: String) -> Response { .error(error) }
}

/// A responder from a closure.
public struct ClosureResponder: HTTPResponder {
    let body: @Sendable (Request) -> Response
    let blocking: @Sendable (HTTPMethod, String) -> Bool
    /// `mayBlock` says which requests run on the blocking pool (default: all of them).
    public init(mayBlock: @escaping @Sendable (HTTPMethod, String) -> Bool = { _, _ in true }, _ body: @escaping @Sendable (Request) -> Response) {
        self.body = body
        self.blocking = mayBlock
    }
    public func respond(to request: Request) -> Response { body(request) }
    public func mayBlock(method: HTTPMethod, path: String) -> Bool { blocking(method, path) }
}
