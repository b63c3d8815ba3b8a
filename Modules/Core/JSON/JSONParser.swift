/// Why a JSON text was rejected, with the byte offset.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes: no NaN/Infinity, no trailing commas, no comments,
/// a nesting limit so hostile input cannot exhaust the stack, and invalid UTF-8 rejected.
public struct JSONParser {
    public static let defaultMaxDepth = 64

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSON in
            var parser = JSONParser(buffer: buffer, maxDepth: maxDepth)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("Unexpected trailing characters") }
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try parse(Array(text.utf8))
    }

    /// 10^0 … 10^22, every one an exact double.
    private static let powersOfTen: [Double] = (0...22).map { exponent in (0..<exponent).reduce(1.0) { value, _ in value * 10 } }

    private let buffer: UnsafeBufferPointer<UInt8>
    private let maxDepth: Int
    private var index = 0

    private init(buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buffer = buffer
        self.maxDepth = maxDepth
    }

    private func error(_ message: String) -> JSONParseError {
        JSONParseError(message: message, offset: index)
    }

    private mutating func skipWhitespace() {
        while index < buffer.count {
            switch buffer[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSON {
        guard index < buffer.count else { throw error("Unexpected end of input") }
        switch buffer[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("Unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= buffer.count else { throw error("Invalid literal") }
        let start = literal.utf8Start
        for offset in 0..<count where buffer[index + offset] != start[offset] {
            throw error("Invalid literal")
        }
        index += count
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= maxDepth else { throw error("Nesting deeper than \(maxDepth)") }
        index += 1
        var object = JSONObject()
        skipWhitespace()
        if index < buffer.count, buffer[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        // Duplicate keys are rejected (their meaning is undefined, RFC 8259 §4). Small objects check by scan,
        // larger ones through a set, so parsing stays linear in the number of members.
        var seen: Set<String>?
        while true {
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: "\"") else { throw error("Expected object key") }
            let key = try parseString()
            if seen != nil {
                guard seen!.insert(key).inserted else { throw error("Duplicate object key") }   // in place, no copy
            } else if object.count >= 16 {
                var keys = Set(object.keys)
                guard keys.insert(key).inserted else { throw error("Duplicate object key") }
                seen = keys
            } else if object[key] != nil {
                throw error("Duplicate object key")
            }
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: ":") else { throw error("Expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            object.append(key, value)
            skipWhitespace()
            guard index < buffer.count else { throw error("Unterminated object") }
            if buffer[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if buffer[index] == UInt8(ascii: "}") {
                index += 1
                return .object(object)
            }
            throw error("Expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= maxDepth else { throw error("Nesting deeper than \(maxDepth)") }
        index += 1
        var array: [JSON] = []
        skipWhitespace()
        if index < buffer.count, buffer[index] == UInt8(ascii: "]") {
            index += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < buffer.count else { throw error("Unterminated array") }
            if buffer[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if buffer[index] == UInt8(ascii: "]") {
                index += 1
                return .array(array)
            }
            throw error("Expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = index
        if buffer[index] == UInt8(ascii: "-") { index += 1 }
        guard index < buffer.count else { throw error("Invalid number") }
        if buffer[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(buffer[index]) {
            while index < buffer.count, isDigit(buffer[index]) { index += 1 }
        } else {
            throw error("Invalid number")
        }
        var isInteger = true
        var fractionStart = index
        if index < buffer.count, buffer[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            fractionStart = index
            guard index < buffer.count, isDigit(buffer[index]) else { throw error("Invalid number") }
            while index < buffer.count, isDigit(buffer[index]) { index += 1 }
            // Fast path for short decimals without exponent: both the digits as an integer (below 2^53) and the power
            // of ten (up to 10^22) are exact doubles, so one IEEE division is correctly rounded, as strtod is.
            let fractionDigits = index - fractionStart
            let negative = buffer[start] == UInt8(ascii: "-")
            if index - start - (negative ? 2 : 1) <= 15, fractionDigits <= 22,
               !(index < buffer.count && (buffer[index] == UInt8(ascii: "e") || buffer[index] == UInt8(ascii: "E"))) {
                var digits: Int64 = 0
                for position in (negative ? start + 1 : start)..<index where buffer[position] != UInt8(ascii: ".") {
                    digits = digits * 10 + Int64(buffer[position] &- 48)
                }
                let magnitude = Double(digits) / Self.powersOfTen[fractionDigits]
                return negative ? -magnitude : magnitude
            }
        }
        if index < buffer.count, buffer[index] == UInt8(ascii: "e") || buffer[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < buffer.count, buffer[index] == UInt8(ascii: "+") || buffer[index] == UInt8(ascii: "-") { index += 1 }
            guard index < buffer.count, isDigit(buffer[index]) else { throw error("Invalid number") }
            while index < buffer.count, isDigit(buffer[index]) { index += 1 }
        }
        // Fast path: short integers need no string conversion.
        if isInteger, index - start <= 15 {
            var value: Int64 = 0
            var position = start
            let negative = buffer[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            while position < index {
                value = value * 10 + Int64(buffer[position] &- 48)
                position += 1
            }
            return Double(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("Number out of range") }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        let start = index
        var ascii = true
        // Fast path: no escapes. ASCII needs no UTF-8 validation (and skips the generic validating initializer,
        // which showed up in profiles of telemetry ingestion).
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buffer[start..<index])
                index += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let string = String(validating: slice, as: UTF8.self) else { throw error("Invalid UTF-8 in string") }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("Control character in string") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        var bytes = Array(UnsafeBufferPointer(rebasing: buffer[start..<index]))
        while index < buffer.count {
            let byte = buffer[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: bytes, as: UTF8.self) else { throw error("Invalid UTF-8 in string") }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard index < buffer.count else { throw error("Unterminated escape") }
                let escape = buffer[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < buffer.count, buffer[index] == UInt8(ascii: "\\"), buffer[index + 1] == UInt8(ascii: "u") else {
                            throw error("Unpaired surrogate")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("Unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("Unpaired surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("Invalid escape") }
                    bytes.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw error("Invalid escape")
                }
            default:
                if byte < 0x20 { throw error("Control character in string") }
                bytes.append(byte)
                index += 1
            }
        }
        throw error("Unterminated string")
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= buffer.count else { throw error("Invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = buffer[index]
            let digit: UInt32
            switch byte {
            case 48...57: digit = UInt32(byte - 48)
            case 65...70: digit = UInt32(byte - 55)
            case 97...102: digit = UInt32(byte - 87)
            default: throw error("Invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}

/// A pull interface to the parser's grammar, for hot paths that read one known shape without building a `JSON` tree
/// (telemetry bodies). Strings and numbers come from the same code as `parse`, so they are accepted, rejected and
/// converted exactly alike; a caller that meets anything outside its shape gives up and calls `parse`.
extension JSONParser {
    /// Runs `body` with a reader positioned at the first byte of `bytes`.
    public static func withReader<T>(_ bytes: [UInt8], _ body: (inout JSONParser) -> T) -> T {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONParser(buffer: buffer, maxDepth: defaultMaxDepth)
            return body(&reader)
        }
    }

    /// Skips whitespace, then takes `byte` if it comes next.
    public mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < buffer.count, buffer[index] == byte else { return false }
        index += 1
        return true
    }

    /// Skips whitespace and reads a string (nil when the next value is not one, or is malformed).
    public mutating func readString() -> String? {
        skipWhitespace()
        guard index < buffer.count, buffer[index] == UInt8(ascii: "\"") else { return nil }
        return try? parseString()
    }

    /// Skips whitespace and reads a number (nil when the next value is not one, or is malformed or out of range).
    public mutating func readNumber() -> Double? {
        skipWhitespace()
        guard index < buffer.count, buffer[index] == UInt8(ascii: "-") || isDigit(buffer[index]) else { return nil }
        return try? parseNumber()
    }

    /// Whether only whitespace is left.
    public mutating func isAtEnd() -> Bool {
        skipWhitespace()
        return index == buffer.count
    }
}

