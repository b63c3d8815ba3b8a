/// A parameter or result value. Results of the types the driver reads in binary (integers, floats, bool, text,
/// bytea, timestamps) come back typed; every other type comes back as its text form in `.text`.
public enum PostgresValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case text(String)
    case bytes([UInt8])
    /// A `timestamptz`/`timestamp`, in microseconds since 1970-01-01 00:00 UTC.
    case timestamp(microseconds: Int64)

    public var isNull: Bool { self == .null }

    public var intValue: Int64? {
        switch self {
        case .int(let value): value
        case .bool(let value): value ? 1 : 0
        case .text(let text): Int64(text)
        default: nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        case .text(let text): Double(text)
        default: nil
        }
    }

    public var boolValue: Bool? {
        switch self {
        case .bool(let value): value
        case .int(let value): value != 0
        default: nil
        }
    }

    public var stringValue: String? {
        switch self {
        case .text(let text): text
        default: nil
        }
    }

    public var bytesValue: [UInt8]? {
        switch self {
        case .bytes(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: nil
        }
    }
}

/// Type OIDs of `pg_type` the driver knows.
public enum PostgresType {
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let oid: UInt32 = 26
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let unknown: UInt32 = 705
    public static let bpchar: UInt32 = 1042
    public static let varchar: UInt32 = 1043
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184

    /// True when results of this type are asked for in binary (and decoded by `PostgresValue.decode`).
    public static func readsBinary(_ type: UInt32) -> Bool {
        switch type {
        case bool, bytea, name, int8, int2, int4, text, oid, float4, float8, bpchar, varchar, timestamp, timestamptz: true
        default: false
        }
    }
}

/// Why a value cannot be sent as a parameter of a given type.
public struct PostgresEncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
let postgresEpochOffset: Int64 = 946_684_800_000_000

extension PostgresValue {
    /// The parameter's bytes and format code (1 binary, 0 text) for a parameter the server typed `oid`.
    /// Types the driver has no binary form for get the value's text form, which the server parses.
    public func encode(for oid: UInt32) throws(PostgresEncodingError) -> (bytes: [UInt8]?, format: Int16) {
        switch (self, oid) {
        case (.null, _): return (nil, 1)
        case (.bool(let value), PostgresType.bool): return ([value ? 1 : 0], 1)
        case (.int(let value), PostgresType.bool) where value == 0 || value == 1: return ([value == 1 ? 1 : 0], 1)
        case (.int(let value), PostgresType.int2):
            guard let small = Int16(exactly: value) else { throw outOfRange(value, "int2") }
            return (bigEndian(UInt64(UInt16(bitPattern: small)), 2), 1)
        case (.int(let value), PostgresType.int4):
            guard let small = Int32(exactly: value) else { throw outOfRange(value, "int4") }
            return (bigEndian(UInt64(UInt32(bitPattern: small)), 4), 1)
        case (.int(let value), PostgresType.oid):
            guard let small = UInt32(exactly: value) else { throw outOfRange(value, "oid") }
            return (bigEndian(UInt64(small), 4), 1)
        case (.int(let value), PostgresType.int8): return (bigEndian(UInt64(bitPattern: value), 8), 1)
        case (.bool(let value), PostgresType.int2), (.bool(let value), PostgresType.int4), (.bool(let value), PostgresType.int8):
            return try PostgresValue.int(value ? 1 : 0).encode(for: oid)
        case (.int(let value), PostgresType.float8): return (bigEndian(Double(value).bitPattern, 8), 1)
        case (.double(let value), PostgresType.float8): return (bigEndian(value.bitPattern, 8), 1)
        case (.int(let value), PostgresType.float4): return (bigEndian(UInt64(Float(value).bitPattern), 4), 1)
        case (.double(let value), PostgresType.float4): return (bigEndian(UInt64(Float(value).bitPattern), 4), 1)
        case (.bytes(let bytes), PostgresType.bytea): return (bytes, 1)
        case (.text(let text), PostgresType.bytea): return (Array(text.utf8), 1)
        case (.timestamp(let micros), PostgresType.timestamptz), (.timestamp(let micros), PostgresType.timestamp):
            return (bigEndian(UInt64(bitPattern: micros &- postgresEpochOffset), 8), 1)
        case (.text(let text), PostgresType.text), (.text(let text), PostgresType.varchar), (.text(let text), PostgresType.name),
             (.text(let text), PostgresType.bpchar), (.text(let text), PostgresType.unknown):
            return (Array(text.utf8), 1)
        default:
            return (Array(textForm.utf8), 0)
        }
    }

    private func outOfRange(_ value: Int64, _ type: String) -> PostgresEncodingError {
        PostgresEncodingError(message: "parameter value \(value) is out of range for \(type)")
    }

