// Fuzz target `telemetry-chunk`: the chunk codecs (TelemetryCodec, TelemetryChunk). The first byte picks the use:
// - even: the rest is a stored blob (v1, v2 or garbage) of a row with tFirst 0 and the count and last time it
//   claims. Invariants: never a crash or a trap, only a TelemetryChunkError; what decodes has increasing times and,
//   encoded again, decodes to the same bits.
// - odd: the rest is a series, 9 bytes a point (a time step of 1…256 and a value's 8 bytes, any bits at all).
//   Invariants: packing it gives chunks within the size limit that decode to exactly the points given, bit for bit,
//   and a decimal chunk equals its points encoded at once.
func fuzzTelemetryChunk(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let rest = Array(input.dropFirst())
    if selector & 1 == 0 {
        // The count and last time the row must claim: as many as the blob yields, so that decoding goes deep.
        var seen = 0
        var last: Int64 = 0
        let probe = TelemetryChunk(tFirst: 0, tLast: 0, count: 1, bytes: rest)
        _ = try? probe.forEach { t, _ in
            seen += 1
            last = t
            return true
        }
        let chunk = TelemetryChunk(tFirst: 0, tLast: last, count: max(seen, 1), bytes: rest)
        let points: [(t: Int64, value: Double)]
        do {
            points = try chunk.decoded()
        } catch {
            fuzzCheck(error is TelemetryChunkError, "a decode error of another type: \(error)")
            return
        }
        fuzzCheck(!points.isEmpty, "a chunk decoded to no points")
        for (earlier, later) in zip(points, points.dropFirst()) { fuzzCheck(earlier.t < later.t, "times not increasing") }
        let again = TelemetryChunk(encoding: points[...])
        let decoded = (try? again.decoded()) ?? []
        fuzzCheck(decoded.map(\.t) == points.map(\.t) && decoded.map(\.value.bitPattern) == points.map(\.value.bitPattern),
                  "a decoded chunk encoded again reads differently")
        return
    }
    var points: [(t: Int64, value: Double)] = []
    var t = Int64(selector) << 40
    var offset = 0
    while offset + 9 <= rest.count {
        t += Int64(rest[offset]) + 1
        var bits: UInt64 = 0
        for index in 0 ..< 8 { bits |= UInt64(rest[offset + 1 + index]) << (8 * UInt64(index)) }
        // Half the values are made decimals (an integer over a power of ten) so both modes and their switch are reached.
        let value = bits & 1 == 0 ? Double(bitPattern: bits) : Double(Int64(bitPattern: bits) >> 40) / [1, 10, 100, 1e6][Int(bits >> 1 & 3)]
        points.append((t, value))
        offset += 9
    }
    guard !points.isEmpty else { return }
    let chunks = TelemetryChunk.pack(points)
    var decoded: [(t: Int64, value: Double)] = []
    for chunk in chunks {
        fuzzCheck(chunk.bytes.count <= TelemetryChunk.maxBytes, "a chunk of \(chunk.bytes.count) bytes")
        guard let points = try? chunk.decoded() else {
            fuzzCheck(false, "a chunk just packed does not decode")
            return
        }
        let whole = TelemetryChunk(encoding: points[...])
        let again = (try? whole.decoded()) ?? []
        fuzzCheck(again.map(\.t) == points.map(\.t) && again.map(\.value.bitPattern) == points.map(\.value.bitPattern),
                  "a chunk's points encoded at once read differently")
        if TelemetryCodec.commonScale(points.map(\.value)) != nil { fuzzCheck(whole == chunk, "appending differs from encoding at once") }
        decoded += points
    }
    fuzzCheck(decoded.map(\.t) == points.map(\.t) && decoded.map(\.value.bitPattern) == points.map(\.value.bitPattern),
              "packed points read back differently")
}
