@testable import Devices
import DomainTestSupport
import Foundation
import Persistence
import Testing
import TestSupport

/// Every stored chunk, sealed or open, as one table for assertions.
let storedChunks = """
    (SELECT series_id, t_first, t_last, count, points FROM telemetry_chunks
     UNION ALL SELECT series_id, t_first, t_last, count, points FROM telemetry_open_chunks)
    """

@Suite struct TelemetryChunkTests {
    @Test func pointsRoundTripIncludingExtremeTimesAndValues() {
        let points: [(t: Int64, value: Double)] = [(.min, -0.0), (.min + 1, .infinity), (-5, -1.5), (0, 0), (1, .pi),
                                                   (1 << 40, -.greatestFiniteMagnitude), (.max - 1, .leastNonzeroMagnitude), (.max, 42)]
        var chunk = TelemetryChunk(t: points[0].t, value: points[0].value)
        for point in points.dropFirst() { chunk.append(t: point.t, value: point.value) }
        #expect(chunk.count == points.count && chunk.tFirst == .min && chunk.tLast == .max)
        let decoded = chunk.points
        #expect(decoded.map(\.t) == points.map(\.t))
        #expect(decoded.map(\.value.bitPattern) == points.map(\.value.bitPattern))
        // In v1 a point a second after the previous one takes 9 bytes; v2 (codec tests: TelemetryCodecTests) far less.
        let v1 = TelemetryChunk.v1([(t: 1_600_000_000, value: 1), (t: 1_600_000_001, value: 2)])
        #expect(v1.bytes.count == 18)
        #expect(v1.points.map(\.value) == [1, 2])
        var dense = TelemetryChunk(t: 1_600_000_000, value: 1)
        dense.append(t: 1_600_000_001, value: 2)
        #expect(dense.bytes.count < 18)
    }

