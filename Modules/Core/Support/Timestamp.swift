import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// RFC 3339 formatting and parsing of UTC timestamps (`2024-01-08T10:00:00Z`), without Foundation's
/// slow date formatters.
public enum Timestamp {
    /// Formats `date` as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC).
    public static func format(_ date: Date) -> String {
        format(unixSeconds: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    public static func format(unixSeconds: Int64) -> String {
        var time = time_t(unixSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let year = Int(parts.tm_year) + 1900
        guard (0...9999).contains(year) else {
            func pad(_ value: Int32, _ width: Int) -> String {
                let s = String(value)
                return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
            }
            return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
                + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
        }
        // The common case, written byte by byte (responses carry several of these): `YYYY-MM-DDTHH:MM:SSZ`.
        return String(unsafeUninitializedCapacity: 20) { out in
            func put(_ value: Int, at index: Int, digits: Int) {
                var value = value
                for offset in stride(from: digits - 1, through: 0, by: -1) {
                    out[index + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, at: 0, digits: 4)
            out[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, at: 5, digits: 2)
            out[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), at: 8, digits: 2)
            out[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), at: 11, digits: 2)
            out[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), at: 14, digits: 2)
            out[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), at: 17, digits: 2)
            out[19] = UInt8(ascii: "Z")
            return 20
        }
    }

    /// Parses RFC 3339 (`2024-01-08T10:00:00Z`, optional fraction, `Z` or `±HH:MM`) to Unix seconds.
    public static func parse(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for i in from..<(from + count) {
                let b = bytes[i]
                guard b >= 48, b <= 57 else { return nil }
                value = value * 10 + Int(b - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2), bytes[7] == UInt8(ascii: "-"),
              let day = number(8, 2), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2), bytes[16] == UInt8(ascii: ":"),
              let second = number(17, 2)
        else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < bytes.count else { return nil }
        var offsetSeconds = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = number(index + 1, 2), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let om = number(index + 4, 2), oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            index += 6
        default:
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Double(seconds) + fraction
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Parses a time filter: RFC 3339 or Unix seconds (DESIGN §4: `start`/`end` accept either).
    public static func parseFilter(_ text: String) -> Double? {
        if let seconds = Double(text), seconds.isFinite, !text.contains("e"), !text.contains("E") { return seconds }
        return parse(text)
    }
}
