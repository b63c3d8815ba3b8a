import Core

/// Turns a `PlatformError` into a response. The platform's one mapping (`Response.error`, the DESIGN §4 envelope
/// `{code, detail, fields}`) is the default; a route group serving another vendor's wire format (a compatibility
/// dialect) brings its own shape for every error under its prefix, thrown by a handler or its authenticator, or
/// answered by the router (404, 405). The HTTP layer knows no domain: the renderer comes from the module, and with it
/// the schema of the bodies it renders, which the OpenAPI document lists for the 4xx answers of the group's routes.
///
/// ```swift
/// let schema = Schema.object([.required("message", .string())]).named("AcmeError")
/// let dialect = root.group("/compat/acme").renderingErrors(with: ErrorRenderer(schema: schema, description: "Acme's error") { error, _ in
///     .json(["message": .string(error.detail)], status: error.status)
/// })
/// ```
public struct ErrorRenderer: Sendable {
    public let render: @Sendable (any PlatformError, Request) -> Response
    /// The body every rendered error has: a named schema (its name is the OpenAPI component of the schema and of the
    /// error response that refers to it).
    public let schema: Schema
    /// What the OpenAPI document says of these error responses.
    public let description: String

    /// A renderer whose every body conforms to `schema`, which must be named.
    public init(schema: Schema, description: String, _ render: @escaping @Sendable (any PlatformError, Request) -> Response) {
        precondition(schema.name != nil, "an error renderer's schema must be named (it becomes an OpenAPI component)")
        self.render = render
        self.schema = schema
        self.description = description
    }

    /// The OpenAPI component name of the error response (and of its schema).
    public var componentName: String { schema.name ?? "Error" }

    /// The platform's envelope, with the error's headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
    public static let platform = ErrorRenderer(schema: .error, description: "The error envelope {code, detail, fields?} (DESIGN §4)") { error, _ in
        .error(error)
    }
}
