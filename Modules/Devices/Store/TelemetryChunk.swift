/// A run of one series' points, stored as one row of `telemetry_chunks` (DESIGN §3.2; DECISIONS "Telemetry in chunks",
/// "Chunk codec v2").
///
/// Points are in strictly increasing `t`; times use wrapping arithmetic, so any pair of `Int64` times round-trips, and
/// every `Double` comes back bit for bit. New chunks are written in codec v2 (`TelemetryCodec`): delta-of-delta times
/// and either small integer deltas of exact decimals or Gorilla's XOR of the value bits, with the encoder's state in a
/// trailer so that appending a point never decodes the chunk. Chunks written in v1 (a varint distance and eight raw
/// bytes per point) stay readable and become v2 when next written.
struct TelemetryChunk {
    /// The encoded size a chunk may grow to. It keeps a row inside one 4 KB page without overflow pages
    /// (SQLite keeps up to about 1 000 bytes of an index-tree row on its leaf).
    static let maxBytes = 900

    private(set) var tFirst: Int64
    private(set) var tLast: Int64
    private(set) var count: Int
    private(set) var bytes: [UInt8]
    /// The v2 encoder's state after the last point (parsed from the trailer on the first append).
    private var state: TelemetryCodec.State?

    /// A chunk holding one point.
    init(t: Int64, value: Double) {
        tFirst = t
        tLast = t
        count = 1
        let encoded = TelemetryCodec.encode([(t: t, value: value)][...])
        bytes = encoded.bytes
        state = encoded.state
    }

    /// A stored chunk, as read from its row.
    init(tFirst: Int64, tLast: Int64, count: Int, bytes: [UInt8]) {
        self.tFirst = tFirst
        self.tLast = tLast
        self.count = count
        self.bytes = bytes
    }

    /// A v2 chunk of `points` (at least one, in increasing `t`), whatever its size.
    init(encoding points: ArraySlice<(t: Int64, value: Double)>) {
        let encoded = TelemetryCodec.encode(points)
        self.init(tFirst: points[points.startIndex].t, tLast: points[points.endIndex - 1].t, count: points.count, bytes: encoded.bytes)
        state = encoded.state
    }

    /// A v1 chunk of `points`, as the codec before v2 wrote them (tests, and `telemetry recompress --codec 1`).
    static func v1(_ points: ArraySlice<(t: Int64, value: Double)>) -> TelemetryChunk {
        TelemetryChunk(tFirst: points[points.startIndex].t, tLast: points[points.endIndex - 1].t, count: points.count,
                       bytes: TelemetryCodec.encodeV1(points))
    }

    /// The codec the bytes are in: 1, 2, or the unknown leading byte.
    var version: Int {
        guard let first = bytes.first else { return 0 }
        return first == 0 ? 1 : Int(first)
    }

    /// Appends a point (`t` must be after `tLast`) when the chunk stays within `maxBytes`; returns false, leaving the
    /// chunk unchanged, when it would not.
    @discardableResult
    mutating func append(t: Int64, value: Double) -> Bool {
        append(contentsOf: CollectionOfOne((t: t, value: value))) == 1
    }

    /// Appends points (increasing `t`, after `tLast`) while the chunk stays within `maxBytes`; returns how many it
    /// took. Costs the new points' bits and one rewrite of the short trailer, except when a value does not fit the
    /// chunk's mode (a decimal chunk meets a value with more decimals, or one that is no decimal) or the chunk is v1:
    /// then the chunk is encoded again, once per such change.
    mutating func append<C: Collection>(contentsOf points: C) -> Int where C.Element == (t: Int64, value: Double) {
        var taken = 0
        var rest = points[...]
        while let first = rest.first {
            precondition(first.t > tLast, "telemetry chunk points must be in increasing t")
            if version == 2, state == nil {
                state = try? bytes.withUnsafeBufferPointer { try TelemetryCodec.parseTrailer($0).state }
            }
            guard version == 2, var state, state.count == count else {
                guard reencode(adding: first) else { return taken }
                taken += 1
                rest = rest.dropFirst()
                continue
            }
            // The trailer goes and the last partial byte is reopened; the points' bits and one new trailer follow.
            let trailerLength = Int(bytes[bytes.count - 1])
            let pad = Int(bytes[bytes.count - trailerLength] & 7)
            let streamEnd = bytes.count - trailerLength
            var bits = (streamEnd - 1) * 8 - pad
            var writer = TelemetryCodec.BitWriter(bytes: [])
            swap(&writer.bytes, &bytes)
            writer.bytes.removeLast(trailerLength)
            if pad > 0, streamEnd > 1 {
                let partial = writer.bytes.removeLast()
                writer.accumulator = UInt64(partial >> UInt8(pad))
                writer.pending = 8 - pad
            }
            var last = tLast
            var needsReencoding = false
            writer.bytes.reserveCapacity(Self.maxBytes)
            while let point = rest.first {
                precondition(point.t > last, "telemetry chunk points must be in increasing t")
                let mark = writer.mark
                var next = state
                guard TelemetryCodec.write(t: point.t &- last, value: point.value, &next, to: &writer) else {
                    writer.rollBack(to: mark)
                    needsReencoding = true
                    break
                }
                let written = writer.bits(since: mark)
                guard 1 + (bits + written + 7) / 8 + next.trailerSize <= Self.maxBytes else {
                    writer.rollBack(to: mark)
                    break
                }
                bits += written
                state = next
                last = point.t
                rest = rest.dropFirst()
                taken += 1
            }
            let pad2 = writer.finish()
            writer.bytes += state.trailer(pad: pad2)
            swap(&writer.bytes, &bytes)
            self.state = state
            count = state.count
            tLast = last
            guard needsReencoding, let point = rest.first, reencode(adding: point) else { return taken }
            taken += 1
            rest = rest.dropFirst()
        }
        return taken
    }

