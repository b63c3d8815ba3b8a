import Core
import Persistence
import Synchronization

/// `AttemptLimiter` counted in the database (the kernel's `rate_limits` table), so every api-server over one database
/// enforces one limit (DESIGN §3.3, §3.4): five wrong passwords through server A and server B answers 429 as well.
/// Keys are prefixed with the limiter's `name`. Expired counters are pruned at most once a minute per process.
public final class DatabaseRateLimiter: AttemptLimiter {
    let db: DatabasePool
    let name: String
    let maxFailures: Int
    let window: Double
    let clock: any WallClock
    let logger: Logger
    private let lastPrune = Atomic<Int64>(0)

    public init(db: DatabasePool, name: String, maxFailures: Int, window: Double, clock: any WallClock, logger: Logger) {
        self.db = db
        self.name = name
        self.maxFailures = max(1, maxFailures)
        self.window = max(1, window)
        self.clock = clock
        self.logger = logger
    }

    private var now: Double { clock.now().timeIntervalSince1970 }

    private func key(_ key: String) -> String { name + ":" + key }

    /// Counts the attempt for every key in one transaction; 429 `RATE_LIMITED` with `Retry-After` when any key is past
    /// its limit (the attempt counts all the same: a blocked key stays blocked to the end of its window).
    public func attempt(_ keys: [String]) throws {
        let now = now
        let ends = now + window
        let prune = Int64(now) / 60 != lastPrune.load(ordering: .relaxed)
        if prune { lastPrune.store(Int64(now) / 60, ordering: .relaxed) }
        let blocked: Double? = try db.write { tx in
            let store = RateLimitStore(db: tx)
            if prune { try store.prune(now: now) }
            var blocked: Double?
            for key in keys {
                let counted = try store.count(self.key(key), now: now, windowEnds: ends)
                if counted.failures > maxFailures { blocked = max(blocked ?? 0, counted.windowEnds - now) }
            }
            return blocked
        }
        if let blocked { throw APIError.rateLimited(retryAfter: max(1, Int(blocked.rounded(.up)))) }
    }

    public func forgive(_ keys: [String]) {
        update { store in for key in keys { try store.forgive(self.key(key)) } }
    }

    public func reset(_ key: String) {
        update { store in try store.reset(self.key(key)) }
    }

    /// A forgiving write: when the database cannot take it, the counter stays (the safe side) and the log says so.
    private func update(_ body: (RateLimitStore) throws -> Void) {
        do {
            try db.write { tx in try body(RateLimitStore(db: tx)) }
        } catch {
            logger.warning("rate limit counter not updated", ["limiter": .string(name), "error": .string(String(describing: error))])
        }
    }
}
