import Foundation
import Synchronization

/// A limit on failed attempts per key in a fixed window (login attempts per address, wrong safe codes per device and per
/// token): `attempt` counts before the check it guards (429 `RATE_LIMITED` once a key is past its limit), `forgive` takes
/// the count back when the attempt succeeded.
public protocol AttemptLimiter: Sendable {
    func attempt(_ keys: [String]) throws
    func forgive(_ keys: [String])
    func reset(_ key: String)
}

/// Counts failures per key in a fixed window and blocks a key once it reaches `maxFailures`, in this process's memory
/// (the platform's services count in the database instead: `DatabaseRateLimiter`).
public final class RateLimiter: AttemptLimiter {
    private struct Entry { var failures: Int; var windowStart: Double }

    private let maxFailures: Int
    private let window: Double
    private let clock: any WallClock
    private let entries = Mutex<[String: Entry]>([:])

    public init(maxFailures: Int, window: Double, clock: any WallClock) {
        self.maxFailures = max(1, maxFailures)
        self.window = max(1, window)
        self.clock = clock
    }

    /// Seconds until `key` may try again, or nil when it may try now.
    public func retryAfter(_ key: String) -> Int? {
        let now = clock.now().timeIntervalSince1970
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            let remaining = entry.windowStart + window - now
            if remaining <= 0 {
                entries[key] = nil
                return nil
            }
            return entry.failures >= maxFailures ? Int(remaining.rounded(.up)) : nil
        }
    }

    /// Throws 429 `RATE_LIMITED` with `Retry-After` when any of `keys` is blocked.
    public func check(_ keys: [String]) throws(APIError) {
        for key in keys {
            if let seconds = retryAfter(key) { throw APIError.rateLimited(retryAfter: seconds) }
        }
    }

    /// Checks and counts an attempt in one step (429 when any key is blocked), so concurrent attempts cannot all
    /// pass the check before any failure is recorded. Call `forgive` when the attempt succeeds.
    public func attempt(_ keys: [String]) throws(APIError) {
        let now = clock.now().timeIntervalSince1970
        let blocked: Int? = entries.withLock { entries in
            for key in keys {
                if let entry = entries[key], entry.windowStart + window > now, entry.failures >= maxFailures {
                    return Int((entry.windowStart + window - now).rounded(.up))
                }
            }
            Self.count(keys, in: &entries, now: now, window: window)
            return nil
        }
        if let blocked { throw APIError.rateLimited(retryAfter: max(1, blocked)) }
    }

    /// Takes back one counted attempt of each key (the attempt succeeded).
    public func forgive(_ keys: [String]) {
        entries.withLock { entries in
            for key in keys {
                guard var entry = entries[key] else { continue }
                entry.failures -= 1
                entries[key] = entry.failures > 0 ? entry : nil
            }
        }
    }

    /// Counts a failure after the fact (for callers that check first and count only failures).
    public func recordFailure(_ keys: [String]) {
        let now = clock.now().timeIntervalSince1970
        entries.withLock { Self.count(keys, in: &$0, now: now, window: window) }
    }

    /// Counts one failure for each key (a new window when the last one has passed), then prunes.
    private static func count(_ keys: [String], in entries: inout [String: Entry], now: Double, window: Double) {
        for key in keys {
            if var entry = entries[key], entry.windowStart + window > now {
                entry.failures += 1
                entries[key] = entry
            } else {
                entries[key] = Entry(failures: 1, windowStart: now)
            }
        }
        prune(&entries, now: now, window: window)
    }

    /// Past 100 000 keys, drops those whose window has passed, so keys that only ever fail (random usernames)
    /// cannot grow the table without bound.
    private static func prune(_ entries: inout [String: Entry], now: Double, window: Double) {
        if entries.count > 100_000 {
            entries = entries.filter { $0.value.windowStart + window > now }
        }
    }

    /// Keys currently tracked (for tests).
    var trackedKeys: Int { entries.withLock { $0.count } }

    public func reset(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
