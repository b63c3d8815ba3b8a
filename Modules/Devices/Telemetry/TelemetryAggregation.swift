import Core
import Foundation

/// What an aggregation asks for (DESIGN §5.2 "Aggregation"): buckets of `interval` seconds aligned to the Unix epoch
/// shifted by `offset` seconds (a fixed time-zone offset), and the aggregates to compute in each.
public struct AggregationRequest: Sendable, Equatable {
    public enum Aggregate: String, Sendable, CaseIterable {
        case count, min, max, avg, sum, first, last
    }

    public let interval: Int64
    /// Seconds east of UTC (`+08:00` is 28 800).
    public let offset: Int64
    /// In the order asked, without repeats; `count` is always computed.
    public let aggregates: [Aggregate]

    public static let maxBuckets: Int64 = 10_000
    public static let maxInterval: Int64 = 366 * 86_400

    public init(interval: Int64, offset: Int64, aggregates: [Aggregate]) {
        self.interval = interval
        self.offset = offset
        self.aggregates = aggregates
    }

    /// `Ns`, `Nm`, `Nh`, `Nd` or plain seconds, 1 s … 366 d; nil otherwise.
    public static func parseInterval(_ text: String) -> Int64? {
        var digits = Substring(text)
        var unit: Int64 = 1
        switch text.last {
        case "s": digits = digits.dropLast()
        case "m": digits = digits.dropLast(); unit = 60
        case "h": digits = digits.dropLast(); unit = 3_600
        case "d": digits = digits.dropLast(); unit = 86_400
        default: break
        }
        guard !digits.isEmpty, digits.count <= 9, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(digits) else { return nil }
        let seconds = value * unit
        return (1...maxInterval).contains(seconds) ? seconds : nil
    }

    /// `+HH:MM` or `-HH:MM` (a `+` decoded as a space from a query string is read as `+`), `Z`, within ±14:00; nil otherwise.
    public static func parseOffset(_ text: String) -> Int64? {
        if text == "Z" || text == "z" { return 0 }
        let bytes = Array(text.utf8)
        guard bytes.count == 6, bytes[3] == UInt8(ascii: ":"), [UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: " ")].contains(bytes[0]),
              let hours = Int64(String(decoding: bytes[1..<3], as: UTF8.self)), let minutes = Int64(String(decoding: bytes[4..<6], as: UTF8.self)),
              bytes[1...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[4...5].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              minutes < 60, hours * 60 + minutes <= 14 * 60
        else { return nil }
        let seconds = hours * 3_600 + minutes * 60
        return bytes[0] == UInt8(ascii: "-") ? -seconds : seconds
    }

    /// `+08:00`, `-05:30`, `+00:00`.
    public static func formatOffset(_ seconds: Int64) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let minutes = abs(seconds) / 60
        let hours = minutes / 60
        return sign + (hours < 10 ? "0" : "") + String(hours) + ":" + (minutes % 60 < 10 ? "0" : "") + String(minutes % 60)
    }

    /// The start of the bucket holding `t`.
    public func bucket(_ t: Int64) -> Int64 {
        let shifted = t + offset
        let floor = shifted >= 0 ? shifted / interval : -((-shifted + interval - 1) / interval)
        return floor * interval - offset
    }

    /// How many buckets `[start, end)` spans.
    public func bucketCount(start: Int64, end: Int64) -> Int64 {
        guard end > start else { return 0 }
        return (bucket(end - 1) - bucket(start)) / interval + 1
    }
}

extension AggregationRequest {
    /// What is wrong with a parameter, in the same words wherever aggregation is asked for (the data API, exports).
    public enum Problem {
        public static let interval = "must be Ns, Nm, Nh, Nd or seconds, from 1 s to 366 d"
        public static let intervalRequired = "is required with agg and tz"
        public static let tz = "must be a fixed offset such as +08:00"
        public static let agg = "must be a comma-separated list of count, min, max, avg, sum, first, last"
        public static let tooManyBuckets = "gives more than \(AggregationRequest.maxBuckets) buckets over start..end; choose a longer interval or a shorter range"
    }

    /// `count`, then each name given (trimmed) in order without repeats; nil when a name is not an aggregate.
    public static func parseAggregates<S: Sequence>(_ names: S) -> [Aggregate]? where S.Element: StringProtocol {
        var aggregates: [Aggregate] = [.count]
        for name in names {
            guard let aggregate = Aggregate(rawValue: name.trimmingCharacters(in: .whitespaces)) else { return nil }
            if !aggregates.contains(aggregate) { aggregates.append(aggregate) }
        }
        return aggregates
    }

    /// Whether `[start, end)` spans more buckets than one answer (or one series of an export) may hold.
    public func exceedsBucketLimit(start: Int64, end: Int64) -> Bool { bucketCount(start: start, end: end) > Self.maxBuckets }
}

/// One bucket's aggregates, accumulated point by point in time order. The sum is exact (`ExactSum`: Shewchuk's partials,
/// as Python's `math.fsum`): `sum` is the exact sum rounded once, `avg` that sum divided by the count. A sum that has no
/// value (+∞ and −∞ met, or an overflow on the way) is NaN, which JSON answers as null.
public struct AggregateBucket: Sendable {
    public let start: Int64
    public private(set) var count: Int64 = 0
    public private(set) var min = Double.infinity
    public private(set) var max = -Double.infinity
    public private(set) var first = 0.0
    public private(set) var last = 0.0
    private var exact = ExactSum()

    public init(start: Int64) { self.start = start }

    @inline(__always)
    public mutating func add(_ value: Double) {
        if count == 0 { first = value }
        last = value
        count += 1
        if value < min { min = value }
        if value > max { max = value }
        exact.add(value)
    }

    /// Adds a chunk's summary: `count` points between `min` and `max` whose exact sum is `sum + sumError` (first and
    /// last are not kept: the caller decodes chunks when they are asked for).
    mutating func add(count points: Int64, min low: Double, max high: Double, sum: Double, sumError: Double) {
        count += points
        if low < min { min = low }
        if high > max { max = high }
        exact.add(sum)
        if sumError != 0 { exact.add(sumError) }
    }

    /// The exact sum, correctly rounded.
    public var sum: Double { exact.sum ?? .nan }

    public func value(_ aggregate: AggregationRequest.Aggregate) -> JSON {
        aggregate == .count ? .int64(count) : .number(number(aggregate))
    }

    /// One aggregate as a number (`count` too).
    public func number(_ aggregate: AggregationRequest.Aggregate) -> Double {
        switch aggregate {
        case .count: Double(count)
        case .min: min
        case .max: max
        case .avg: sum / Double(count)
        case .sum: sum
        case .first: first
        case .last: last
        }
    }

    /// `{"t", "count", <each aggregate asked>}`.
    public func json(_ aggregates: [AggregationRequest.Aggregate]) -> JSON {
        var object = JSONObject()
        object.append("t", .int64(start))
        object.append("count", .int64(count))
        for aggregate in aggregates where aggregate != .count { object.append(aggregate.rawValue, value(aggregate)) }
        return .object(object)
    }
}
