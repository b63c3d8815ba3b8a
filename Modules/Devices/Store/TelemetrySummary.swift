/// What `telemetry_chunks` stores beside a sealed chunk so an aggregation over whole chunks never decodes it
/// (DECISIONS "Chunk codec v2"): the chunk's `count` (its own column), first and last (the chunk's ends), and here
/// minimum, maximum and sum of its values.
///
/// - NaN: SQLite stores a NaN as NULL, and a NaN has no place in an order. A chunk holding a NaN has no summary
///   (every field nil, stored as NULLs): whoever aggregates decodes that chunk and applies its own rule.
/// - `sum` is the sum of the values rounded once (correctly rounded), not a running sum's accumulated rounding, and
///   `sumError` is the exact remainder (sum of values − `sum`) when one Double holds it, else nil: so chunk sums
///   combine without losing anything. +∞ and −∞ together (no sum), or an overflow inside the exact sum, also leave the
///   summary empty. Infinities otherwise take part as numbers.
/// - min and max order −0.0 before +0.0.
struct TelemetrySummary: Equatable, CustomStringConvertible {
    var min: Double?
    var max: Double?
    var sum: Double?
    var sumError: Double?

    static let empty = TelemetrySummary(min: nil, max: nil, sum: nil, sumError: nil)

    /// The summary of `values`.
    init<S: Sequence>(_ values: S) where S.Element == Double {
        var builder = Builder()
        for value in values { builder.add(value) }
        self = builder.summary
    }

    /// The summary of a chunk's values, read without collecting them.
    init(of chunk: TelemetryChunk) throws {
        var builder = Builder()
        try chunk.forEach { _, value in
            builder.add(value)
            return true
        }
        self = builder.summary
    }

    /// A summary built a value at a time.
    struct Builder {
        private var low = Double.infinity
        private var high = -Double.infinity
        private var exact = ExactSum()
        private var any = false
        private var sawNaN = false

        mutating func add(_ value: Double) {
            if value.isNaN { sawNaN = true }
            any = true
            if value < low || (value == low && value.sign == .minus) { low = value }
            if value > high || (value == high && value.sign == .plus) { high = value }
            if !sawNaN { exact.add(value) }
        }

        var summary: TelemetrySummary {
            guard any, !sawNaN, let (sum, error) = exact.result() else { return .empty }
            return TelemetrySummary(min: low, max: high, sum: sum, sumError: error)
        }
    }

    init(min: Double?, max: Double?, sum: Double?, sumError: Double?) {
        self.min = min
        self.max = max
        self.sum = sum
        self.sumError = sumError
    }

    var description: String {
        func text(_ value: Double?) -> String { value.map { "\($0)" } ?? "NULL" }
        return "min \(text(min)), max \(text(max)), sum \(text(sum)) (error \(text(sumError)))"
    }

    /// Equal bit for bit (so that `admin-cli check` tells a −0.0 from a 0.0).
    func matches(_ other: TelemetrySummary) -> Bool {
        [min, max, sum, sumError].map { $0?.bitPattern } == [other.min, other.max, other.sum, other.sumError].map { $0?.bitPattern }
    }
}

/// An exact sum of Doubles as non-overlapping partial sums (Shewchuk's expansion, as `math.fsum` describes it). Chunk
/// summaries and aggregation buckets both use it.
///
/// While the expansion has at most two components they live inline (`first`, `second`, `inline` of them), so the usual
/// case — one sensor's values — costs at most two error-free additions and no array; a third component moves them
/// all to `partials`, where the general loop runs from then on. Both paths do the same arithmetic in the same order,
/// so every result (the sign of a zero included) is the general loop's.
struct ExactSum {
    private var first = 0.0
    private var second = 0.0
    /// How many of `first`, `second` hold components (0…2); unused once `partials` holds them.
    private var inline = 0
    /// Every component, in increasing magnitude, once there were more than two (empty before).
    private var partials: [Double] = []
    private var positiveInfinity = false
    private var negativeInfinity = false
    private var overflowed = false

