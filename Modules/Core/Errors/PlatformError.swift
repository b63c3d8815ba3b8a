/// The one error family of the platform: every error that reaches a client carries an HTTP status,
/// a stable machine `code` and a human `detail`. The HTTP layer renders it in exactly one place.
public protocol PlatformError: Error, Sendable {
    /// HTTP status the error maps to.
    var status: Int { get }
    /// Stable machine-readable code, e.g. `DEVICE_NOT_FOUND`.
    var code: String { get }
    /// Human-readable explanation; never contains secrets, SQL or bound values.
    var detail: String { get }
    /// Per-field validation messages (only for `VALIDATION_ERROR`).
    var fields: [String: String] { get }
    /// Extra response headers (e.g. `Retry-After`, `Allow`).
    var headers: [(String, String)] { get }
}

extension PlatformError {
    public var fields: [String: String] { [:] }
    public var headers: [(String, String)] { [] }
}

/// A concrete `PlatformError` for the shared codes of DESIGN §4.
public struct APIError: PlatformError, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var detail: String
    public var fields: [String: String]
    public var headers: [(String, String)]

    public init(status: Int, code: String, detail: String, fields: [String: String] = [:], headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(detail)" }

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

    public static let unauthorized = APIError(status: 401, code: "UNAUTHORIZED", detail: "Missing, invalid, expired or revoked credentials")

    public static func unauthorized(_ detail: String) -> APIError {
        APIError(status: 401, code: "UNAUTHORIZED", detail: detail)
    }

    public static func forbidden(_ detail: String) -> APIError {
        APIError(status: 403, code: "FORBIDDEN", detail: detail)
    }

    public static func notFound(_ detail: String = "Not found", code: String = "NOT_FOUND") -> APIError {
        APIError(status: 404, code: code, detail: detail)
    }

    public static func conflict(_ code: String, _ detail: String) -> APIError {
        APIError(status: 409, code: code, detail: detail)
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

    public static func internalError(requestID: String) -> APIError {
        APIError(status: 500, code: "INTERNAL_ERROR", detail: "Internal error; request id \(requestID)")
    }
}
