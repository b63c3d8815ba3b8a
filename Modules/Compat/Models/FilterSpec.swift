import Core

/// UFDL's list filter (seed 004, `POST /v1/projects/list`): `expressions` applied one after another (AND), an optional
/// `order_by` and `include_inactive`. Parsed strictly: an unknown key, an unknown expression type, a `contains` with an
/// empty `sub_string`, an `and`/`or` with fewer than two sub-expressions, a field the schema does not have, or a value of
/// the wrong type → 400 `INVALID_FILTER` whose detail names the place (`expressions[1].sub_expressions[0].field`).
/// The keys it accepts are those `FilterSpec.schema(fields:name:)` declares (`Keys`).
///
/// ```swift
/// let spec = try FilterSpec.parse(body, schema: UfdlProjectDocument.schema)
/// let rows = spec.apply(documents) { document, field in document.value(of: field) }
/// ```
public struct FilterSpec: Sendable, Equatable {
    /// The kind of a filterable field, which decides the values it accepts.
    public enum FieldType: Sendable, Equatable {
        case integer, text, time
    }

    /// A field's value in a record: what expressions compare against.
    public enum Value: Sendable, Equatable {
        case integer(Int64)
        case text(String)
        /// Unix milliseconds.
        case time(Int64)
        case null
    }

    public enum Comparison: String, Sendable, Equatable, CaseIterable {
        case less = "<", greater = ">", lessOrEqual = "<=", greaterOrEqual = ">="
    }

    public indirect enum Expression: Sendable, Equatable {
        case exact(field: String, value: Value, caseInsensitive: Bool, invert: Bool)
        case contains(field: String, substring: String, caseInsensitive: Bool, invert: Bool)
        case compare(field: String, comparison: Comparison, value: Value, invert: Bool)
        case isNull(field: String, invert: Bool)
        case and([Expression], invert: Bool)
        case or([Expression], invert: Bool)
    }

    public struct OrderBy: Sendable, Equatable {
        public let field: String
        public let ascending: Bool
        /// nil = the default: nulls last when ascending, first when descending (as PostgreSQL).
        public let nullsFirst: Bool?

        public init(field: String, ascending: Bool = true, nullsFirst: Bool? = nil) {
            self.field = field
            self.ascending = ascending
            self.nullsFirst = nullsFirst
        }
    }

    public var expressions: [Expression]
    public var orderBy: [OrderBy]
    public var includeInactive: Bool

    public init(expressions: [Expression] = [], orderBy: [OrderBy] = [], includeInactive: Bool = false) {
        self.expressions = expressions
        self.orderBy = orderBy
        self.includeInactive = includeInactive
    }

    /// Bounds on a filter document, so its evaluation cost never grows with a hostile body.
    public static let maxDepth = 8
    public static let maxExpressions = 200

    // MARK: - Parsing

    /// Parses a FilterSpec against `schema` (field name → type). An empty object is the empty filter.
    public static func parse(_ body: JSON, schema: [String: FieldType]) throws(CompatError) -> FilterSpec {
        var parser = Parser(schema: schema)
        return try parser.spec(body)
    }

    struct Parser {
        let schema: [String: FieldType]
        var count = 0

        func fail(_ path: String, _ message: String) -> CompatError {
            .invalidFilter(path.isEmpty ? message : "\(path): \(message)")
        }

        func object(_ value: JSON, _ path: String, allowed: [String]) throws(CompatError) -> JSONObject {
            guard case .object(let object) = value else { throw fail(path, "must be an object, got \(value.typeName)") }
            if let unknown = object.keys.first(where: { !allowed.contains($0) }) {
                let place = path.isEmpty ? unknown : "\(path).\(unknown)"
                throw fail("", "unknown key \(place); allowed: \(allowed.joined(separator: ", "))")
            }
            return object
        }

        func bool(_ object: JSONObject, _ key: String, _ path: String, default value: Bool) throws(CompatError) -> Bool {
            guard let raw = object[key], !raw.isNull else { return value }
            guard case .bool(let flag) = raw else { throw fail(join(path, key), "must be true or false, got \(raw.typeName)") }
            return flag
        }

        func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