    /// `x + y` and its exact error (Fast2Sum after ordering by magnitude; `high` may be non-finite).
    @inline(__always)
    private static func twoSum(_ a: Double, _ b: Double) -> (high: Double, low: Double) {
        var x = a
        var y = b
        if x.magnitude < y.magnitude { swap(&x, &y) }
        let high = x + y
        return (high, y - (high - x))
    }

    @inline(__always)
    mutating func add(_ value: Double) {
        guard value.isFinite else {
            if value == .infinity { positiveInfinity = true } else if value == -.infinity { negativeInfinity = true } else { overflowed = true }
            return
        }
        switch inline {
        case 0 where partials.isEmpty:
            first = value
            inline = 1
        case 1:
            let (high, low) = Self.twoSum(value, first)
            guard high.isFinite else { return overflowed = true }
            if low != 0 {
                (first, second, inline) = (low, high, 2)
            } else {
                first = high
            }
        case 2:
            let (middle, low) = Self.twoSum(value, first)
            guard middle.isFinite else { return overflowed = true }
            let (high, lowMiddle) = Self.twoSum(middle, second)
            guard high.isFinite else { return overflowed = true }
            switch (low != 0, lowMiddle != 0) {
            case (true, true):
                partials = [low, lowMiddle, high]
                inline = 0
            case (true, false): (first, second) = (low, high)
            case (false, true): (first, second) = (lowMiddle, high)
            case (false, false): (first, inline) = (high, 1)
            }
        default:
            addToPartials(value)
        }
    }

    /// The general case: Shewchuk's loop over every component.
    private mutating func addToPartials(_ value: Double) {
        var x = value
        var kept = 0
        for index in partials.indices {
            let (high, low) = Self.twoSum(x, partials[index])
            if !high.isFinite {
                overflowed = true
                return
            }
            if low != 0 {
                partials[kept] = low
                kept += 1
            }
            x = high
        }
        if kept < partials.count {
            partials[kept] = x
            partials.removeLast(partials.count - kept - 1)
        } else {
            partials.append(x)
        }
    }

    /// The components in increasing magnitude.
    private var components: [Double] {
        switch inline {
        case 1: [first]
        case 2: [first, second]
        default: partials
        }
    }

    /// The correctly rounded sum; nil when there is none (+∞ and −∞ met, or the exact sum overflowed on the way).
    var sum: Double? {
        guard !overflowed, !(positiveInfinity && negativeInfinity) else { return nil }
        if positiveInfinity { return .infinity }
        if negativeInfinity { return -.infinity }
        switch inline {
        case 1: return first
        // `rounded` of two components: one addition (no component below them to settle a half-way case).
        case 2: return second + first
        default: return Self.rounded(partials)
        }
    }

    /// The correctly rounded sum and the exact remainder when a Double holds it; nil when there is no sum (a NaN
    /// would come of +∞ and −∞, or the exact sum overflowed on the way).
    func result() -> (sum: Double, error: Double?)? {
        guard let sum else { return nil }
        if positiveInfinity || negativeInfinity { return (sum, nil) }
        // The remainder, rounded, and whether taking it away too leaves exactly nothing.
        var rest = self
        rest.add(-sum)
        let error = Self.rounded(rest.components)
        rest.add(-error)
        guard !rest.overflowed, rest.components.allSatisfy({ $0 == 0 }) else { return (sum, nil) }
        return (sum, error)
    }

    /// The correctly rounded (half to even) value of the sum of non-overlapping partials in increasing magnitude.
    private static func rounded(_ partials: [Double]) -> Double {
        guard var index = partials.indices.last else { return 0 }
        var high = partials[index]
        var low = 0.0
        while index > 0 {
            index -= 1
            let x = high
            let y = partials[index]
            high = x + y
            low = y - (high - x)
            if low != 0 { break }
        }
        // Half-way cases: the partials below decide the direction of the rounding.
        if index > 0, (low < 0 && partials[index - 1] < 0) || (low > 0 && partials[index - 1] > 0) {
            let y = low * 2
            let x = high + y
            if y == x - high { high = x }
        }
        return high
    }
}
