@testable import Devices
import DomainTestSupport
import Foundation
import Persistence
import Testing
import TestSupport

/// Codec v2 (DECISIONS "Chunk codec v2"): bit-exact round trips over random and adversarial series, appends that match
/// whole encodings, compactness of the shapes it is made for, and damaged blobs as typed errors.
@Suite struct TelemetryCodecTests {
    /// Values no decimal scale holds, and their neighbours: NaN payloads, signed zeros, infinities, subnormals, extremes.
    static let adversarial: [Double] = [
        .nan, -.nan, .signalingNaN, Double(bitPattern: 0x7FF0_0000_0000_0001), Double(bitPattern: 0xFFFF_FFFF_FFFF_FFFF),
        Double(bitPattern: 0x7FF8_DEAD_BEEF_0001), -0.0, 0.0, .infinity, -.infinity, .leastNonzeroMagnitude,
        -.leastNonzeroMagnitude, .leastNormalMagnitude, Double(bitPattern: 0x000F_FFFF_FFFF_FFFF), .greatestFiniteMagnitude,
        -.greatestFiniteMagnitude, .ulpOfOne, 1 + .ulpOfOne, 9_007_199_254_740_992, 9_007_199_254_740_994, -9_007_199_254_740_992,
        9_007_199_254_740_991.5, 0.1, 0.2, 0.3, 1e-6, 1.5e-7, 123_456.789_012_3, 1e15, 1e16, 1e22, 1e300, Double.leastNormalMagnitude.nextDown,
    ]

    static func random(_ shape: Int, count: Int, _ random: inout SplitMix) -> [(t: Int64, value: Double)] {
        var t = Int64.random(in: -1_000_000 ... 2_000_000_000, using: &random)
        var walk = Double(Int.random(in: -500 ... 500, using: &random))
        let step = [1, 5, 10, 60][Int.random(in: 0 ..< 4, using: &random)]
        var points: [(t: Int64, value: Double)] = []
        for index in 0 ..< count {
            switch Int.random(in: 0 ..< 10, using: &random) {
            case 0: t &+= Int64.random(in: 1 ... 1_000_000, using: &random)
            case 1: t &+= Int64.random(in: 1 ... 3, using: &random)
            default: t &+= Int64(step)
            }
            if index > 0, t <= points[points.count - 1].t { break }   // wrapped past Int64.max
            let value: Double
            switch shape {
            case 0: value = Double(bitPattern: random.next())                                           // any bits at all
            case 1:                                                                                   // a decimal walk
                walk += Double(Int.random(in: -3 ... 3, using: &random))
                value = walk / 10
            case 2: value = Double(Float(bitPattern: UInt32.random(in: 0 ... UInt32.max, using: &random)))   // float32 noise
            case 3: value = adversarial[Int.random(in: 0 ..< adversarial.count, using: &random)]
            case 4: value = Double(Int.random(in: -999_999 ... 999_999, using: &random)) / [1, 10, 100, 1_000, 1e6][index % 5]
            default:                                                                                  // mostly decimal, then not
                value = Int.random(in: 0 ..< 20, using: &random) == 0 ? Double(bitPattern: random.next()) : Double(index) / 4
            }
            points.append((t, value))
        }
        return points
    }

    static func expectSame(_ decoded: [(t: Int64, value: Double)], _ points: [(t: Int64, value: Double)], _ note: String) {
        #expect(decoded.map(\.t) == points.map(\.t), "\(note)")
        #expect(decoded.map(\.value.bitPattern) == points.map(\.value.bitPattern), "\(note)")
    }

