/// A concrete `PlatformError` for the codes every module shares (DESIGN §4) and the kernel's own codes
/// (`UNAVAILABLE`, `NOT_READY`, `INTERNAL_ERROR`). Module-specific codes live in the module's error enum.
public struct APIError: PlatformError, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var detail: String
    public var fields: [String: String]
    public var headers: [(String, String)]
    public var exposesDetail: Bool

    /// `exposesDetail` defaults to the protocol's rule: 4xx are shown, 5xx are hidden behind `INTERNAL_ERROR`.
    public init(status: Int, code: String, detail: String, fields: [String: String] = [:], headers: [(String, String)] = [],
                exposesDetail: Bool? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields
        self.headers = headers
        self.exposesDetail = exposesDetail ?? (status < 500)
    }

    public var description: String { "\(status) \(code): \(detail)" }

    // MARK: - Shared codes

    public static func validation(_ fields: [String: String], detail: String? = nil) -> APIError {
        let names = fields.keys.sorted().joined(separator: ", ")
        return APIError(status: 400, code: "VALIDATION_ERROR", detail: detail ?? "Invalid fields: \(names)", fields: fields)
    }

    public static func validation(field: String, _ message: String) -> APIError {
        validation([field: message], detail: "\(field): \(message)")
    }

    public static func malformedJSON(_ detail: String) -> APIError {
        APIError(status: 400, code: "MALFORMED_JSON", detail: detail)
    }

    public static func badRequest(_ detail: String) -> APIError {
        APIError(status: 400, code: "BAD_REQUEST", detail: detail)
    }

    public static let unauthorized = unauthorized("Missing, invalid, expired or revoked credentials")

    /// 401; `challenge` becomes the `WWW-Authenticate` header (e.g. `Basic realm="gateway"`).
    public static func unauthorized(_ detail: String, challenge: String? = nil) -> APIError {
        APIError(status: 401, code: "UNAUTHORIZED", detail: detail, headers: challenge.map { [("WWW-Authenticate", $0)] } ?? [])
    }

    public static func forbidden(_ detail: String) -> APIError {
        APIError(status: 403, code: "FORBIDDEN", detail: detail)
    }

    /// The generic 404 (`NOT_FOUND`); a module's own resources answer with its error enum (`DeviceError.notFound`).
    public static func notFound(_ detail: String = "Not found") -> APIError {
        APIError(status: 404, code: "NOT_FOUND", detail: detail)
    }

    public static func methodNotAllowed(allow: [String]) -> APIError {
        APIError(status: 405, code: "METHOD_NOT_ALLOWED", detail: "Allowed methods: \(allow.joined(separator: ", "))",
                 headers: [("Allow", allow.joined(separator: ", "))])
    }

    public static func payloadTooLarge(_ detail: String) -> APIError {
        APIError(status: 413, code: "PAYLOAD_TOO_LARGE", detail: detail)
    }

    public static func unsupportedMediaType(_ detail: String = "Content-Type must be application/json") -> APIError {
        APIError(status: 415, code: "UNSUPPORTED_MEDIA_TYPE", detail: detail)
    }

    public static func rateLimited(retryAfter seconds: Int) -> APIError {
        APIError(status: 429, code: "RATE_LIMITED", detail: "Too many attempts; retry in \(seconds) s",
                 headers: [("Retry-After", String(seconds))])
    }

    // MARK: - Kernel codes

    /// 500 whose `detail` is for the log only: a client sees `internalError(requestID:)`.
    public static func internalError(_ detail: String) -> APIError {
        APIError(status: 500, code: "INTERNAL_ERROR", detail: detail)
    }

    /// The answer a client gets for an unexpected failure: only the request id to quote.
    public static func internalError(requestID: String) -> APIError {
        internalError("Internal error; request id \(requestID)")
    }

    /// 503 a client may retry (shutting down, storage busy); its detail is shown.
    public static func unavailable(_ detail: String) -> APIError {
        APIError(status: 503, code: "UNAVAILABLE", detail: detail, exposesDetail: true)
    }

    /// 503 a client should retry after `retryAfter` seconds (the database busy or unreachable).
    public static func unavailable(_ detail: String, retryAfter seconds: Int) -> APIError {
        APIError(status: 503, code: "UNAVAILABLE", detail: detail, headers: [("Retry-After", String(seconds))], exposesDetail: true)
    }

    /// 503 from `/readyz`: the database is unreachable or migrations are pending.
    public static func notReady(_ detail: String) -> APIError {
        APIError(status: 503, code: "NOT_READY", detail: detail, exposesDetail: true)
    }
}
