/// A value SQLite stores or returns: the five storage classes.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that can be bound to a `?` placeholder.
public protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Int32: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Substring: SQLBindable { public var sqlValue: SQLValue { .text(String(self)) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Array: SQLBindable where Element == UInt8 { public var sqlValue: SQLValue { .blob(self) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One result row, materialized. Column accessors are lenient the way SQLite is: a NULL reads as
/// 0 / "" / false through the non-optional accessors.
public struct Row: Sendable {
    public let values: [SQLValue]

    public init(values: [SQLValue]) { self.values = values }

    public var count: Int { values.count }

    public subscript(index: Int) -> SQLValue { values[index] }

    public func isNull(_ index: Int) -> Bool { values[index] == .null }

    public func int(_ index: Int) -> Int64 { optionalInt(index) ?? 0 }

    public func optionalInt(_ index: Int) -> Int64? {
        switch values[index] {
        case .integer(let value): value
        case .real(let value): Int64(exactly: value.rounded(.towardZero))
        case .text(let text): Int64(text)
        case .null, .blob: nil
        }
    }

    public func double(_ index: Int) -> Double { optionalDouble(index) ?? 0 }

    public func optionalDouble(_ index: Int) -> Double? {
        switch values[index] {
        case .integer(let value): Double(value)
        case .real(let value): value
        case .text(let text): Double(text)
        case .null, .blob: nil
        }
    }

    public func string(_ index: Int) -> String { optionalString(index) ?? "" }

    public func optionalString(_ index: Int) -> String? {
        switch values[index] {
        case .text(let text): text
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null: nil
        }
    }

    public func bool(_ index: Int) -> Bool { int(index) != 0 }

    public func optionalBool(_ index: Int) -> Bool? { optionalInt(index).map { $0 != 0 } }

    public func blob(_ index: Int) -> [UInt8] {
        switch values[index] {
        case .blob(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: []
        }
    }
}