    @Test(arguments: 0 ..< 6) func randomSeriesRoundTripBitForBit(shape: Int) throws {
        var random = SplitMix(state: UInt64(shape) &* 7_919 &+ 1)
        for round in 0 ..< 60 {
            let points = Self.random(shape, count: Int.random(in: 1 ... 3_000, using: &random), &random)
            let chunks = TelemetryChunk.pack(points)
            #expect(chunks.allSatisfy { $0.bytes.count <= TelemetryChunk.maxBytes && $0.version == 2 })
            Self.expectSame(try chunks.flatMap { try $0.decoded() }, points, "shape \(shape), round \(round)")
            // Appending point by point gives the very bytes of encoding the chunk's points at once when they are
            // decimals (other chunks keep the mode they chose on the way, XOR or float).
            for chunk in chunks {
                let points = try chunk.decoded()
                let whole = TelemetryChunk(encoding: points[...])
                Self.expectSame(try whole.decoded(), points, "shape \(shape), round \(round)")
                if TelemetryCodec.commonScale(points.map(\.value)) != nil { #expect(whole == chunk, "shape \(shape), round \(round)") }
            }
        }
    }

    @Test func everyAdversarialValueRoundTripsInEveryPosition() throws {
        let values = Self.adversarial
        for (index, value) in values.enumerated() {
            var shuffle = SplitMix(state: UInt64(index))
            // Alone, after decimals (the chunk turns to XOR), and between other adversarial values.
            let series: [[Double]] = [[value], [1.5, 2.5, value], [value, 1.5], values.shuffled(using: &shuffle)]
            for values in series {
                let points = values.enumerated().map { (t: Int64($0.offset) * 5, value: $0.element) }
                let chunks = TelemetryChunk.pack(points)
                Self.expectSame(try chunks.flatMap { try $0.decoded() }, points, "value \(value.bitPattern)")
                Self.expectSame(try TelemetryChunk(encoding: points[...]).decoded(), points, "value \(value.bitPattern)")
            }
        }
        // Extreme times with every delta-of-delta class, including wrapping ones.
        let times: [Int64] = [.min, .min + 1, .min + 3, -1 << 40, -5, 0, 1, 6, 140, 5_000, 1 << 20, 1 << 40, .max - 1, .max]
        let points = times.enumerated().map { (t: $0.element, value: Double($0.offset)) }
        Self.expectSame(try TelemetryChunk(encoding: points[...]).decoded(), points, "times")
        Self.expectSame(try TelemetryChunk.pack(points).flatMap { try $0.decoded() }, points, "times")
    }

    @Test func decimalsUseTheSmallestScaleAndFallBackToXOR() {
        #expect(TelemetryCodec.commonScale([21.5, 21.6, 22]) == 1)
        #expect(TelemetryCodec.commonScale([12.34, 0.5]) == 2)
        #expect(TelemetryCodec.commonScale([1e-6, 3]) == 6)
        #expect(TelemetryCodec.commonScale([1e-7]) == nil)
        #expect(TelemetryCodec.commonScale([-0.0]) == nil)
        #expect(TelemetryCodec.commonScale([.nan]) == nil)
        #expect(TelemetryCodec.commonScale([9_007_199_254_740_992]) == 0)
        #expect(TelemetryCodec.commonScale([9_007_199_254_740_994]) == nil)
        // 2^53 / 10 is exact at scale 1, a value forcing scale 2 would need n = 2^53 · 10: no common scale.
        #expect(TelemetryCodec.commonScale([900_719_925_474_099.2, 0.01]) == nil)
        #expect(TelemetryCodec.commonScale([Double(Float(0.1))]) == nil)
    }

    /// The shapes the codec is for: a 5-second regular series costs about a bit per point for its times, a
    /// 1-decimal random walk about a byte, float32 noise far less than v1's 9 bytes.
    @Test func sensorShapesAreCompact() {
        var random = SplitMix(state: 42)
        func bytesPerPoint(_ value: (Int) -> Double) -> Double {
            let points = (0 ..< 10_000).map { (t: 1_700_000_000 + Int64($0) * 5, value: value($0)) }
            let chunks = TelemetryChunk.pack(points)
            return Double(chunks.reduce(0) { $0 + $1.bytes.count }) / Double(points.count)
        }
        let constant = bytesPerPoint { _ in 21.5 }
        #expect(constant < 0.3)   // two bits a point, plus the chunk's trailer
        var walk = 215
        let temperature = bytesPerPoint { _ in
            walk += Int.random(in: -2 ... 2, using: &random)
            return Double(walk) / 10
        }
        #expect(temperature < 1.0)
        let vibration = bytesPerPoint { _ in Double(Float.random(in: -2 ... 2, using: &random)) }
        #expect(vibration < 5.0)
        // Float32 values around a level: the float mode's integer deltas beat XOR (≈ 4.6 bytes a point).
        let level = bytesPerPoint { _ in Double(Float(2 + Double.random(in: -0.5 ... 0.5, using: &random))) }
        #expect(level < 4.0)
    }

    @Test func appendingLeavesAFullChunkUnchanged() {
        var random = SplitMix(state: 7)
        var chunk = TelemetryChunk(t: 0, value: 0.5)
        var t: Int64 = 0
        while true {
            t += 1
            let before = chunk
            if !chunk.append(t: t, value: Double(bitPattern: random.next())) {
                #expect(chunk == before)
                break
            }
            #expect(chunk.bytes.count <= TelemetryChunk.maxBytes)
        }
        #expect(chunk.count > 10)
        // A decimal chunk that fills up and then meets a value it cannot hold at its scale stays as it was.
        var decimal = TelemetryChunk(t: 0, value: 1)
        var n: Int64 = 0
        while decimal.append(t: n + 1, value: Double(n % 7)) { n += 1 }
        let full = decimal
        let appended = decimal.append(t: n + 100, value: .pi)
        #expect(!appended)
        #expect(decimal == full)
    }

    @Test func v1ChunksStayReadableAndTurnIntoV2WhenAppendedTo() throws {
        let points = (0 ..< 90).map { (t: Int64(1_000 + $0), value: Double($0) / 10) }
        var chunk = TelemetryChunk.v1(points[...])
        #expect(chunk.version == 1)
        Self.expectSame(try chunk.decoded(), points, "v1")
        let appended = chunk.append(t: 2_000, value: -0.0)
        #expect(appended)
        #expect(chunk.version == 2 && chunk.count == 91)
        Self.expectSame(try chunk.decoded(), points + [(t: 2_000, value: -0.0)], "re-encoded")
    }

    /// Damaged blobs (every truncation, random byte changes, random bytes) decode to an error or to points, never
    /// trap; a blob whose count or last time disagrees with its row is an error.
    @Test func damagedChunksAreTypedErrors() throws {
        var random = SplitMix(state: 99)
        for shape in 0 ..< 6 {
            let points = Self.random(shape, count: 200, &random)
            let chunk = TelemetryChunk(encoding: points[...])
            for length in 0 ..< chunk.bytes.count {
                let cut = TelemetryChunk(tFirst: chunk.tFirst, tLast: chunk.tLast, count: chunk.count, bytes: Array(chunk.bytes.prefix(length)))
                #expect(throws: TelemetryChunkError.self) { try cut.decoded() }
            }
            for _ in 0 ..< 500 {
                var bytes = chunk.bytes
                for _ in 0 ..< Int.random(in: 1 ... 3, using: &random) {
                    bytes[Int.random(in: 0 ..< bytes.count, using: &random)] ^= UInt8.random(in: 1 ... 255, using: &random)
                }
                let damaged = TelemetryChunk(tFirst: chunk.tFirst, tLast: chunk.tLast, count: chunk.count, bytes: bytes)
                do {
                    _ = try damaged.decoded()
                } catch {
                    #expect(error is TelemetryChunkError)
                }
            }
            let wrongCount = TelemetryChunk(tFirst: chunk.tFirst, tLast: chunk.tLast, count: chunk.count + 1, bytes: chunk.bytes)
            #expect(throws: TelemetryChunkError.self) { try wrongCount.decoded() }
            let wrongEnd = TelemetryChunk(tFirst: chunk.tFirst, tLast: chunk.tLast &+ 1, count: chunk.count, bytes: chunk.bytes)
            #expect(throws: TelemetryChunkError.self) { try wrongEnd.decoded() }
        }
        for _ in 0 ..< 2_000 {
            var bytes = (0 ..< Int.random(in: 0 ... 64, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
            if !bytes.isEmpty, Bool.random(using: &random) { bytes[0] = 2 }
            let chunk = TelemetryChunk(tFirst: 0, tLast: 0, count: 1, bytes: bytes)
            do {
                _ = try chunk.decoded()
            } catch {
                #expect(error is TelemetryChunkError)
            }
        }
    }

    /// Chunks written by the previous release (v1 rows) are read through the store, and the series' next write
    /// re-encodes its open chunk in v2.
    @Test func storedV1ChunksAreReadAndReencodedWhenWritten() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        let sealed = (0 ..< 50).map { (t: Int64($0) * 10, value: Double($0)) }
        let open = (50 ..< 80).map { (t: Int64($0) * 10, value: Double($0) / 100) }
        try fixture.db.write { tx in
            let writer = try TelemetryStore(db: tx).pointWriter()
            try writer.seal(series: 1, TelemetryChunk.v1(sealed[...]))
            try writer.saveOpen(series: 1, TelemetryChunk.v1(open[...]), inserting: true)
        }
        var page: [(t: Int64, value: Double)] = []
        try fixture.db.read { try TelemetryStore(db: $0).page(series: 1, start: 0, end: 10_000, after: nil, limit: 1_000, into: &page) }
        Self.expectSame(page, sealed + open, "v1 rows")
        try fixture.db.write { tx in
            try TelemetryStore(db: tx).pointWriter().write(series: 1, points: [(t: 900, value: 0.25)])
        }
        let reopened = try #require(try fixture.db.read { try TelemetryStore(db: $0).pointWriter().open(1) })
        #expect(reopened.version == 2)
        try fixture.db.read { try TelemetryStore(db: $0).page(series: 1, start: 0, end: 10_000, after: nil, limit: 1_000, into: &page) }
        Self.expectSame(page, sealed + open + [(t: 900, value: 0.25)], "after a write")
    }
}

/// Chunk summaries (count, min, max, sum beside each sealed chunk), `telemetry recompress` and `admin-cli check`'s
/// chunk checks.
@Suite struct TelemetrySummaryTests {
    @Test func sumsAreCorrectlyRoundedWithTheirExactError() {
        var random = SplitMix(state: 5)
        for _ in 0 ..< 300 {
            // Multiples of 2^-20 below 2^30 in magnitude: their exact sum is an Int64 count of 2^-20 steps.
            let steps = (0 ..< Int.random(in: 1 ... 1_000, using: &random)).map { _ in
                Int64.random(in: -(1 << 50) ... (1 << 50), using: &random) >> Int64.random(in: 0 ... 50, using: &random)
            }
            let values = steps.map { Double($0) / 1_048_576 }
            let exact = steps.reduce(0, +)
            let summary = TelemetrySummary(values)
            let rounded = Double(exact)   // Int64 → Double rounds once, half to even
            #expect(summary.sum == rounded / 1_048_576)
            #expect(summary.sumError == Double(exact - Int64(rounded)) / 1_048_576)
            #expect(summary.min == values.min() && summary.max == values.max())
        }
        let cancelling = TelemetrySummary([1e100, 1, -1e100, 1e-100])
        #expect(cancelling.sum == 1 && cancelling.sumError == 1e-100)
        #expect(TelemetrySummary([0.1, 0.2]).sum == 0.30000000000000004)
        #expect(TelemetrySummary([-0.0, 0.0]).min?.sign == .minus)
        #expect(TelemetrySummary([0.0, -0.0]).max?.sign == .plus)
    }

    /// The general loop of Shewchuk's partials (what `ExactSum` did for every value before it kept two components
    /// inline), with its final rounding: the reference the inline path must match bit for bit.
    static func referenceSum(_ values: [Double]) -> Double {
        var partials: [Double] = []
        for value in values {
            var x = value
            var kept = 0
            for index in partials.indices {
                var y = partials[index]
                if x.magnitude < y.magnitude { swap(&x, &y) }
                let high = x + y
                let low = y - (high - x)
                if low != 0 {
                    partials[kept] = low
                    kept += 1
                }
                x = high
            }
            partials.removeSubrange(kept...)
            partials.append(x)
        }
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
        if index > 0, (low < 0 && partials[index - 1] < 0) || (low > 0 && partials[index - 1] > 0) {
            let y = low * 2
            let x = high + y
            if y == x - high { high = x }
        }
        return high
    }

    /// `ExactSum` (chunk summaries) and `AggregateBucket` (aggregation) share one exact sum that keeps up to two
    /// components inline: bit for bit the general loop's result — signed zeros, cancellation, values that need many
    /// components, one-decimal sensor values — and never NaN for finite values that do not overflow.
    @Test func theInlineSumIsTheGeneralLoopsBitForBit() {
        var random = SplitMix(state: 17)
        let special: [Double] = [0, -0.0, 1, -1, 0.1, -0.1, 1e308, -1e308, 1e-308, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 2.5, 1e16, -1e16, 3]
        var series: [[Double]] = [[], [-0.0], [-0.0, -0.0], [0.0, -0.0], [-0.0, 0.0], [1, -1], [-1, 1, -0.0], [1e100, 1, -1e100, 1e-100],
                                  [0.1, 0.2, 0.3, -0.6], Array(repeating: 0.1, count: 10), [1, 1e-16, 1e-16], [1e16, 1, -1e16, -1]]
        for _ in 0 ..< 2_000 {
            let count = Int.random(in: 1 ... 200, using: &random)
            let values: [Double] = (0 ..< count).map { _ in
                switch Int.random(in: 0 ... 4, using: &random) {
                case 0: special[Int.random(in: 0 ..< special.count, using: &random)]
                case 1: Double(Int.random(in: -300 ... 400, using: &random)) / 10   // a one-decimal sensor
                case 2: Double(bitPattern: random.next() & 0x7FEF_FFFF_FFFF_FFFF) * (random.next() & 1 == 0 ? 1 : -1)   // any finite
                case 3: Double(Int.random(in: -1_000_000 ... 1_000_000, using: &random)) * 0x1p-30
                default: Double.random(in: -1 ... 1, using: &random) * pow(2, Double(Int.random(in: -60 ... 60, using: &random)))
                }
            }
            series.append(values)
        }
        for values in series {
            var exact = ExactSum()
            var bucket = AggregateBucket(start: 0)
            for value in values {
                exact.add(value)
                bucket.add(value)
            }
            let reference = Self.referenceSum(values)
            // The general loop overflows to ±∞ or NaN where ExactSum says "no sum"; elsewhere both agree bit for bit.
            guard reference.isFinite else {
                #expect(exact.sum == nil || exact.sum?.isFinite == false, "\(values)")
                continue
            }
            #expect(exact.sum?.bitPattern == reference.bitPattern, "\(values)")
            #expect(bucket.sum.bitPattern == reference.bitPattern, "\(values)")
            #expect(exact.result()?.sum.bitPattern == reference.bitPattern, "\(values)")
        }
        // Summaries added to a bucket (sum + error) give the raw points' sum.
        var random2 = SplitMix(state: 3)
        for _ in 0 ..< 200 {
            let values = (0 ..< Int.random(in: 1 ... 300, using: &random2)).map { _ in Double(Int.random(in: -5_000 ... 5_000, using: &random2)) / 100 }
            let cut = Int.random(in: 0 ... values.count, using: &random2)
            var bucket = AggregateBucket(start: 0)
            for part in [values[..<cut], values[cut...]] where !part.isEmpty {
                let summary = TelemetrySummary(part)
                bucket.add(count: Int64(part.count), min: summary.min!, max: summary.max!, sum: summary.sum!, sumError: summary.sumError ?? 0)
            }
            #expect(bucket.sum.bitPattern == Self.referenceSum(values).bitPattern, "\(values)")
        }
    }

    @Test func nanAndInfinities() {
        #expect(TelemetrySummary([1, .nan, 2]) == .empty)
        #expect(TelemetrySummary([.infinity, -.infinity]) == .empty)
        #expect(TelemetrySummary([.greatestFiniteMagnitude, .greatestFiniteMagnitude]) == .empty)
        let infinite = TelemetrySummary([1, .infinity])
        #expect(infinite.sum == .infinity && infinite.max == .infinity && infinite.min == 1 && infinite.sumError == nil)
    }

    private func sealedRows(_ db: DatabasePool, series: Int64) throws -> [Row] {
        try db.read {
            try $0.query("""
                SELECT t_first, t_last, count, points, value_min, value_max, value_sum, value_sum_error
                FROM telemetry_chunks WHERE series_id = ? ORDER BY t_first
                """, [series])
        }
    }

    @Test func sealedChunksCarryTheirSummaryAndCheckVerifiesIt() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        var random = SplitMix(state: 11)
        let points = (0 ..< 6_000).map { (t: Int64($0) * 5, value: Double(Int.random(in: -500 ... 500, using: &random)) / 100) }
        try fixture.db.write { try TelemetryStore(db: $0).pointWriter().write(series: 1, points: points) }
        let rows = try sealedRows(fixture.db, series: 1)
        #expect(rows.count >= 2)
        for row in rows {
            let values = try TelemetryChunk(row: row).decoded().map(\.value)
            #expect(row.optionalDouble(4) == values.min() && row.optionalDouble(5) == values.max())
            #expect(row.optionalDouble(6) == TelemetrySummary(values).sum)
        }
        #expect(try fixture.db.read { try fixture.devices.invariantViolations($0) }.isEmpty)
        // A summary that disagrees with the points, and a damaged chunk, are named.
        let first = rows[0].int(0)
        try fixture.db.write { try $0.execute("UPDATE telemetry_chunks SET value_max = 1e9 WHERE series_id = 1 AND t_first = ?", [first]) }
        var violations = try fixture.db.read { try fixture.devices.invariantViolations($0) }
        #expect(violations.count == 1 && violations[0].contains("summary of the chunk at t \(first)"))
        let second = rows[1].int(0)
        try fixture.db.write { try $0.execute("UPDATE telemetry_chunks SET points = ? WHERE series_id = 1 AND t_first = ?", [[UInt8(0x02), 0x07], second]) }
        violations = try fixture.db.read { try fixture.devices.invariantViolations($0) }
        #expect(violations.count == 2 && violations[1].contains("does not decode"))
    }

    /// A damaged open chunk does not stop the series' writes: it is sealed as it is (no summary, named by check) and
    /// the new points open a new chunk.
    @Test func aDamagedOpenChunkIsSealedAndWritesGoOn() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        try fixture.db.write { try TelemetryStore(db: $0).pointWriter().write(series: 1, points: [(t: 10, value: 1), (t: 20, value: 2)]) }
        try fixture.db.write { try $0.execute("UPDATE telemetry_open_chunks SET points = ? WHERE series_id = 1", [[UInt8(0x02), 0xFF]]) }
        try fixture.db.write { try TelemetryStore(db: $0).pointWriter().write(series: 1, points: [(t: 30, value: 3)]) }
        let open = try #require(try fixture.db.read { try TelemetryStore(db: $0).pointWriter().open(1) })
        TelemetryCodecTests.expectSame(try open.decoded(), [(t: 30, value: 3)], "new open chunk")
        let sealed = try sealedRows(fixture.db, series: 1)
        #expect(sealed.count == 1 && sealed[0].int(0) == 10 && sealed[0].isNull(4))
        let violations = try fixture.db.read { try TelemetryStore(db: $0).chunkViolations(limit: 10) }
        #expect(violations.count == 1 && violations[0].contains("the chunk at t 10 does not decode"))
    }

