/// Reads a JSON request object field by field, collecting every problem so one `VALIDATION_ERROR`
/// names them all. Unknown fields are rejected (DESIGN §4); `ignored` fields are accepted and dropped.
///
/// ```swift
/// var reader = try FieldReader(body, allowed: ["name", "favorite"], ignored: ["project_id"])
/// let name = reader.string("name", required: true, length: 1...200)
/// let favorite = reader.bool("favorite")
/// try reader.finish()
/// ```
///
/// Built over a `Schema` (`FieldReader(body, schema: ProjectDraft.schema)`), the reader takes its allowed keys from the
/// schema's properties, and each accessor's unspecified `required`, `length`, `range` and `nullable` from the
/// property's declaration; reading a key the schema does not declare is a programming error (an assertion), so a
/// field cannot be parsed without being documented.
public struct FieldReader {
    public let object: JSONObject
    public private(set) var problems: [String: String] = [:]
    /// The declaration the fields are read through, if any.
    public let schema: Schema?

    /// A reader over `value` that accepts exactly the properties `schema` declares (plus `ignored` ones).
    public init(_ value: JSON, schema: Schema, ignored: Set<String> = []) throws(APIError) {
        try self.init(value, allowed: Set(schema.properties.map(\.name)), ignored: ignored, schema: schema)
    }

    public init(_ value: JSON, allowed: Set<String>, ignored: Set<String> = []) throws(APIError) {
        try self.init(value, allowed: allowed, ignored: ignored, schema: nil)
    }

    private init(_ value: JSON, allowed: Set<String>, ignored: Set<String>, schema: Schema?) throws(APIError) {
        self.schema = schema
        guard case .object(let object) = value else {
            throw APIError.validation(["body": "must be a JSON object, got \(value.typeName)"], detail: "Request body must be a JSON object")
        }
        self.object = object
        // At most 20 unknown fields are named: an answer never grows with a hostile body.
        for key in object.keys where !allowed.contains(key) && !ignored.contains(key) {
            problems[Self.echo(key)] = "unknown field"
            if problems.count >= 20 { break }
        }
    }

    /// A client's key as a problem names it: at most 64 Unicode scalars (not characters: one character can carry
    /// any number of combining marks), so an answer never grows with a hostile body.
    public static func echo(_ key: String) -> String {
        key.unicodeScalars.count <= 64 ? key : String(String.UnicodeScalarView(key.unicodeScalars.prefix(64)))
    }

    /// The declaration of `key` in the reader's schema (nil without a schema). Asserts that a schema declares it.
    func declared(_ key: String) -> Schema.Property? {
        guard let schema else { return nil }
        let property = schema.property(key)
        assert(property != nil, "FieldReader reads \(key), which its schema does not declare")
        return property
    }

    /// Whether the client sent the key at all (even as null).
    public func has(_ key: String) -> Bool { object[key] != nil }

    public mutating func fail(_ key: String, _ message: String) {
        if problems[key] == nil { problems[key] = message }
    }

    public mutating func string(_ key: String, required: Bool? = nil, length: ClosedRange<Int>? = nil, nullable: Bool? = nil) -> String? {
        let property = declared(key)
        let required = required ?? property?.required ?? false
        let length = length ?? property?.schema.length
        let nullable = nullable ?? property?.schema.nullable ?? false
        guard let value = object[key] else {
            if required { fail(key, "is required") }
            return nil
        }
        if value.isNull {
            if !nullable || required { fail(key, "must not be null") }
            return nil
        }
        guard case .string(let s) = value else {
            fail(key, "must be a string, got \(value.typeName)")
            return nil
        }
        // Counted in Unicode scalars, not grapheme clusters: one "character" cannot carry megabytes of marks.
        if let length, !length.contains(s.unicodeScalars.count) {
            fail(key, "length must be \(length.lowerBound)..\(length.upperBound)")
            return nil
        }
        // PostgreSQL text cannot hold U+0000; refused on both backends, so nothing stored differs from what was sent.
        if s.utf8.contains(0) {
            fail(key, "must not contain the NUL character")
            return nil
        }
        return s
    }

    public mutating func bool(_ key: String, required: Bool? = nil) -> Bool? {
        let required = required ?? declared(key)?.required ?? false
        guard let value = object[key] else {
            if required { fail(key, "is required") }
            return nil
        }
        guard case .bool(let b) = value else {
            fail(key, "must be a boolean, got \(value.typeName)")
            return nil
        }
        return b
    }

    public mutating func int(_ key: String, required: Bool? = nil, range: ClosedRange<Int64>? = nil) -> Int64? {
        let property = declared(key)
        let required = required ?? property?.required ?? false
        let range = range ?? property?.schema.integerRange
        guard let value = object[key] else {
            if required { fail(key, "is required") }
            return nil
        }
        guard let n = value.int64Value else {
            fail(key, value.doubleValue != nil ? "must be an integer" : "must be an integer, got \(value.typeName)")
            return nil
        }
        if let range, !range.contains(n) {
            fail(key, "must be \(range.lowerBound)..\(range.upperBound)")
            return nil
        }
        return n
    }

    public mutating func double(_ key: String, required: Bool? = nil, nullable: Bool? = nil) -> Double? {
        let property = declared(key)
        let required = required ?? property?.required ?? false
        let nullable = nullable ?? property?.schema.nullable ?? false
        guard let value = object[key] else {
            if required { fail(key, "is required") }
            return nil
        }
        if value.isNull {
            if !nullable { fail(key, "must not be null") }
            return nil
        }
        guard let n = value.doubleValue else {
            fail(key, "must be a number, got \(value.typeName)")
            return nil
        }
        return n
    }

    public mutating func stringArray(_ key: String, required: Bool? = nil, itemLength: ClosedRange<Int>? = nil, maxCount: Int? = nil) -> [String]? {
        let property = declared(key)
        let required = required ?? property?.required ?? false
        var itemLength = itemLength
        if itemLength == nil, case .array(let items)? = property?.schema.kind { itemLength = items.length }
        let maxCount = maxCount ?? property?.schema.maxItems ?? 1000
        guard let value = object[key] else {
            if required { fail(key, "is required") }
            return nil
        }
        guard case .array(let items) = value else {
            fail(key, "must be an array of strings, got \(value.typeName)")
            return nil
        }
        if items.count > maxCount {
            fail(key, "at most \(maxCount) items")
            return nil
        }
        var result: [String] = []
        for item in items {
            guard case .string(let s) = item else {
                fail(key, "must be an array of strings")
                return nil
            }
            if let itemLength, !itemLength.contains(s.unicodeScalars.count) {
                fail(key, "each item's length must be \(itemLength.lowerBound)..\(itemLength.upperBound)")
                return nil
            }
            if s.utf8.contains(0) {
                fail(key, "items must not contain the NUL character")
                return nil
            }
            result.append(s)
        }
        return result
    }

    public mutating func objectValue(_ key: String, required: Bool? = nil) -> JSONObject? {
        let required = required ?? declared(key)?.required ?? false
        guard let value = object[key] else {
            if required { fail(key, "is required") }
            return nil
        }
        guard case .object(let o) = value else {
            fail(key, "must be an object, got \(value.typeName)")
            return nil
        }
        return o
    }

    /// Throws one `VALIDATION_ERROR` naming every problem found, if any.
    public func finish() throws(APIError) {
        if !problems.isEmpty { throw APIError.validation(problems) }
    }
}