    /// Encodes the chunk again with one more point; false (unchanged) when the result is over `maxBytes` or the stored
    /// points do not decode.
    private mutating func reencode(adding point: (t: Int64, value: Double)) -> Bool {
        guard var points = try? decoded() else { return false }
        points.append(point)
        let chunk = TelemetryChunk(encoding: points[...])
        guard chunk.bytes.count <= Self.maxBytes else { return false }
        self = chunk
        return true
    }

    /// Calls `body` with every point in order until it returns false; returns false when stopped. A malformed
    /// encoding throws a `TelemetryChunkError` after the points before the damage were visited; so does a chunk whose
    /// points disagree with its row's count or last time.
    @discardableResult @inline(__always)
    func forEach(_ body: (_ t: Int64, _ value: Double) throws -> Bool) throws -> Bool {
        let version = self.version
        var seen = 0
        var last = tFirst
        let finished = try bytes.withUnsafeBufferPointer { buffer throws -> Bool in
            switch version {
            case 2:
                return try TelemetryCodec.decodeV2(buffer, tFirst: tFirst) { t, value in
                    seen += 1
                    last = t
                    return try body(t, value)
                }
            case 1:
                return try TelemetryCodec.decodeV1(buffer, tFirst: tFirst) { t, value in
                    seen += 1
                    last = t
                    return try body(t, value)
                }
            case 0: throw TelemetryChunkError.empty
            default: throw TelemetryChunkError.unknownVersion(UInt8(version))
            }
        }
        guard finished else { return false }
        guard seen == count, last == tLast else {
            throw TelemetryChunkError.inconsistent("\(seen) points ending at \(last), the row says \(count) ending at \(tLast)")
        }
        return true
    }

    /// `forEach` into a sink (the aggregation's fold): the same walk and checks, the sink's `take` inlined into the
    /// v2 decoder.
    @discardableResult @inline(__always)
    func forEach<Sink: PointSink>(into sink: inout Sink) throws -> Bool {
        guard version == 2 else {
            return try forEach { t, value in try sink.take(t, value) }
        }
        var seen = 0
        var last = tFirst
        let finished = try bytes.withUnsafeBufferPointer { buffer throws -> Bool in
            try TelemetryCodec.decodeV2(buffer, tFirst: tFirst, into: &sink, seen: &seen, last: &last)
        }
        guard finished else { return false }
        guard seen == count, last == tLast else {
            throw TelemetryChunkError.inconsistent("\(seen) points ending at \(last), the row says \(count) ending at \(tLast)")
        }
        return true
    }

    /// Every point, in order; throws when the chunk is malformed.
    func decoded() throws -> [(t: Int64, value: Double)] {
        var result: [(t: Int64, value: Double)] = []
        result.reserveCapacity(count)
        try forEach { t, value in
            result.append((t, value))
            return true
        }
        return result
    }

    /// The points that decode, in order: all of them, or those before the damage of a malformed chunk (tests).
    var points: [(t: Int64, value: Double)] {
        var result: [(t: Int64, value: Double)] = []
        result.reserveCapacity(count)
        _ = try? forEach { t, value in
            result.append((t, value))
            return true
        }
        return result
    }

    /// Packs points (increasing `t`, after `start`'s when given) into as few chunks as fit under `maxBytes`, filling
    /// `start` first.
    static func pack<S: Sequence>(_ points: S, onto start: TelemetryChunk? = nil) -> [TelemetryChunk]
        where S.Element == (t: Int64, value: Double) {
        var chunks = start.map { [$0] } ?? []
        let points = Array(points)
        var rest = points[...]
        while let first = rest.first {
            if let last = chunks.indices.last {
                let taken = chunks[last].append(contentsOf: rest)
                rest = rest.dropFirst(taken)
                if taken > 0 { continue }
            }
            chunks.append(TelemetryChunk(t: first.t, value: first.value))
            rest = rest.dropFirst()
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

extension TelemetryChunk: Equatable {
    static func == (lhs: TelemetryChunk, rhs: TelemetryChunk) -> Bool {
        (lhs.tFirst, lhs.tLast, lhs.count, lhs.bytes) == (rhs.tFirst, rhs.tLast, rhs.count, rhs.bytes)
    }
}

