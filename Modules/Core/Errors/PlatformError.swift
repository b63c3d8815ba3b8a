/// The one error family of the platform: every error that reaches a client carries an HTTP status,
/// a stable machine `code` and a human `detail`. The HTTP layer renders it in exactly one place.
///
/// Each module declares its own enum (`AuthError`, `ProjectError`, `DeviceError`, `FactorError`) that maps every
/// case to its code, status and detail in one place; the codes shared by all modules are `APIError`'s helpers.
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
    /// Whether a client may see this error as it is. When false (by default: any 5xx) the HTTP layer logs it and
    /// answers `INTERNAL_ERROR` with the request id instead; deliberate 5xx answers (`DEVICE_OFFLINE`) say true.
    var exposesDetail: Bool { get }
}

extension PlatformError {
    public var fields: [String: String] { [:] }
    public var headers: [(String, String)] { [] }
    public var exposesDetail: Bool { status < 500 }
}

/// A failure that says nothing about the request, only that a shared resource is briefly unavailable (the database
/// busy, restarting or unreachable). The HTTP layer answers it with 503 `UNAVAILABLE` and `Retry-After`; the error
/// itself goes to the log.
public protocol TransientFailure: Error {
    /// Whether this particular failure is transient (an error type may carry both kinds).
    var isTransient: Bool { get }
    /// The `Retry-After` the client gets, in seconds.
    var retryAfterSeconds: Int { get }
}
