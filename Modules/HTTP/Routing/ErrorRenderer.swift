import Core

/// Turns a `PlatformError` into a response. The platform's one mapping (`Response.error`, the DESIGN §4 envelope
/// `{code, detail, fields}`) is the default; a route group serving another vendor's wire format (a compatibility
/// dialect) brings its own shape for every error under its prefix, thrown by a handler or its authenticator, or
/// answered by the router (404, 405). The HTTP layer knows no domain: the renderer comes from the module.
///
/// ```swift
/// let dialect = root.group("/compat/acme").renderingErrors(with: ErrorRenderer { error, _ in .json(["message": .string(error.detail)], status: error.status) })
/// ```
public struct ErrorRenderer: Sendable {
    public let render: @Sendable (any PlatformError, Request) -> Response

    public init(_ render: @escaping @Sendable (any PlatformError, Request) -> Response) {
        self.render = render
    }

    /// The platform's envelope, with the error's headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
    public static let platform = ErrorRenderer { error, _ in .error(error) }
}
