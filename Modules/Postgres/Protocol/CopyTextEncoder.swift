/// Encodes rows in COPY's text format (tab-separated, `\N` for NULL, backslash escapes, one row per line) for
/// `COPY … FROM STDIN`. Pure: appends to `bytes`.
public struct CopyTextEncoder: Sendable {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func append(row: [PostgresValue]) {
        for (index, value) in row.enumerated() {
            if index > 0 { bytes.append(0x09) }
            append(value)
        }
        bytes.append(0x0A)
    }

    public mutating func append(_ value: PostgresValue) {
        switch value {
        case .null: bytes.append(contentsOf: [0x5C, 0x4E])  // \N
        case .int(let number): appendInteger(number)
        case .bool(let flag): bytes.append(flag ? 0x74 : 0x66)
        case .text(let text): appendEscaped(text.utf8)
        case .bytes(let data):
            // The bytea text form `\x…` with its backslash escaped for COPY.
            bytes.append(contentsOf: [0x5C, 0x5C, 0x78])
            let digits: [UInt8] = Array("0123456789abcdef".utf8)
            for byte in data {
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 15)])
            }
        case .double, .timestamp: appendEscaped(value.textForm.utf8)
        }
    }

    /// Digits of `number` written directly (the bulk path formats millions of them).
    public mutating func appendInteger(_ number: Int64) {
        if number == 0 {
            bytes.append(0x30)
            return
        }
        if number < 0 { bytes.append(0x2D) }
        var magnitude = number.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[count] = UInt8(magnitude % 10) + 0x30
                magnitude /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[index]) }
        }
    }

    private mutating func appendEscaped(_ text: String.UTF8View) {
        for byte in text {
            switch byte {
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            default: bytes.append(byte)
            }
        }
    }
}