    @Test func recompressTurnsV1ChunksIntoFewerV2ChunksAndBack() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        let points = (0 ..< 3_000).map { (t: Int64($0) * 10, value: Double($0 % 300) / 10) }
        // The layout of the previous release: v1 chunks of ≈ 100 points, the last one open.
        let v1 = TelemetryStore.packV1(points)
        try fixture.db.write { tx in
            try tx.execute("INSERT INTO telemetry_series (id, device_pk, agri_id, project_pk, organization_id, the_type) VALUES (1, 1, 'a', 1, 1, 'x')")
            let writer = try TelemetryStore(db: tx).pointWriter()
            for chunk in v1.dropLast() { try writer.seal(series: 1, chunk) }
            try writer.saveOpen(series: 1, v1[v1.count - 1], inserting: true)
        }
        func stored() throws -> [(t: Int64, value: Double)] {
            var page: [(t: Int64, value: Double)] = []
            try fixture.db.read { try TelemetryStore(db: $0).page(series: 1, start: 0, end: .max, after: nil, limit: 10_000, into: &page) }
            return page
        }
        func versions() throws -> [Int] {
            try fixture.db.read { try $0.query("SELECT points FROM \(storedChunks) AS stored WHERE series_id = 1 ORDER BY t_first") }
                .map { TelemetryChunk(tFirst: 0, tLast: 0, count: 0, bytes: $0.blob(0)).version }
        }
        var lines: [String] = []
        let dry = try fixture.devices.recompressTelemetry(dryRun: true) { lines.append("\($0.series)") }
        #expect(dry.chunks == v1.count && dry.points == points.count && dry.bytesAfter * 4 < dry.bytesBefore)
        #expect(lines == ["1"])
        #expect(try versions().allSatisfy { $0 == 1 })
        let done = try fixture.devices.recompressTelemetry(dryRun: false) { _ in }
        #expect(done.chunks == v1.count)
        let after = try versions()
        #expect(after.allSatisfy { $0 == 2 } && after.count < v1.count / 4)
        TelemetryCodecTests.expectSame(try stored(), points, "after recompress")
        #expect(try fixture.db.read { try $0.queryOne("SELECT COUNT(*) FROM telemetry_open_chunks WHERE series_id = 1")?.int(0) } == 1)
        // (The series has no device here: only the chunk checks apply.)
        #expect(try fixture.db.read { try TelemetryStore(db: $0).chunkViolations(limit: 10) }.isEmpty)
        #expect(try fixture.devices.recompressTelemetry(dryRun: false) { _ in }.chunks == 0)
        // And back to v1 for an older release.
        _ = try fixture.devices.recompressTelemetry(to: 1, dryRun: false) { _ in }
        #expect(try versions().allSatisfy { $0 == 1 })
        TelemetryCodecTests.expectSame(try stored(), points, "back in v1")
        #expect(try fixture.db.read { try TelemetryStore(db: $0).chunkViolations(limit: 10) }.isEmpty)
    }

    /// devices.006 adds the summary columns and fills them for the chunks already stored.
    @Test func theMigrationSummarizesStoredChunks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("summaries-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pool = try DatabasePool(path: directory.appendingPathComponent("old.db").path)
        defer { pool.close() }
        let migrations = DeviceMigrations.all
        let upgrade = try #require(migrations.firstIndex { $0.name == "devices.006.telemetry-chunk-summaries" })
        let points = (0 ..< 500).map { (t: Int64($0), value: Double($0) - 250.5) }
        try pool.write { db in
            for migration in migrations[..<upgrade] { try migration.apply(db) }
            for chunk in TelemetryStore.packV1(points) {
                try db.execute("INSERT INTO telemetry_chunks (series_id, t_first, t_last, count, points) VALUES (1, ?, ?, ?, ?)",
                               [chunk.tFirst, chunk.tLast, chunk.count, chunk.bytes])
            }
            try db.execute("INSERT INTO telemetry_chunks (series_id, t_first, t_last, count, points) VALUES (2, 0, 1, 2, ?)",
                           [TelemetryChunk.v1([(t: 0, value: 1), (t: 1, value: .nan)]).bytes])
            try migrations[upgrade].apply(db)
        }
        let rows = try sealedRows(pool, series: 1)
        #expect(rows.count > 1)
        #expect(rows.first?.optionalDouble(4) == -250.5 && rows.last?.optionalDouble(5) == 248.5)
        let sum = try pool.read { try $0.queryOne("SELECT SUM(value_sum) FROM telemetry_chunks WHERE series_id = 1")?.double(0) }
        #expect(sum == points.reduce(0) { $0 + $1.value })
        #expect(try sealedRows(pool, series: 2).allSatisfy { $0.isNull(4) && $0.isNull(5) && $0.isNull(6) })
    }
}