    /// The value in PostgreSQL's text input syntax (no quoting: it is sent as a parameter or a COPY field).
    public var textForm: String {
        switch self {
        case .null: ""
        case .bool(let value): value ? "t" : "f"
        case .int(let value): String(value)
        case .double(let value): value.isNaN ? "NaN" : value.isInfinite ? (value > 0 ? "Infinity" : "-Infinity") : "\(value)"
        case .text(let text): text
        case .bytes(let bytes): "\\x" + hexString(bytes)
        case .timestamp(let micros): formatTimestamp(micros)
        }
    }

    /// Decodes a result column of type `oid` sent in `format` (1 binary, 0 text); nil bytes are SQL NULL.
    public static func decode(_ bytes: [UInt8]?, type oid: UInt32, format: Int16) throws(PostgresProtocolError) -> PostgresValue {
        guard let bytes else { return .null }
        if format == 0 { return decodeText(bytes, type: oid) }
        switch oid {
        case PostgresType.bool:
            guard bytes.count == 1 else { throw badLength("bool", bytes.count) }
            return .bool(bytes[0] != 0)
        case PostgresType.int2:
            guard bytes.count == 2 else { throw badLength("int2", bytes.count) }
            return .int(Int64(Int16(bitPattern: UInt16(readBigEndian(bytes)))))
        case PostgresType.int4:
            guard bytes.count == 4 else { throw badLength("int4", bytes.count) }
            return .int(Int64(Int32(bitPattern: UInt32(readBigEndian(bytes)))))
        case PostgresType.oid:
            guard bytes.count == 4 else { throw badLength("oid", bytes.count) }
            return .int(Int64(UInt32(readBigEndian(bytes))))
        case PostgresType.int8:
            guard bytes.count == 8 else { throw badLength("int8", bytes.count) }
            return .int(Int64(bitPattern: readBigEndian(bytes)))
        case PostgresType.float4:
            guard bytes.count == 4 else { throw badLength("float4", bytes.count) }
            return .double(Double(Float(bitPattern: UInt32(readBigEndian(bytes)))))
        case PostgresType.float8:
            guard bytes.count == 8 else { throw badLength("float8", bytes.count) }
            return .double(Double(bitPattern: readBigEndian(bytes)))
        case PostgresType.bytea: return .bytes(bytes)
        case PostgresType.timestamp, PostgresType.timestamptz:
            guard bytes.count == 8 else { throw badLength("timestamp", bytes.count) }
            return .timestamp(microseconds: Int64(bitPattern: readBigEndian(bytes)) &+ postgresEpochOffset)
        default:
            // text, varchar, name, bpchar, and anything sent as text in binary form.
            return .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    private static func badLength(_ type: String, _ count: Int) -> PostgresProtocolError {
        PostgresProtocolError("\(type) value of \(count) bytes")
    }

    /// Text-format results (the simple query protocol, and types read as text).
    static func decodeText(_ bytes: [UInt8], type oid: UInt32) -> PostgresValue {
        let text = String(decoding: bytes, as: UTF8.self)
        switch oid {
        case PostgresType.bool: return .bool(text == "t")
        case PostgresType.int2, PostgresType.int4, PostgresType.int8, PostgresType.oid:
            return Int64(text).map(PostgresValue.int) ?? .text(text)
        case PostgresType.float4, PostgresType.float8:
            switch text {
            case "NaN": return .double(.nan)
            case "Infinity": return .double(.infinity)
            case "-Infinity": return .double(-.infinity)
            default: return Double(text).map(PostgresValue.double) ?? .text(text)
            }
        case PostgresType.bytea:
            if text.hasPrefix("\\x"), let decoded = parseHex(text.utf8.dropFirst(2)) { return .bytes(decoded) }
            return .text(text)
        default: return .text(text)
        }
    }
}

func bigEndian(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(count - 1 - $0))) }
}

func readBigEndian(_ bytes: [UInt8]) -> UInt64 {
    bytes.reduce(0) { $0 << 8 | UInt64($1) }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

func parseHex(_ text: some Collection<UInt8>) -> [UInt8]? {
    guard text.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(text.count / 2)
    var high: UInt8?
    for c in text {
        guard let n = nibble(c) else { return nil }
        if let h = high {
            out.append(h << 4 | n)
            high = nil
        } else {
            high = n
        }
    }
    return out
}

/// `YYYY-MM-DD HH:MM:SS.ffffff+00` for microseconds since 1970 (proleptic Gregorian, UTC).
func formatTimestamp(_ micros: Int64) -> String {
    var seconds = micros / 1_000_000
    var fraction = micros % 1_000_000
    if fraction < 0 {
        fraction += 1_000_000
        seconds -= 1
    }
    var days = seconds / 86_400
    var secondOfDay = seconds % 86_400
    if secondOfDay < 0 {
        secondOfDay += 86_400
        days -= 1
    }
    // Civil date from days since 1970 (Howard Hinnant's algorithm, public domain arithmetic).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    let bc = year <= 0
    return "\(pad(bc ? 1 - year : year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):"
        + "\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))+00" + (bc ? " BC" : "")
}
