import Core
import Devices
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// DESIGN §5.2 "Aggregation" over HTTP, in process: buckets aligned to the epoch shifted by `tz`, empty buckets
/// omitted, every aggregate exact against the raw history of random data, and the limits.
@Suite struct TelemetryAggregationTests {
    /// Random points of one series (decimals and plain floats, some buckets left empty) and a second series.
    static func seeded(_ server: InProcessServer) throws -> (client: HTTPTestClient, path: String, agriID: String, points: [(Int64, Double)]) {
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let agriID = "\(device.agriID)-01"
        var generator = SplitMix(state: 21)
        var points: [(Int64, Double)] = []
        var t: Int64 = 1_700_000_000
        for index in 0..<3_000 {
            t += Int64(generator.next() % 300) + 1
            if index % 500 == 0 { t += 5 * 86_400 }  // whole days without data
            let value = index % 3 == 0 ? Double(Int64(generator.next() % 20_000)) / 10 - 1000 : Double(bitPattern: 0x3FF0_0000_0000_0000 | (generator.next() >> 12)) * 1e-3
            points.append((t, value))
        }
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        for start in stride(from: 0, to: points.count, by: 1_000) {
            let batch = points[start..<min(start + 1_000, points.count)].map { (agriID, $0.1, Optional($0.0)) }
                + [("\(device.agriID)-02", 1, Optional(points[start].0))]
            #expect(try client.post(path, DeviceAPI.points(batch)).status == 202)
        }
        return (client, path, agriID, points)
    }

    /// What a client computes from the raw points: buckets by `interval` and `offset`, exact sums (via `AggregateBucket`,
    /// itself checked against known sums below).
    static func expected(_ points: [(Int64, Double)], interval: Int64, offset: Int64, start: Int64, end: Int64) -> [JSON] {
        let request = AggregationRequest(interval: interval, offset: offset, aggregates: [.count, .min, .max, .avg, .sum, .first, .last])
        var buckets: [AggregateBucket] = []
        for (t, value) in points where t >= start && t < end {
            let bucket = request.bucket(t)
            if buckets.last?.start != bucket { buckets.append(AggregateBucket(start: bucket)) }
            buckets[buckets.count - 1].add(value)
        }
        return buckets.map { $0.json(request.aggregates) }
    }