        mutating func spec(_ body: JSON) throws(CompatError) -> FilterSpec {
            let object = try object(body, "", allowed: Keys.spec)
            var spec = FilterSpec()
            if let list = object["expressions"], !list.isNull {
                guard case .array(let items) = list else { throw fail("expressions", "must be an array, got \(list.typeName)") }
                for (index, item) in items.enumerated() {
                    spec.expressions.append(try expression(item, "expressions[\(index)]", depth: 1))
                }
            }
            if let list = object["order_by"], !list.isNull {
                guard case .array(let items) = list else { throw fail("order_by", "must be an array, got \(list.typeName)") }
                for (index, item) in items.enumerated() {
                    let path = "order_by[\(index)]"
                    let order = try self.object(item, path, allowed: Keys.orderBy)
                    let field = try fieldName(order, path)
                    let ascending = try bool(order, "ascending", path, default: true)
                    var nullsFirst: Bool?
                    if let raw = order["nulls_first"], !raw.isNull {
                        guard case .bool(let flag) = raw else { throw fail(join(path, "nulls_first"), "must be true, false or null") }
                        nullsFirst = flag
                    }
                    spec.orderBy.append(OrderBy(field: field, ascending: ascending, nullsFirst: nullsFirst))
                }
            }
            spec.includeInactive = try bool(object, "include_inactive", "", default: false)
            return spec
        }

        func fieldName(_ object: JSONObject, _ path: String) throws(CompatError) -> String {
            guard let raw = object["field"] else { throw fail(join(path, "field"), "is required") }
            guard case .string(let field) = raw, !field.isEmpty else { throw fail(join(path, "field"), "must be a non-empty string") }
            guard schema[field] != nil else {
                throw fail(join(path, "field"), "unknown field \(field); fields: \(schema.keys.sorted().joined(separator: ", "))")
            }
            return field
        }

        /// A JSON value as a value of `field`'s type.
        func value(_ raw: JSON?, of field: String, _ path: String) throws(CompatError) -> Value {
            guard let raw else { throw fail(path, "is required") }
            let type = schema[field]!
            switch (type, raw) {
            case (.text, .string(let text)):
                return .text(text)
            case (.integer, .number):
                guard let integer = raw.int64Value else { throw fail(path, "\(field) is an integer field") }
                return .integer(integer)
            case (.integer, .string(let text)):
                guard let integer = Int64(text) else { throw fail(path, "\(field) is an integer field") }
                return .integer(integer)
            case (.time, .string(let text)):
                guard let seconds = Timestamp.parse(text), seconds.isFinite, abs(seconds) < 1e13 else {
                    throw fail(path, "\(field) takes an ISO 8601 date-time such as 2024-01-08T10:00:00+00:00")
                }
                return .time(Int64((seconds * 1000).rounded()))
            default:
                let expected = type == .text ? "a string" : type == .integer ? "an integer" : "an ISO 8601 date-time string"
                throw fail(path, "\(field) takes \(expected), got \(raw.typeName)")
            }
        }

        mutating func expression(_ item: JSON, _ path: String, depth: Int) throws(CompatError) -> Expression {
            count += 1
            guard count <= FilterSpec.maxExpressions else { throw fail("", "more than \(FilterSpec.maxExpressions) expressions") }
            guard depth <= FilterSpec.maxDepth else { throw fail(path, "nested deeper than \(FilterSpec.maxDepth) levels") }
            guard case .object(let object) = item else { throw fail(path, "must be an object, got \(item.typeName)") }
            guard let typeValue = object["type"] else { throw fail(join(path, "type"), "is required") }
            guard case .string(let type) = typeValue else { throw fail(join(path, "type"), "must be a string") }
            switch type {
            case "exact":
                let object = try self.object(item, path, allowed: Keys.exact)
                let field = try fieldName(object, path)
                return .exact(field: field, value: try value(object["value"], of: field, join(path, "value")),
                              caseInsensitive: try bool(object, "case_insensitive", path, default: false),
                              invert: try bool(object, "invert", path, default: false))
            case "contains":
                let object = try self.object(item, path, allowed: Keys.contains)
                let field = try fieldName(object, path)
                guard schema[field] == .text else { throw fail(join(path, "field"), "contains applies to text fields only (\(field) is not)") }
                guard let raw = object["sub_string"] else { throw fail(join(path, "sub_string"), "is required") }
                guard case .string(let substring) = raw else { throw fail(join(path, "sub_string"), "must be a string") }
                guard !substring.isEmpty else { throw fail(join(path, "sub_string"), "must not be empty") }
                return .contains(field: field, substring: substring, caseInsensitive: try bool(object, "case_insensitive", path, default: false),
                                 invert: try bool(object, "invert", path, default: false))
            case "compare":
                let object = try self.object(item, path, allowed: Keys.compare)
                let field = try fieldName(object, path)
                guard let raw = object["operator"] else { throw fail(join(path, "operator"), "is required") }
                guard case .string(let text) = raw, let comparison = Comparison(rawValue: text) else {
                    throw fail(join(path, "operator"), "must be one of <, >, <=, >=")
                }
                return .compare(field: field, comparison: comparison, value: try value(object["value"], of: field, join(path, "value")),
                                invert: try bool(object, "invert", path, default: false))
            case "isnull":
                let object = try self.object(item, path, allowed: Keys.isNull)
                return .isNull(field: try fieldName(object, path), invert: try bool(object, "invert", path, default: false))
            case "and", "or":
                let object = try self.object(item, path, allowed: Keys.logical)
                guard let raw = object["sub_expressions"] else { throw fail(join(path, "sub_expressions"), "is required") }
                guard case .array(let items) = raw else { throw fail(join(path, "sub_expressions"), "must be an array") }
                guard items.count >= 2 else { throw fail(join(path, "sub_expressions"), "\(type) needs at least two sub-expressions") }
                var subexpressions: [Expression] = []
                for (index, sub) in items.enumerated() {
                    subexpressions.append(try expression(sub, "\(path).sub_expressions[\(index)]", depth: depth + 1))
                }
                let invert = try bool(object, "invert", path, default: false)
                return type == "and" ? .and(subexpressions, invert: invert) : .or(subexpressions, invert: invert)
            default:
                throw fail(join(path, "type"), "unknown expression type \(type); types: exact, contains, compare, isnull, and, or")
            }
        }
    }

