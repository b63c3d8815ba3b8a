/// A JSON Schema: the subset the API's OpenAPI 3.1 document uses. Request parsers read their fields through a
/// schema (`FieldReader(body, schema:)`), routes register their body and response schemas, and the OpenAPI document
/// is rendered from those same values, so what is documented and what is parsed cannot drift apart.
///
/// ```swift
/// static let schema = Schema.object([
///     .required("name", .string(1...200)),
///     .optional("favorite", .boolean),
/// ]).named("ProjectDraft")
/// ```
public struct Schema: Sendable, Equatable {
    /// What a value must be.
    public indirect enum Kind: Sendable, Equatable {
        /// Any JSON value.
        case any
        case string
        case integer
        case number
        case boolean
        case null
        case array(Schema)
        case object([Property], additional: Additional)
        /// Exactly one of these.
        case oneOf([Schema])
    }

    /// What an object says of keys it does not declare.
    public indirect enum Additional: Sendable, Equatable {
        /// Rejected: the API answers 400 `VALIDATION_ERROR` naming them (DESIGN §4).
        case forbidden
        /// Accepted, whatever they hold.
        case allowed
        /// Accepted when they match (a map such as `identifiers`: `{"key": "text"}`).
        case matching(Schema)
    }

    /// One declared key of an object.
    public struct Property: Sendable, Equatable {
        public let name: String
        public let schema: Schema
        public let required: Bool

        public static func required(_ name: String, _ schema: Schema) -> Property { Property(name: name, schema: schema, required: true) }
        public static func optional(_ name: String, _ schema: Schema) -> Property { Property(name: name, schema: schema, required: false) }
    }

    public var kind: Kind
    /// Whether `null` is accepted too.
    public var nullable = false
    /// A component name: the document renders a `$ref` to `#/components/schemas/<name>`.
    public var name: String?
    public var description: String?
    /// String length in Unicode scalars (JSON Schema counts code points, as our parsers do).
    public var length: ClosedRange<Int>?
    public var pattern: String?
    public var format: String?
    /// The allowed strings (`enum`).
    public var allowed: [String]?
    /// The allowed integers (`enum` of an integer schema).
    public var allowedIntegers: [Int64]?
    public var minimum: Double?
    public var maximum: Double?
    public var minItems: Int?
    public var maxItems: Int?
    public var maxProperties: Int?
    /// A binary body part (`format: binary`, multipart file uploads); never validated.
    public var isBinary = false

    public init(_ kind: Kind) { self.kind = kind }

    /// The largest integer a JSON number carries exactly (2^53 − 1); our parsers refuse larger ones.
    public static let maxExactInteger: Int64 = 9_007_199_254_740_991

    public static let any = Schema(.any)
    public static let boolean = Schema(.boolean)
    public static let null = Schema(.null)

    public static func string(_ length: ClosedRange<Int>? = nil, pattern: String? = nil, format: String? = nil) -> Schema {
        var schema = Schema(.string)
        schema.length = length
        schema.pattern = pattern
        schema.format = format
        return schema
    }

    /// One of `values`.
    public static func oneOf(_ values: [String]) -> Schema {
        var schema = Schema(.string)
        schema.allowed = values
        return schema
    }

    /// One of the integers `values`.
    public static func oneOf(integers values: [Int64]) -> Schema {
        var schema = Schema(.integer)
        schema.allowedIntegers = values
        return schema
    }

    /// An RFC 3339 UTC time string.
    public static let dateTime = string(format: "date-time")

    public static func integer(_ range: ClosedRange<Int64>? = nil) -> Schema {
        var schema = Schema(.integer)
        if let range {
            schema.minimum = Double(max(range.lowerBound, -maxExactInteger))
            schema.maximum = Double(min(range.upperBound, maxExactInteger))
        }
        return schema
    }

    /// An integer of at least `lowerBound` (ids: `integer(from: 1)`).
    public static func integer(from lowerBound: Int64) -> Schema { integer(lowerBound...maxExactInteger) }

    public static func number(_ range: ClosedRange<Double>? = nil) -> Schema {
        var schema = Schema(.number)
        schema.minimum = range?.lowerBound
        schema.maximum = range?.upperBound
        return schema
    }

    public static func array(_ items: Schema, minItems: Int? = nil, maxItems: Int? = nil) -> Schema {
        var schema = Schema(.array(items))
        schema.minItems = minItems
        schema.maxItems = maxItems
        return schema
    }

    /// An object of `properties`; undeclared keys are rejected unless `additional` says otherwise.
    public static func object(_ properties: [Property], additional: Additional = .forbidden) -> Schema {
        Schema(.object(properties, additional: additional))
    }

    /// An object whose keys are free and whose values match `values`.
    public static func map(_ values: Schema, maxProperties: Int? = nil) -> Schema {
        var schema = Schema(.object([], additional: .matching(values)))
        schema.maxProperties = maxProperties
        return schema
    }

    /// Any JSON object.
    public static let anyObject = Schema(.object([], additional: .allowed))

    public static func oneOf(_ schemas: [Schema]) -> Schema { Schema(.oneOf(schemas)) }

    /// A binary upload (a multipart file part).
    public static let binary: Schema = {
        var schema = string(format: "binary")
        schema.isBinary = true
        return schema
    }()

    /// This schema, also accepting `null`.
    public var orNull: Schema {
        var copy = self
        copy.nullable = true
        return copy
    }

    /// This schema as the component `name` (rendered once under `components/schemas`, referenced elsewhere).
    public func named(_ name: String) -> Schema {
        var copy = self
        copy.name = name
        return copy
    }

    public func described(_ text: String) -> Schema {
        var copy = self
        copy.description = text
        return copy
    }

    /// The declared properties of an object schema (empty for other kinds).
    public var properties: [Property] {
        if case .object(let properties, _) = kind { return properties }
        return []
    }

    /// The declared property `name`, if any.
    public func property(_ name: String) -> Property? { properties.first { $0.name == name } }

    /// The integer range of an integer schema with both bounds.
    public var integerRange: ClosedRange<Int64>? {
        guard case .integer = kind, let minimum, let maximum else { return nil }
        return Int64(minimum)...Int64(maximum)
    }

    /// An object schema with `extra` properties appended (a view that adds fields to another's).
    public func adding(_ extra: [Property]) -> Schema {
        guard case .object(let properties, let additional) = kind else { return self }
        var copy = self
        copy.kind = .object(properties + extra, additional: additional)
        copy.name = nil
        return copy
    }

    /// An object schema whose properties are all optional (a partial update of a create body).
    public var partial: Schema {
        guard case .object(let properties, let additional) = kind else { return self }
        var copy = self
        copy.kind = .object(properties.map { Property(name: $0.name, schema: $0.schema, required: false) }, additional: additional)
        copy.name = nil
        return copy
    }
}

extension Schema {
    /// The DESIGN §4 page envelope `{"count", "next", "previous", "results"}` of `item`s.
    public static func page(of item: Schema) -> Schema {
        .object([
            .required("count", .integer(from: 0)),
            .required("next", string().orNull),
            .required("previous", string().orNull),
            .required("results", .array(item)),
        ])
    }

    /// The DESIGN §4 error envelope `{"code", "detail", "fields"?}`.
    public static let error = Schema.object([
        .required("code", .string(pattern: "^[A-Z][A-Z0-9_]*$")),
        .required("detail", .string()),
        .optional("fields", .map(.string())),
    ]).named("Error")
}