    @Test func bucketsAreExactAgainstTheRawHistory() throws {
        let server = try Shared.get()
        let (client, path, agriID, points) = try Self.seeded(server)
        let start = points[0].0
        let end = points[points.count - 1].0 + 1
        for (interval, tz, seconds, offset) in [("1h", "+00:00", Int64(3_600), Int64(0)), ("1d", "+08:00", 86_400, 28_800),
                                                 ("90m", "-05:30", 5_400, -19_800), ("3600", "Z", 3_600, 0)] {
            let answer = try client.get("\(path)?agri_id=\(agriID)&start=\(start)&end=\(end)&interval=\(interval)&agg=min,max,avg,sum,first,last"
                                        + "&tz=\(tz.replacingOccurrences(of: "+", with: "%2B"))")
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer.json["interval"] == .int64(seconds) && answer.json["tz"] == .string(AggregationRequest.formatOffset(offset)))
            #expect(answer.json["agg"] == .array(["count", "min", "max", "avg", "sum", "first", "last"].map(JSON.string)))
            let results = answer.json["results"]?.arrayValue ?? []
            #expect(results == Self.expected(points, interval: seconds, offset: offset, start: start, end: end), "\(interval) \(tz)")
            // Buckets start at multiples of the interval from the shifted epoch; empty ones are omitted.
            #expect(results.allSatisfy { (($0["t"]?.int64Value ?? 1) + offset) % seconds == 0 && ($0["count"]?.int64Value ?? 0) > 0 })
            #expect(results.reduce(0) { $0 + ($1["count"]?.int64Value ?? 0) } == Int64(points.count))
        }
        // A sub-range, and the default aggregate (count only).
        let middle = points[1_000].0
        let counted = try client.get("\(path)?agri_id=\(agriID)&start=\(middle)&end=\(middle + 7_200)&interval=600")
        #expect(counted.json["results"]?.arrayValue == Self.expected(points, interval: 600, offset: 0, start: middle, end: middle + 7_200)
            .map { bucket in .object(["t": bucket["t"]!, "count": bucket["count"]!]) })
    }

    /// Sealed chunks inside one bucket are added from their summaries unless first/last are asked for: both ways give the
    /// same numbers, and the numbers of the raw history.
    @Test func chunkSummariesGiveTheSameNumbersAsDecoding() throws {
        let server = try Shared.get()
        let (client, path, agriID, points) = try Self.seeded(server)
        let start = points[0].0 - 86_400 * 3
        let end = points[points.count - 1].0 + 86_400
        for interval in ["1d", "7d", "30d"] {
            let base = "\(path)?agri_id=\(agriID)&start=\(start)&end=\(end)&interval=\(interval)"
            let summarized = try client.get(base + "&agg=min,max,avg,sum").json["results"]?.arrayValue ?? []
            let decoded = try client.get(base + "&agg=min,max,avg,sum,first,last").json["results"]?.arrayValue ?? []
            #expect(!summarized.isEmpty && summarized.count == decoded.count, "\(interval)")
            for (a, b) in zip(summarized, decoded) {
                for key in ["t", "count", "min", "max", "avg", "sum"] { #expect(a[key] == b[key], "\(interval) \(key): \(a) vs \(b)") }
            }
            let seconds = AggregationRequest.parseInterval(interval)!
            #expect(decoded == Self.expected(points, interval: seconds, offset: 0, start: start, end: end), "\(interval)")
        }
    }

    @Test func badAggregationsAreNamed() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let series = "agri_id=\(device.agriID)-01"
        for (query, field) in [
            ("\(series)&start=0&end=86400&interval=0s", "interval"), ("\(series)&start=0&end=86400&interval=367d", "interval"),
            ("\(series)&start=0&end=86400&interval=5ms", "interval"), ("\(series)&start=0&end=86400&interval=1h&agg=median", "agg"),
            ("\(series)&start=0&end=86400&interval=1h&tz=%2B15:00", "tz"), ("\(series)&start=0&end=86400&interval=1h&tz=Asia/Shanghai", "tz"),
            ("start=0&end=86400&interval=1h", "agri_id"), ("\(series)&end=86400&interval=1h", "start"), ("\(series)&start=0&agg=avg", "interval"),
            // 10 001 buckets of one second.
            ("\(series)&start=0&end=10001&interval=1s", "interval"),
        ] {
            let answer = try client.get("\(path)?\(query)")
            #expect(answer.status == 400 && answer.code == "VALIDATION_ERROR" && answer.json["fields"]?[field] != nil, "\(query): \(answer.text)")
        }
        #expect(try client.get("\(path)?\(series)&start=0&end=10000&interval=1s").status == 200)   // exactly 10 000 buckets
        // Another organization's token: 404, as for the history.
        let (_, token) = try DeviceAPI.organization(server)
        #expect(try server.client(token: token).get("\(path)?\(series)&start=0&end=86400&interval=1h").status == 404)
    }

    @Test func sumsAreCorrectlyRounded() {
        func sum(_ values: [Double]) -> Double {
            var bucket = AggregateBucket(start: 0)
            values.forEach { bucket.add($0) }
            return bucket.sum
        }
        #expect(sum(Array(repeating: 0.1, count: 10)) == 1.0)   // a naive loop gives 0.9999999999999999
        #expect(sum([1e100, 1.0, -1e100, 1e-100]) == 1.0)
        #expect(sum([0.1, 0.2, 0.3, -0.6]) == 2.7755575615628914e-17)   // math.fsum: the doubles' exact sum
        #expect(sum([1, 1e-16, 1e-16]) == 1.0000000000000002)
        var generator = SplitMix(state: 7)
        let integers = (0..<10_000).map { _ in Double(Int64(generator.next() % 2_000_000)) - 1_000_000 }
        #expect(sum(integers) == Double(integers.reduce(0) { $0 + Int64($1) }))
    }
}
