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

/// An exact sum of Doubles as non-overlapping partial sums (Shewchuk's expansion, as `math.fsum` describes it).
struct ExactSum {
    private var partials: [Double] = []
    private var positiveInfinity = false
    private var negativeInfinity = false
    private var overflowed = false

    mutating func add(_ value: Double) {
        guard value.isFinite else {
            if value == .infinity { positiveInfinity = true } else if value == -.infinity { negativeInfinity = true } else { overflowed = true }
            return
        }
        var x = value
        var kept = 0
        for index in partials.indices {
            var y = partials[index]
            if x.magnitude < y.magnitude { swap(&x, &y) }
            let high = x + y
            let low = y - (high - x)
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

    /// The correctly rounded sum and the exact remainder when a Double holds it; nil when there is no sum (a NaN
    /// would come of +∞ and −∞, or the exact sum overflowed on the way).
    func result() -> (sum: Double, error: Double?)? {
        guard !overflowed, !(positiveInfinity && negativeInfinity) else { return nil }
        if positiveInfinity { return (.infinity, nil) }
        if negativeInfinity { return (-.infinity, nil) }
        let sum = Self.rounded(partials)
        // The remainder, rounded, and whether taking it away too leaves exactly nothing.
        var rest = self
        rest.add(-sum)
        let error = Self.rounded(rest.partials)
        rest.add(-error)
        guard !rest.overflowed, rest.partials.allSatisfy({ $0 == 0 }) else { return (sum, nil) }
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
