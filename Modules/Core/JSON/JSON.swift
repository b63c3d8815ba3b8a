/// A JSON value. Objects keep their key order, so responses read in the order their types declare.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ value: Int) -> JSON { .number(Double(value)) }
    public static func int64(_ value: Int64) -> JSON { .number(Double(value)) }

    /// An optional value, `null` when absent.
    public static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    public static func optional(_ value: Int64?) -> JSON { value.map { .number(Double($0)) } ?? .null }
    public static func optional(_ value: Double?) -> JSON { value.map(JSON.number) ?? .null }

    public subscript(key: String) -> JSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var doubleValue: Double? { if case .number(let n) = self { return n }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { self == .null }

    /// The value as an integer when it is a number with no fractional part that fits in `Int64`.
    public var int64Value: Int64? {
        guard case .number(let n) = self, n.rounded() == n, abs(n) < 9.007_199_254_740_992e15 else { return nil }
        return Int64(n)
    }

    /// A short name of the value's type, for validation messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// An ordered JSON object. Keys are unique; setting an existing key replaces its value in place.
public struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [(key: String, value: JSON)] = []

    public init() {}

    /// An empty object with room for `capacity` entries (builders that know how many keys they append).
    public init(capacity: Int) {
        entries.reserveCapacity(capacity)
    }

    public init(dictionaryLiteral elements: (String, JSON)...) {
        for (key, value) in elements { self[key] = value }
    }

    public init(_ pairs: [(String, JSON)]) {
        for (key, value) in pairs { self[key] = value }
    }

    /// `JSONObject(["status": .string("ok")])`, keys in literal order.
    public init(_ pairs: KeyValuePairs<String, JSON>) {
        for (key, value) in pairs { self[key] = value }
    }

    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }

    public subscript(key: String) -> JSON? {
        get {
            for entry in entries where entry.key == key { return entry.value }
            return nil
        }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// Appends without checking for duplicates; for builders that know their keys are unique.
    public mutating func append(_ key: String, _ value: JSON) {
        entries.append((key, value))
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for entry in lhs.entries where rhs[entry.key] != entry.value { return false }
        return true
    }
}

/// A type that renders itself as JSON for responses.
public protocol JSONRepresentable {
    var json: JSON { get }
}

extension JSON: JSONRepresentable {
    public var json: JSON { self }
}

extension JSONObject: JSONRepresentable {
    public var json: JSON { .object(self) }
}
