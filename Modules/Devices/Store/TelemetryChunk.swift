import Persistence

/// A run of one series' points, stored as one row of `telemetry_chunks` (DESIGN §3.2; DECISIONS "Telemetry in chunks").
///
/// Points are in strictly increasing `t`. Each is encoded as the unsigned LEB128 varint of its distance from the
/// previous point's `t` (the first point's distance is taken from `tFirst`, so it is 0), followed by the value's eight
/// IEEE 754 bytes, little-endian. Distances use wrapping arithmetic, so any pair of `Int64` times round-trips.
/// A point usually takes 9 bytes (a point a second apart), against about 23 as a row of its own.
struct TelemetryChunk: Equatable {
    /// The encoded size a chunk may grow to. It keeps a row inside one 4 KB page without overflow pages
    /// (SQLite keeps up to about 1 000 bytes of an index-tree row on its leaf).
    static let maxBytes = 900
    /// The largest encoded point: a 10-byte varint and the value.
    static let maxPointBytes = 18

    private(set) var tFirst: Int64
    private(set) var tLast: Int64
    private(set) var count: Int
    private(set) var bytes: [UInt8]

    /// A chunk holding one point.
    init(t: Int64, value: Double) {
        tFirst = t
        tLast = t
        count = 0
        bytes = []
        bytes.reserveCapacity(64)
        Self.encode(distance: 0, value: value, into: &bytes)
        count = 1
    }

    /// A stored chunk, as read from its row.
    init(tFirst: Int64, tLast: Int64, count: Int, bytes: [UInt8]) {
        self.tFirst = tFirst
        self.tLast = tLast
        self.count = count
        self.bytes = bytes
    }

    /// A stored chunk from a row of `t_first, t_last, count, points`.
    init(row: Row) {
        self.init(tFirst: row.int(0), tLast: row.int(1), count: Int(row.int(2)), bytes: row.blob(3))
    }

    /// Whether one more point is sure to fit under `maxBytes`.
    var canGrow: Bool { bytes.count + Self.maxPointBytes <= Self.maxBytes }

    /// Appends a point; `t` must be after `tLast`.
    mutating func append(t: Int64, value: Double) {
        precondition(t > tLast, "telemetry chunk points must be in increasing t")
        Self.encode(distance: UInt64(bitPattern: t &- tLast), value: value, into: &bytes)
        tLast = t
        count += 1
    }

    /// Calls `body` with every point in order until it returns false; returns false when stopped. A malformed
    /// encoding (never written by this code) ends the walk early instead of trapping.
    @discardableResult
    func forEach(_ body: (_ t: Int64, _ value: Double) throws -> Bool) rethrows -> Bool {
        try bytes.withUnsafeBufferPointer { buffer in
            var offset = 0
            var t = tFirst
            while offset < buffer.count {
                var distance: UInt64 = 0
                var shift: UInt64 = 0
                while true {
                    guard offset < buffer.count, shift < 64 else { return true }
                    let byte = buffer[offset]
                    offset += 1
                    distance |= UInt64(byte & 0x7F) << shift
                    if byte & 0x80 == 0 { break }
                    shift += 7
                }
                guard offset + 8 <= buffer.count else { return true }
                var bits: UInt64 = 0
                for index in 0..<8 { bits |= UInt64(buffer[offset + index]) << (8 * UInt64(index)) }
                offset += 8
                t = t &+ Int64(bitPattern: distance)
                if try !body(t, Double(bitPattern: bits)) { return false }
            }
            return true
        }
    }

    /// Every point, in order.
    var points: [(t: Int64, value: Double)] {
        var result: [(t: Int64, value: Double)] = []
        result.reserveCapacity(count)
        forEach { t, value in
            result.append((t, value))
            return true
        }
        return result
    }

    private static func encode(distance: UInt64, value: Double, into bytes: inout [UInt8]) {
        var rest = distance
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
        let bits = value.bitPattern
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(index)))) }
    }

    /// Packs points (increasing `t`, after `start`'s when given) into as few chunks as fit under `maxBytes`, filling
    /// `start` first.
    static func pack<S: Sequence>(_ points: S, onto start: TelemetryChunk? = nil) -> [TelemetryChunk]
        where S.Element == (t: Int64, value: Double) {
        var chunks = start.map { [$0] } ?? []
        for point in points {
            if let last = chunks.indices.last, chunks[last].canGrow {
                chunks[last].append(t: point.t, value: point.value)
            } else {
                chunks.append(TelemetryChunk(t: point.t, value: point.value))
            }
        }
        return chunks
    }

    /// `points` sorted by `t` with one point per `t`: where several share a `t`, the last one given wins.
    static func normalized(_ points: [(t: Int64, value: Double)]) -> [(t: Int64, value: Double)] {
        var increasing = true
        for index in points.indices.dropFirst() where points[index].t <= points[index - 1].t {
            increasing = false
            break
        }
        if increasing { return points }
        let order = points.indices.sorted { (points[$0].t, $0) < (points[$1].t, $1) }
        var result: [(t: Int64, value: Double)] = []
        result.reserveCapacity(points.count)
        for index in order {
            if let last = result.last, last.t == points[index].t {
                result[result.count - 1] = points[index]
            } else {
                result.append(points[index])
            }
        }
        return result
    }
}