    @Test func packingRespectsTheSizeLimitAndKeepsEveryPoint() {
        // (v2 stores this regular series in a few bits per point, so it takes 20 000 points to fill several chunks.)
        let points = (0 ..< 20_000).map { (t: Int64($0) * 1_000_003, value: Double($0)) }
        let chunks = TelemetryChunk.pack(points)
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.bytes.count <= TelemetryChunk.maxBytes })
        #expect(chunks.flatMap(\.points).map(\.t) == points.map(\.t))
        #expect(chunks.reduce(0) { $0 + $1.count } == points.count)
    }

    @Test func aTruncatedEncodingEndsTheWalkInsteadOfTrapping() {
        let chunk = TelemetryChunk.v1([(t: 10, value: 1), (t: 11, value: 2)])
        let cut = TelemetryChunk(tFirst: 10, tLast: 11, count: 2, bytes: Array(chunk.bytes.dropLast(3)))
        #expect(cut.points.map(\.t) == [10])
        #expect(throws: TelemetryChunkError.truncated) { try cut.decoded() }
        let endless = TelemetryChunk(tFirst: 0, tLast: 0, count: 1, bytes: Array(repeating: 0xFF, count: 40))
        #expect(endless.points.isEmpty)
        #expect(throws: TelemetryChunkError.self) { try endless.decoded() }
        // The same in v2: every truncation is an error, never a trap.
        var v2 = TelemetryChunk(t: 10, value: 1)
        v2.append(t: 11, value: 2)
        for length in 0 ..< v2.bytes.count {
            let cut = TelemetryChunk(tFirst: 10, tLast: 11, count: 2, bytes: Array(v2.bytes.prefix(length)))
            #expect(throws: TelemetryChunkError.self) { try cut.decoded() }
        }
    }

    @Test func normalizingSortsAndKeepsTheLastPointOfEachTime() {
        let points: [(t: Int64, value: Double)] = [(5, 1), (3, 2), (5, 3), (4, 4), (3, 5)]
        let normalized = TelemetryChunk.normalized(points)
        #expect(normalized.map(\.t) == [3, 4, 5])
        #expect(normalized.map(\.value) == [5, 4, 3])
    }

    /// Random writes (appends, late points, rewrites of stored times) and retention against a dictionary model:
    /// after every step the chunks are disjoint and ordered, and every read agrees with the model.
    @Test(arguments: [1, 2, 3, 4]) func theStoreAgreesWithAModelUnderRandomWrites(seed: UInt64) throws {
        let fixture = try PlatformFixture(seedProjects: false)
        var random = SplitMix(state: seed)
        var model: [Int64: [Int64: Double]] = [:]
        var highest: [Int64: Int64] = [:]
        for step in 0 ..< 120 {
            let series = Int64.random(in: 1 ... 3, using: &random)
            let count = Int.random(in: 1 ... 250, using: &random)
            var points: [(t: Int64, value: Double)] = []
            let append = Bool.random(using: &random) || step < 5
            let base = append ? (highest[series] ?? 0) + 1 : Int64.random(in: 0 ... max(1, highest[series] ?? 1), using: &random)
            for index in 0 ..< count {
                let t = append ? base + Int64(index) * Int64.random(in: 1 ... 3, using: &random) : base + Int64.random(in: 0 ... 400, using: &random)
                points.append((t, Double(step * 1_000 + index)))
            }
            try fixture.db.write { tx in
                try TelemetryStore(db: tx).pointWriter().write(series: series, points: TelemetryChunk.normalized(points))
            }
            for point in points { model[series, default: [:]][point.t] = point.value }
            highest[series] = max(highest[series] ?? 0, points.map(\.t).max() ?? 0)
            if step % 30 == 29 {
                let cutoff = Int64.random(in: 0 ... (highest[series] ?? 0), using: &random)
                let removed = try fixture.db.write { try TelemetryStore(db: $0).purgePoints(series: series, olderThan: cutoff) }
                let expected = model[series]?.keys.filter { $0 < cutoff }.count ?? 0
                #expect(removed == expected, "step \(step)")
                model[series] = model[series]?.filter { $0.key >= cutoff }
            }
            try checkAgreement(fixture.db, model, &random, step: step)
        }
    }

    private func checkAgreement(_ db: DatabasePool, _ model: [Int64: [Int64: Double]], _ random: inout SplitMix, step: Int) throws {
        for (series, values) in model {
            let (sealed, open) = try db.read { tx in
                (try tx.query("SELECT t_first, t_last, count, points FROM telemetry_chunks WHERE series_id = ? ORDER BY t_first", [series])
                    .map(TelemetryChunk.init(row:)),
                 try tx.queryOne("SELECT t_first, t_last, count, points FROM telemetry_open_chunks WHERE series_id = ?", [series])
                    .map(TelemetryChunk.init(row:)))
            }
            // The open chunk, when there is one, is the series' last.
            let chunks = sealed + (open.map { [$0] } ?? [])
            for (earlier, later) in zip(chunks, chunks.dropFirst()) {
                #expect(earlier.tLast < later.tFirst, "step \(step): chunks overlap")
            }
            for chunk in chunks {
                let points = chunk.points
                #expect(points.count == chunk.count && points.first?.t == chunk.tFirst && points.last?.t == chunk.tLast, "step \(step)")
                #expect(chunk.bytes.count <= TelemetryChunk.maxBytes)
            }
            let stored = chunks.flatMap(\.points)
            let expected = values.sorted { $0.key < $1.key }
            #expect(stored.map(\.t) == expected.map(\.key), "step \(step), series \(series)")
            #expect(stored.map(\.value) == expected.map(\.value), "step \(step), series \(series)")
            // A random window: count and keyset pages.
            let low = Int64.random(in: -10 ... (expected.last?.key ?? 10), using: &random)
            let high = low + Int64.random(in: 0 ... 2_000, using: &random)
            let inWindow = expected.filter { $0.key >= low && $0.key < high }.map(\.key)
            #expect(try db.read { try TelemetryStore(db: $0).pointCount(series: series, start: low, end: high) } == Int64(inWindow.count))
            var paged: [Int64] = []
            var after: Int64?
            var page: [(t: Int64, value: Double)] = []
            repeat {
                try db.read { try TelemetryStore(db: $0).page(series: series, start: low, end: high, after: after, limit: 37, into: &page) }
                paged += page.map(\.t)
                after = page.last?.t
            } while page.count == 37
            #expect(paged == inWindow, "step \(step), window \(low)..<\(high)")
        }
    }

    @Test func historyMergesSeriesInTimeThenSeriesOrderAcrossPages() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        // Three channels with interleaved and equal times, posted out of order.
        var items: [(String, Double, Int64?)] = []
        for t in stride(from: Int64(1_000), to: 1_300, by: 7) { items.append(("\(device.agriID)-01", Double(t), t)) }
        for t in stride(from: Int64(1_299), to: 999, by: -5) { items.append(("\(device.agriID)-02", Double(-t), t)) }
        for t in stride(from: Int64(1_000), to: 1_300, by: 14) { items.append(("\(device.agriID)-03", 0.5, t)) }
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points(items))
        var seen: [(t: Int64, agriID: String)] = []
        var cursor: String?
        repeat {
            let page = try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: nil, start: 1_010, end: 1_250,
                                                   cursor: cursor, limit: 11)
            seen += page.points.map { ($0.t, $0.agriID) }
            cursor = page.nextCursor
        } while cursor != nil
        let expected = items.compactMap { item -> (t: Int64, agriID: String)? in
            guard let t = item.2, t >= 1_010, t < 1_250 else { return nil }
            return (t, item.0)
        }.sorted { ($0.t, $0.agriID) < ($1.t, $1.agriID) }
        #expect(seen.map(\.t) == expected.map(\.t))
        #expect(seen.map(\.agriID) == expected.map(\.agriID))
    }

    /// Concurrent requests whose times interleave across group commits (late points, repeated times with new values):
    /// every series ends up with exactly the last value given per time, the latest value is the newest point, and
    /// `admin-cli check`'s invariants hold.
    @Test func interleavedConcurrentRequestsKeepEveryPointAndTheNewestLatest() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        // Times 1000..<1600 in a scattered order; every request writes 3 channels, and some times come twice.
        var requests: [[(String, Double, Int64?)]] = []
        for request in 0 ..< 240 {
            let t = Int64(1_000 + (request * 7_919) % 600)
            var items: [(String, Double, Int64?)] = []
            for channel in 0 ..< 3 { items.append(("\(device.agriID)-0\(channel)", Double(request * 10 + channel), t)) }
            requests.append(items)
        }
        let posts = requests
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in stride(from: thread, to: posts.count, by: 8) {
                _ = try? fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points(posts[index]))
            }
        }
        // The value stored at a time is one of the values posted for it (concurrent posts of one time race), and
        // every time posted is there once.
        var posted: [String: [Int64: Set<Double>]] = [:]
        for request in requests { for (agriID, value, t) in request { posted[agriID, default: [:]][t!, default: []].insert(value) } }
        let page = try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: nil, start: 0, end: 10_000, cursor: nil, limit: 10_000)
        #expect(page.nextCursor == nil)
        #expect(page.points.count == posted.values.reduce(0) { $0 + $1.count })
        for point in page.points { #expect(posted[point.agriID]?[point.t]?.contains(point.value) == true) }
        let latest = try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice)
        for entry in latest {
            guard case .object(let object) = entry, case .string(let agriID)? = object["agri_id"], let t = object["t"]?.int64Value else { continue }
            #expect(t == posted[agriID]?.keys.max())
            let stored = page.points.first { $0.agriID == agriID && $0.t == t }
            #expect(stored.map { object["value"] == .number($0.value) } == true)
        }
        #expect(latest.count == 3)
        #expect(try fixture.db.read { try fixture.devices.invariantViolations($0) }.isEmpty)
    }

    /// devices.005 packs the rows of the old per-point table into chunks and drops it.
    @Test func theMigrationPacksExistingPointsIntoChunks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chunks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pool = try DatabasePool(path: directory.appendingPathComponent("old.db").path)
        defer { pool.close() }
        let migrations = DeviceMigrations.all
        let upgrade = try #require(migrations.firstIndex { $0.name == "devices.005.telemetry-chunks" })
        try pool.write { db in
            for migration in migrations[..<upgrade] { try migration.apply(db) }
            for series in Int64(1) ... 3 {
                for t in 0 ..< Int64(300) where t % series == 0 {
                    try db.execute("INSERT INTO telemetry_points (series_id, t, value) VALUES (?, ?, ?)", [series, t * 10, Double(t) / 4])
                }
            }
            try migrations[upgrade].apply(db)
        }
        try pool.read { db in
            #expect(try db.queryOne("SELECT COUNT(*) FROM sqlite_master WHERE name = 'telemetry_points'")?.int(0) == 0)
            let store = TelemetryStore(db: db)
            for series in Int64(1) ... 3 {
                var page: [(t: Int64, value: Double)] = []
                try store.page(series: series, start: 0, end: 10_000, after: nil, limit: 1_000, into: &page)
                let expected = (0 ..< Int64(300)).filter { $0 % series == 0 }
                #expect(page.map(\.t) == expected.map { $0 * 10 })
                #expect(page.map(\.value) == expected.map { Double($0) / 4 })
            }
        }
    }
}
