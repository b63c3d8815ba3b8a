import Core
import Synchronization

/// A complete HTTP request as handlers see it: decoded path, parsed query, whole body.
public struct Request: Sendable {
    public var method: HTTPMethod
    /// The raw request-target (`/api/v2/projects/?page=2`).
    public var target: String
    /// Percent-decoded path without the query.
    public var path: String
    public var query: QueryParameters
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Path parameters captured by the router.
    public var parameters: Parameters = Parameters()
    /// The route pattern that matched (for metrics and logs), set by the router.
    public var routePattern: String?
    /// `X-Request-Id`: echoed from the client or generated.
    public var requestID: String = ""
    public var remoteAddress: String = ""
    /// The route a responder found while deciding where the request runs (`HTTPResponder.mayBlock(_:)`), kept so
    /// that answering it does not look the path up again.
    var resolvedRoute: RouteMatch?
    /// What the server shares with the responder about this request while it is answered (nil for a request made
    /// outside a server, as tests do).
    public internal(set) var ticket: RequestTicket?

    /// Builds a request from a parsed head; throws 400 when the target cannot be decoded.
    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = []) throws(APIError) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        let rawPath: Substring
        let rawQuery: Substring?
        // Byte-wise: `?` is ASCII, so its UTF-8 index is a valid index of `target` (no grapheme breaking per request).
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawPath = target[..<mark]
            rawQuery = target[target.utf8.index(after: mark)...]
        } else {
            rawPath = target[...]
            rawQuery = nil
        }
        guard rawPath.utf8.first == UInt8(ascii: "/") || rawPath == "*" else { throw APIError.badRequest("Request target must be an absolute path") }
        guard let path = PercentDecoding.decode(rawPath, plusAsSpace: false) else {
            throw APIError.badRequest("Invalid percent-encoding in path")
        }
        self.path = path
        guard let query = QueryParameters(rawQuery.map(String.init) ?? "") else {
            throw APIError.badRequest("Invalid percent-encoding in query")
        }
        self.query = query
    }

    /// Whether the connection should stay open after this request (HTTP/1.1 default, HTTP/1.0 opt-in).
    public var keepAlive: Bool {
        let connection = headers["Connection"]?.lowercased() ?? ""
        if version == .http1_0 { return connection.contains("keep-alive") }
        return !connection.contains("close")
    }

    /// Whether the client asked for an answer not taken from a cache: `Cache-Control: no-cache` (or `max-age=0`), or
    /// `Pragma: no-cache` (RFC 9111 §5.2.1.4, §5.4).
    public var asksForFreshData: Bool {
        if let control = headers["Cache-Control"]?.lowercased(), control.contains("no-cache") || control.contains("max-age=0") { return true }
        return headers["Pragma"]?.lowercased().contains("no-cache") ?? false
    }

    /// The body as JSON; 415 unless the content type is JSON, 400 `MALFORMED_JSON` when it does not parse.
    public func json() throws(APIError) -> JSON {
        try jsonBody().parsed()
    }

    /// The body's bytes once the content type says JSON (415 otherwise) and it is not empty (400 `MALFORMED_JSON`),
    /// not parsed yet: for handlers that read a known shape without a tree.
    public func jsonBody() throws(APIError) -> JSONDocument {
        if let type = headers["Content-Type"] {
            let media = type.split(separator: ";").first.map { $0.trimmingSpacesAndTabs().asciiLowercased() } ?? ""
            guard media == "application/json" || media.hasSuffix("+json") else { throw APIError.unsupportedMediaType() }
        } else if !body.isEmpty {
            throw APIError.unsupportedMediaType()
        }
        if body.isEmpty { throw APIError.malformedJSON("Request body is empty; a JSON document is required") }
        return JSONDocument(body)
    }

    /// Like `json()`, but an empty body (with any or no content type) reads as an empty object.
    public func jsonOrEmpty() throws(APIError) -> JSON {
        if body.isEmpty || (body.count == 4 && body == Array("null".utf8)) { return .object([:]) }
        return try json()
    }
}

/// Path parameters captured by the router (`:project_id`), with typed access that throws 400.
public struct Parameters: Sendable {
    public private(set) var values: [(String, String)] = []
    public init() {}

    public mutating func set(_ name: String, _ value: String) { values.append((name, value)) }

    public subscript(name: String) -> String? {
        values.first { $0.0 == name }?.1
    }

    public func require(_ name: String) throws(APIError) -> String {
        guard let value = self[name] else { throw APIError.badRequest("Missing path parameter \(name)") }
        return value
    }

    /// A positive integer parameter; anything else answers `notFound(text)`, the module's 404 for that resource
    /// (no such resource can exist), e.g. `requireInt("device_pk", notFound: DeviceError.malformedPK)`.
    public func requireInt<E: PlatformError>(_ name: String, notFound: (_ text: String) -> E) throws -> Int64 {
        let text = try require(name)
        guard let value = Int64(text), value > 0 else { throw notFound(text) }
        return value
    }

    /// A positive integer parameter; anything else answers the generic 404 `NOT_FOUND`.
    public func requireInt(_ name: String) throws(APIError) -> Int64 {
        let text = try require(name)
        guard let value = Int64(text), value > 0 else { throw APIError.notFound("No resource with \(name) \(text)") }
        return value
    }
}

/// One request in flight as the server and the responder both see it: its id (the client's sane `X-Request-Id`, else
/// a generated one), and whether the server stopped waiting for its answer (it answered 503 after
/// `responseTimeout`; the handler's late answer is dropped).
public final class RequestTicket: Sendable {
    public let requestID: String
    private let abandonedFlag = Atomic<Bool>(false)

    init(requestID: String) { self.requestID = requestID }

    /// The server answered without waiting any longer for the handler.
    public var isAbandoned: Bool { abandonedFlag.load(ordering: .acquiring) }

    func abandon() { abandonedFlag.store(true, ordering: .releasing) }

    /// Echoes a sane client-supplied id (1–128 visible ASCII characters), otherwise makes one.
    static func requestID(from header: String?) -> String {
        if let header, !header.isEmpty, header.utf8.count <= 128, header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            return header
        }
        return ThreadRandom.identifier(length: 16)
    }
}
