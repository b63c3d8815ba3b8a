import Core
import Foundation
import Testing
import TestSupport

@Suite struct TimestampTests {
    @Test func formatsUTC() {
        #expect(Timestamp.format(unixSeconds: 1_704_708_000) == "2024-01-08T10:00:00Z")
        #expect(Timestamp.format(unixSeconds: 0) == "1970-01-01T00:00:00Z")
    }

    /// The byte-wise fast path and the general one agree at the edges of the four-digit years.
    @Test func formatsEveryYearWidth() {
        #expect(Timestamp.format(unixSeconds: -1) == "1969-12-31T23:59:59Z")
        #expect(Timestamp.format(unixSeconds: 253_402_300_799) == "9999-12-31T23:59:59Z")
        #expect(Timestamp.format(unixSeconds: 253_402_300_800) == "10000-01-01T00:00:00Z")
        #expect(Timestamp.format(unixSeconds: -62_167_219_200) == "0000-01-01T00:00:00Z")
        #expect(Timestamp.format(unixSeconds: 951_782_400) == "2000-02-29T00:00:00Z")
        for seconds in stride(from: Int64(-100_000_000), to: 4_000_000_000, by: 86_399 * 97) {
            #expect(Timestamp.parse(Timestamp.format(unixSeconds: seconds)) == Double(seconds))
        }
    }

    @Test func parsesRFC3339WithFractionsAndOffsets() {
        #expect(Timestamp.parse("2024-01-08T10:00:00Z") == 1_704_708_000)
        #expect(Timestamp.parse("2024-01-08T12:00:00+02:00") == 1_704_708_000)
        #expect(Timestamp.parse("2024-01-08T10:00:00.5Z") == 1_704_708_000.5)
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") == 1_709_164_800)
    }

    @Test(arguments: ["", "2024-01-08", "2024-13-01T00:00:00Z", "2024-01-08T10:00:00", "2024-01-08T25:00:00Z", "abc", "2024-01-08T10:00:00Zjunk"])
    func rejectsBadTimestamps(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func filtersAcceptUnixSecondsOrRFC3339() {
        #expect(Timestamp.parseFilter("1704708000") == 1_704_708_000)
        #expect(Timestamp.parseFilter("2024-01-08T10:00:00Z") == 1_704_708_000)
        #expect(Timestamp.parseFilter("soon") == nil)
    }
}

@Suite struct ConfigTests {
    @Test func flagsBeatEnvironmentWhichBeatsTheFile() throws {
        let directory = NSTemporaryDirectory() + "cfg-\(UUID().uuidString).json"
        try #"{"server": {"port": 9000, "host": "0.0.0.0"}, "log": {"level": "debug"}}"#.write(toFile: directory, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Config.load(file: directory, environment: ["IOT_SERVER_PORT": "9100", "IOT_DB": "/tmp/x.db", "HOME": "/root"],
                                     overrides: ["server.host": "127.0.0.2"])
        #expect(config["server.port"] == "9100")
        #expect(config["server.host"] == "127.0.0.2")
        #expect(config["log.level"] == "debug")
        #expect(config["db.path"] == "/tmp/x.db")
    }

    @Test func unreadableOrInvalidFilesAreErrors() throws {
        #expect(throws: APIError.self) { try Config.load(file: "/nonexistent/config.json", environment: [:]) }
        let path = NSTemporaryDirectory() + "bad-\(UUID().uuidString).json"
        try "{nope".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: APIError.self) { try Config.load(file: path, environment: [:]) }
    }

    @Test func durations() {
        #expect(DurationText.seconds("30d") == 2_592_000)
        #expect(DurationText.seconds("12h") == 43_200)
        #expect(DurationText.seconds("15m") == 900)
        #expect(DurationText.seconds("500ms") == 0.5)
        #expect(DurationText.seconds("42") == 42)
        #expect(DurationText.seconds("-1d") == nil)
        #expect(DurationText.seconds("soon") == nil)
    }
}

@Suite struct RateLimiterTests {
    @Test func blocksAfterMaxFailuresUntilTheWindowPasses() throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_000))
        let limiter = RateLimiter(maxFailures: 3, window: 60, clock: clock)
        for _ in 0..<2 { limiter.recordFailure(["k"]) }
        try limiter.check(["k"])
        limiter.recordFailure(["k"])
        #expect(limiter.retryAfter("k") == 60)
        clock.advance(by: 30)
        do {
            try limiter.check(["other", "k"])
            Issue.record("expected 429")
        } catch {
            #expect(error.status == 429)
            #expect(error.headers.first { $0.0 == "Retry-After" }?.1 == "30")
        }
        clock.advance(by: 31)
        try limiter.check(["k"])
    }

    @Test func resetClearsAKey() throws {
        let limiter = RateLimiter(maxFailures: 1, window: 60, clock: ManualClock(Date(timeIntervalSince1970: 1_000)))
        limiter.recordFailure(["k"])
        #expect(limiter.retryAfter("k") != nil)
        limiter.reset("k")
        try limiter.check(["k"])
    }
}

@Suite struct PageRequestTests {
    @Test func defaultsClampsAndRejects() throws {
        #expect(try PageRequest.parse(page: nil, pageSize: nil) == PageRequest(page: 1, pageSize: 20))
        #expect(try PageRequest.parse(page: "3", pageSize: "500").pageSize == 100)
        #expect(try PageRequest.parse(page: "3", pageSize: "10").offset == 20)
        #expect(throws: APIError.self) { try PageRequest.parse(page: "0", pageSize: nil) }
        #expect(throws: APIError.self) { try PageRequest.parse(page: "x", pageSize: nil) }
        #expect(throws: APIError.self) { try PageRequest.parse(page: nil, pageSize: "-5") }
    }
}

@Suite struct MetricsRegistryTests {
    @Test func rendersPrometheusText() {
        let metrics = MetricsRegistry()
        metrics.recordRequest(method: "GET", route: "/api/v2/me/", status: 200, seconds: 0.003)
        metrics.recordRequest(method: "GET", route: "/api/v2/me/", status: 200, seconds: 0.2)
        metrics.increment("ingest_points_total", by: 5, help: "Points")
        metrics.registerGauge("queue_depth", help: "Depth") { 7 }
        let text = metrics.render()
        #expect(text.contains(#"http_requests_total{method="GET",route="/api/v2/me/",status="200"} 2"#))
        #expect(text.contains(#"http_request_duration_seconds_bucket{le="0.005"} 1"#))
        #expect(text.contains(#"http_request_duration_seconds_bucket{le="+Inf"} 2"#))
        #expect(text.contains("ingest_points_total 5"))
        #expect(text.contains("queue_depth 7"))
    }
}
