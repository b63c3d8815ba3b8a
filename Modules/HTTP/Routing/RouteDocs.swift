import Core

/// The request body a route reads, as its handler reads it (the same `Schema` value its parser goes through).
public struct RequestBody: Sendable {
    public let schema: Schema
    public let contentType: String
    /// False when an empty body is accepted (`request.jsonOrEmpty()`).
    public let required: Bool

    /// A JSON body.
    public static func json(_ schema: Schema, required: Bool = true) -> RequestBody {
        RequestBody(schema: schema, contentType: "application/json", required: required)
    }

    /// A `multipart/form-data` form whose parts are `schema`'s properties.
    public static func multipart(_ schema: Schema) -> RequestBody {
        RequestBody(schema: schema, contentType: "multipart/form-data", required: true)
    }
}

/// One documented response of a route. Errors need not be listed: every operation documents the DESIGN §4 envelope
/// for its 4xx answers.
public struct ResponseDoc: Sendable {
    public let status: Int
    public let description: String
    /// The body's schema; nil for a body the document does not describe (a file) or no body (`contentType` nil).
    public let schema: Schema?
    public let contentType: String?

    public init(status: Int, description: String, schema: Schema?, contentType: String? = "application/json") {
        self.status = status
        self.description = description
        self.schema = schema
        self.contentType = contentType
    }

    public static func ok(_ schema: Schema, _ description: String = "OK") -> ResponseDoc {
        ResponseDoc(status: 200, description: description, schema: schema)
    }

    /// 201 with a `Location` header.
    public static func created(_ schema: Schema, _ description: String = "Created (Location: the new resource)") -> ResponseDoc {
        ResponseDoc(status: 201, description: description, schema: schema)
    }

    public static func accepted(_ schema: Schema, _ description: String = "Accepted") -> ResponseDoc {
        ResponseDoc(status: 202, description: description, schema: schema)
    }

    /// 204, no body.
    public static let noContent = ResponseDoc(status: 204, description: "No content", schema: nil, contentType: nil)

    /// A body of `contentType` (a file, Prometheus text) whose shape the document does not describe.
    public static func content(_ status: Int, _ contentType: String, _ description: String) -> ResponseDoc {
        ResponseDoc(status: status, description: description, schema: nil, contentType: contentType)
    }
}

/// A documented query parameter.
public struct QueryParameter: Sendable {
    public let name: String
    public let schema: Schema
    public let description: String

    public init(_ name: String, _ schema: Schema, _ description: String = "") {
        self.name = name
        self.schema = schema
        self.description = description
    }

    /// `?page=&page_size=` of paginated lists (DESIGN §4).
    public static let pagination = [
        QueryParameter("page", .integer(1...Int64(Int32.max)), "1-based page number"),
        QueryParameter("page_size", .integer(1...100), "Items per page (default 20, at most 100)"),
    ]
}

/// What the OpenAPI document says of a route beyond its path: body, query parameters, responses.
public struct RouteDocs: Sendable {
    public var body: RequestBody?
    public var query: [QueryParameter]
    public var responses: [ResponseDoc]

    public init(body: RequestBody? = nil, query: [QueryParameter] = [], responses: [ResponseDoc] = []) {
        self.body = body
        self.query = query
        self.responses = responses
    }

    /// The declared response for `status`, if any.
    public func response(_ status: Int) -> ResponseDoc? { responses.first { $0.status == status } }
}
