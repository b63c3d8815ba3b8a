import Core
import HTTP
import Testing

/// Holds every response of the in-process server against what its route documents (the schemas the OpenAPI
/// document is rendered from): a declared status with its body schema, or for an error the body of the renderer its
/// route group answers errors with (the DESIGN §4 envelope, or a compatibility dialect's own shape).
/// `InProcessServer`'s clients go through it, so every route test also checks that the declarations have not drifted
/// from what the handlers answer; a mismatch is recorded as a test issue naming the route and the problem.
public struct ResponseContract: HTTPResponder {
    public let inner: APIResponder

    public init(_ inner: APIResponder) { self.inner = inner }

    public func mayBlock(method: HTTPMethod, path: String) -> Bool { inner.mayBlock(method: method, path: path) }

    public func respond(to request: Request) -> Response {
        var response = inner.respond(to: request)
        if let pending = response.pending {
            // A deferred answer (ingestion waits for its commit): the one the server would send is what is checked.
            switch pending.wait() {
            case .success(let answer): response = answer
            case .failure(let error): response = .error((error as? any PlatformError) ?? APIError.internalError("deferred response failed"))
            }
        }
        let problems = Self.problems(table: inner.table, method: request.method, path: request.path, response: response)
        if !problems.isEmpty {
            let text = "\(request.method.rawValue) \(request.path) → \(response.status) departs from its documented response:\n"
                + problems.joined(separator: "\n")
            Issue.record(Comment(rawValue: text))
        }
        return response
    }

    /// Where `response` departs from what the route of `method path` documents; empty when it conforms or when the
    /// route documents no responses.
    public static func problems(table: RouterTable, method: HTTPMethod, path: String, response: Response) -> [String] {
        guard method != .head else { return [] }
        let route = table.route(method: method, path: path)
        let errors = table.errorRenderer(for: path)
        if route == nil || route?.docs.responses.isEmpty == true {
            // Unrouted paths of the native API and of a route group with its own error shape (404/405) still answer
            // their error body.
            let ownShape = errors.componentName != ErrorRenderer.platform.componentName
            guard route == nil, ownShape || path.hasPrefix("/api/v2/") || path == "/api/v2" else { return [] }
            return check(response, against: errors.schema)
        }
        let docs = route!.docs
        guard let declared = docs.response(response.status) else {
            if response.status >= 400 { return check(response, against: errors.schema) }
            return ["status \(response.status) is not documented (documented: \(docs.responses.map(\.status)))"]
        }
        guard let contentType = declared.contentType else {
            return response.body.isEmpty && response.file == nil ? [] : ["status \(response.status) is documented without a body but has one"]
        }
        if contentType == "*/*" { return [] }   // a file of its own type
        let actual = response.headers["Content-Type"] ?? ""
        guard actual.lowercased().hasPrefix(contentType.lowercased()) else {
            return ["Content-Type \(actual) where \(contentType) is documented"]
        }
        guard let schema = declared.schema else { return [] }
        return check(response, against: schema)
    }

    static func check(_ response: Response, against schema: Schema) -> [String] {
        let bytes = response.file?.bytes() ?? response.body
        guard let value = try? JSONParser.parse(bytes) else { return ["the body is not JSON"] }
        return schema.problems(in: value)
    }
}
