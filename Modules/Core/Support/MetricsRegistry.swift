import Foundation
import Synchronization

/// Process-wide metrics in Prometheus text format: counters, gauges read on demand, and the HTTP
/// request histogram. Domain modules count through it without knowing HTTP.
public final class MetricsRegistry: Sendable {
    /// Upper bounds (seconds) of the request-latency histogram buckets.
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct RequestKey: Hashable { let method: String; let route: String; let status: Int }

    private struct State {
        var requests: [RequestKey: Int] = [:]
        var bucketCounts = [Int](repeating: 0, count: MetricsRegistry.latencyBuckets.count)
        var latencySum = 0.0
        var latencyCount = 0
        var counters: [String: (help: String, value: Double)] = [:]
    }

    private let state = Mutex(State())
    /// Request counts and latencies, one shard per thread (no shared lock on the request path), merged by `render`.
    private let requestShards = PerThread { RequestShard() }

    final class RequestShard: Sendable {
        struct Counts {
            var requests: [RequestKey: Int] = [:]
            var bucketCounts = [Int](repeating: 0, count: MetricsRegistry.latencyBuckets.count)
            var latencySum = 0.0
            var latencyCount = 0
        }
        let counts = Mutex(Counts())
    }
    private let gauges = Mutex<[(name: String, help: String, read: @Sendable () -> Double)]>([])

    public init() {}

    /// Records one answered HTTP request.
    public func recordRequest(method: String, route: String, status: Int, seconds: Double) {
        requestShards.local.counts.withLock { state in
            state.requests[RequestKey(method: method, route: route, status: status), default: 0] += 1
            state.latencySum += seconds
            state.latencyCount += 1
            for (index, bound) in Self.latencyBuckets.enumerated() where seconds <= bound {
                state.bucketCounts[index] += 1
                break
            }
        }
    }

    /// Adds `amount` to a named counter (created on first use).
    public func increment(_ name: String, by amount: Double = 1, help: String = "") {
        state.withLock { state in
            let current = state.counters[name]
            state.counters[name] = (current?.help ?? help, (current?.value ?? 0) + amount)
        }
    }

    /// Registers a gauge whose value is read at scrape time (queue depth, pool size).
    public func registerGauge(_ name: String, help: String, _ read: @escaping @Sendable () -> Double) {
        gauges.withLock { $0.append((name, help, read)) }
    }

    public func counterValue(_ name: String) -> Double { state.withLock { $0.counters[name]?.value ?? 0 } }

    /// Renders every metric in the Prometheus text exposition format.
    public func render() -> String {
        var snapshot = state.withLock { $0 }
        for shard in requestShards.all {
            shard.counts.withLock { counts in
                snapshot.requests.merge(counts.requests, uniquingKeysWith: +)
                for index in counts.bucketCounts.indices { snapshot.bucketCounts[index] += counts.bucketCounts[index] }
                snapshot.latencySum += counts.latencySum
                snapshot.latencyCount += counts.latencyCount
            }
        }
        var out = "# HELP http_requests_total HTTP requests answered, by route and status.\n# TYPE http_requests_total counter\n"
        let keys = snapshot.requests.keys.sorted { ($0.route, $0.method, $0.status) < ($1.route, $1.method, $1.status) }
        for key in keys {
            out += "http_requests_total{method=\"\(key.method)\",route=\"\(escape(key.route))\",status=\"\(key.status)\"} \(snapshot.requests[key]!)\n"
        }
        out += "# HELP http_request_duration_seconds Time to answer a request.\n# TYPE http_request_duration_seconds histogram\n"
        var cumulative = 0
        for (index, bound) in Self.latencyBuckets.enumerated() {
            cumulative += snapshot.bucketCounts[index]
            out += "http_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        out += "http_request_duration_seconds_bucket{le=\"+Inf\"} \(snapshot.latencyCount)\n"
        out += "http_request_duration_seconds_sum \(snapshot.latencySum)\n"
        out += "http_request_duration_seconds_count \(snapshot.latencyCount)\n"
        for name in snapshot.counters.keys.sorted() {
            let counter = snapshot.counters[name]!
            out += "# HELP \(name) \(counter.help)\n# TYPE \(name) counter\n\(name) \(format(counter.value))\n"
        }
        for gauge in gauges.withLock({ $0 }) {
            out += "# HELP \(gauge.name) \(gauge.help)\n# TYPE \(gauge.name) gauge\n\(gauge.name) \(format(gauge.read()))\n"
        }
        return out
    }

    private func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
