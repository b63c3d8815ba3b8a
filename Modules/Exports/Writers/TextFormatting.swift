/// Allocation-light formatting of numbers and times straight into an output buffer.
enum TextFormatting {
    /// Room `writeNumber` may need (e.g. `-0.0000001234567890123456`).
    static let maxNumberLength = 32
    /// Room `writeInteger` may need (`-9223372036854775808`).
    static let maxIntegerLength = 20

    /// Writes `value` in decimal and returns the byte count.
    @inline(__always)
    static func writeInteger(_ value: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 scratch bytes, filled from the end
        return withUnsafeMutableBytes(of: &digits) { scratch in
            var index = scratch.count
            repeat {
                index -= 1
                scratch[index] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 48
                magnitude /= 10
            } while magnitude > 0
            var written = 0
            if value < 0 {
                out[0] = UInt8(ascii: "-")
                written = 1
            }
            let length = scratch.count - index
            (out + written).initialize(from: scratch.baseAddress!.assumingMemoryBound(to: UInt8.self) + index, count: length)
            return written + length
        }
    }

    /// Writes a finite `value` as the shortest text that reads back to the same `Double`, without an exponent for magnitudes
    /// in 1e-7 ..< 1e21 (24.1 → `24.1`, 3.0 → `3`, 1e-5 → `0.00001`); beyond that keeps `1e+21` style, which CSV, JSON and
    /// XLSX readers all accept. Negative zero is written as `0`. Returns the byte count.
    static func writeNumber(_ value: Double, into out: UnsafeMutablePointer<UInt8>) -> Int {
        if value.rounded(.towardZero) == value && value.magnitude < 1e15 {
            return writeInteger(Int64(value), into: out)
        }
        var text = value.description  // shortest round-trip digits
        return text.withUTF8 { expand($0, into: out) }
    }

    /// Rewrites Swift's `description` of a Double (`24.0`, `1e-05`, `-1.25e+17`) without `.0` and, for exponents in
    /// -7...20, without the exponent.
    private static func expand(_ text: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var e = 0
        while e < text.count && text[e] != UInt8(ascii: "e") { e += 1 }
        if e == text.count {
            var count = text.count
            if count > 2 && text[count - 2] == UInt8(ascii: ".") && text[count - 1] == UInt8(ascii: "0") { count -= 2 }
            out.update(from: text.baseAddress!, count: count)
            return count
        }
        var exponent = 0, index = e + 1, negativeExponent = false
        if index < text.count && (text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+")) {
            negativeExponent = text[index] == UInt8(ascii: "-")
            index += 1
        }
        while index < text.count {
            exponent = exponent * 10 + Int(text[index] &- 48)
            index += 1
        }
        if negativeExponent { exponent = -exponent }
        guard exponent >= -7 && exponent <= 20 else {
            out.update(from: text.baseAddress!, count: text.count)
            return text.count
        }
        var written = 0
        var digitStart = 0
        if text[0] == UInt8(ascii: "-") {
            out[0] = UInt8(ascii: "-")
            written = 1
            digitStart = 1
        }
        // Mantissa digits are text[digitStart] and, after a point, text[digitStart + 2 ..< e].
        let digitCount = e - digitStart > 1 ? e - digitStart - 1 : 1
        @inline(__always) func digit(_ i: Int) -> UInt8 { i == 0 ? text[digitStart] : text[digitStart + 1 + i] }
        @inline(__always) func put(_ byte: UInt8) {
            out[written] = byte
            written += 1
        }
        let pointAfter = exponent + 1  // digits before the decimal point
        if pointAfter <= 0 {
            put(UInt8(ascii: "0"))
            put(UInt8(ascii: "."))
            for _ in 0 ..< -pointAfter { put(UInt8(ascii: "0")) }
            for i in 0 ..< digitCount { put(digit(i)) }
        } else if pointAfter >= digitCount {
            for i in 0 ..< digitCount { put(digit(i)) }
            for _ in 0 ..< pointAfter - digitCount { put(UInt8(ascii: "0")) }
        } else {
            for i in 0 ..< digitCount {
                if i == pointAfter { put(UInt8(ascii: ".")) }
                put(digit(i))
            }
        }
        return written
    }

    /// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int, day: Int) {
        // Shift the epoch to 0000-03-01 so leap days fall at the end of each year, then split into 400-year eras.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097                                                    // 0 ... 146 096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365  // 0 ... 399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)            // 0 ... 365, from March 1
        let monthFromMarch = (5 * dayOfYear + 2) / 153                                            // 0 ... 11
        let day = Int(dayOfYear - (153 * monthFromMarch + 2) / 5 + 1)
        let month = Int(monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Formats unix seconds as RFC 3339 UTC (`2024-02-01T10:00:00Z`), caching the date part of the last day seen.
struct RFC3339Clock {
    /// Room `write` may need (years beyond 9999 get more digits).
    static let maxLength = 40

    private var cachedDay: Int64 = .min
    private var datePart: [UInt8] = []

    @inline(__always)
    mutating func write(_ seconds: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let (day, secondOfDay) = Self.split(seconds)
        if day != cachedDay {
            cachedDay = day
            datePart = Self.datePart(day)
        }
        let count = datePart.count
        datePart.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: count) }
        let time = out + count
        let hour = Int(secondOfDay / 3600), minute = Int(secondOfDay / 60 % 60), second = Int(secondOfDay % 60)
        time[0] = UInt8(48 + hour / 10)
        time[1] = UInt8(48 + hour % 10)
        time[2] = UInt8(ascii: ":")
        time[3] = UInt8(48 + minute / 10)
        time[4] = UInt8(48 + minute % 10)
        time[5] = UInt8(ascii: ":")
        time[6] = UInt8(48 + second / 10)
        time[7] = UInt8(48 + second % 10)
        time[8] = UInt8(ascii: "Z")
        return count + 9
    }

    /// (days since epoch, seconds into that day), flooring for times before 1970.
    @inline(__always)
    static func split(_ seconds: Int64) -> (day: Int64, second: Int64) {
        var day = seconds / 86_400, second = seconds % 86_400
        if second < 0 {
            day -= 1
            second += 86_400
        }
        return (day, second)
    }

    /// `YYYY-MM-DDT`; years outside 0...9999 are written with as many digits as needed and a sign when negative.
    static func datePart(_ day: Int64) -> [UInt8] {
        let (year, month, dayOfMonth) = TextFormatting.civilDate(daysSinceEpoch: day)
        var bytes: [UInt8] = []
        if year >= 0 && year < 10_000 {
            bytes += [UInt8(48 + year / 1000), UInt8(48 + year / 100 % 10), UInt8(48 + year / 10 % 10), UInt8(48 + year % 10)]
        } else {
            bytes += Array(String(year).utf8)
        }
        bytes += [UInt8(ascii: "-"), UInt8(48 + month / 10), UInt8(48 + month % 10), UInt8(ascii: "-"),
                  UInt8(48 + dayOfMonth / 10), UInt8(48 + dayOfMonth % 10), UInt8(ascii: "T")]
        return bytes
    }
}
