import Postgres

/// PostgreSQL array literals (`{1,2,3}`), each bound as one text parameter to a cast placeholder (`?::bigint[]`), so
/// that a multi-row statement (`… FROM unnest(?::bigint[], ?::bytea[]) AS v(a, b)`) is one statement whatever the number
/// of rows: one parse, plan and execution instead of one per row. PostgreSQL only (SQLite has no arrays): stores use it
/// behind `db.dialect == .postgres`.
public enum PostgresArray {
    /// `{1,2,3}`
    public static func integers(_ values: [Int64]) -> String {
        var out = "{"
        out.reserveCapacity(values.count * 8 + 2)
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            out += String(value)
        }
        return out + "}"
    }

    /// `{1.5,NULL,NaN,-Infinity}`: nil is NULL; the text form reads back as the same double.
    public static func doubles(_ values: [Double?]) -> String {
        var out = "{"
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            out += value.map { PostgresValue.double($0).textForm } ?? "NULL"
        }
        return out + "}"
    }

    /// `{"a","b \"c\""}`: every element quoted, `"` and `\` escaped, U+0000 stored as U+FFFD (as for a text value).
    public static func texts(_ values: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for byte in PostgresDialect.storable(value).utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `{"\\x0a0b",…}`: each element `bytea` in hex.
    public static func bytes(_ values: [[UInt8]]) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(values.reduce(2) { $0 + $1.count * 2 + 6 })
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "\\"), UInt8(ascii: "x")])
            for byte in value {
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