    // MARK: - Evaluation

    /// The records that pass every expression, ordered by `orderBy` (a stable sort: ties keep the input order).
    public func apply<Record>(_ records: [Record], value: (Record, String) -> Value) -> [Record] {
        let kept = records.filter { record in expressions.allSatisfy { Self.matches($0, record, value) } }
        guard !orderBy.isEmpty else { return kept }
        let keyed = kept.enumerated().map { item in
            (offset: item.offset, record: item.element, keys: orderBy.map { order in value(item.element, order.field) })
        }
        return keyed.sorted { a, b in
            for (index, order) in orderBy.enumerated() {
                let comparison = Self.order(a.keys[index], b.keys[index], order)
                if comparison != 0 { return comparison < 0 }
            }
            return a.offset < b.offset
        }.map { $0.record }
    }

    static func matches<Record>(_ expression: Expression, _ record: Record, _ value: (Record, String) -> Value) -> Bool {
        switch expression {
        case .exact(let field, let expected, let caseInsensitive, let invert):
            let actual = value(record, field)
            let equal: Bool
            if caseInsensitive, case .text(let a) = actual, case .text(let b) = expected {
                equal = a.lowercased() == b.lowercased()
            } else {
                equal = actual != .null && actual == expected
            }
            return equal != invert
        case .contains(let field, let substring, let caseInsensitive, let invert):
            guard case .text(let text) = value(record, field) else { return invert }
            let found = caseInsensitive ? text.lowercased().contains(substring.lowercased()) : text.contains(substring)
            return found != invert
        case .compare(let field, let comparison, let expected, let invert):
            let actual = value(record, field)
            guard actual != .null, let order = compare(actual, expected) else { return invert }
            let result: Bool
            switch comparison {
            case .less: result = order < 0
            case .greater: result = order > 0
            case .lessOrEqual: result = order <= 0
            case .greaterOrEqual: result = order >= 0
            }
            return result != invert
        case .isNull(let field, let invert):
            return (value(record, field) == .null) != invert
        case .and(let subexpressions, let invert):
            return subexpressions.allSatisfy { matches($0, record, value) } != invert
        case .or(let subexpressions, let invert):
            return subexpressions.contains { matches($0, record, value) } != invert
        }
    }

    /// -1, 0, 1 for two values of one type; nil when they cannot be compared.
    static func compare(_ a: Value, _ b: Value) -> Int? {
        switch (a, b) {
        case (.integer(let x), .integer(let y)), (.time(let x), .time(let y)): x < y ? -1 : x > y ? 1 : 0
        case (.text(let x), .text(let y)): x < y ? -1 : x > y ? 1 : 0
        default: nil
        }
    }

    static func order(_ a: Value, _ b: Value, _ order: OrderBy) -> Int {
        let nullsFirst = order.nullsFirst ?? !order.ascending
        switch (a == .null, b == .null) {
        case (true, true): return 0
        case (true, false): return nullsFirst ? -1 : 1
        case (false, true): return nullsFirst ? 1 : -1
        case (false, false):
            let result = compare(a, b) ?? 0
            return order.ascending ? result : -result
        }
    }
}
