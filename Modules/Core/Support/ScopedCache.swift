import Foundation
import Synchronization

/// An in-process cache with a TTL and event-driven invalidation by scope (DESIGN §4: "cached briefly
/// and refreshed whenever something changes"). Each entry belongs to a scope (an organization, a
/// project); `invalidate(scope:)` bumps the scope's generation so every older entry of it is ignored.
/// A client never reads its own write stale: writers invalidate on commit, before they answer.
public final class ScopedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        let expires: Double
        let scope: Int64
        let generation: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var generations: [Int64: UInt64] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    private let ttl: Double
    private let capacity: Int
    private let now: @Sendable () -> Double

    /// `ttl` in seconds (0 disables caching); `now` is monotonic seconds (injectable for tests).
    public init(ttl: Double, capacity: Int = 10_000, now: @escaping @Sendable () -> Double = ScopedCache.monotonicNow) {
        self.ttl = ttl
        self.capacity = capacity
        self.now = now
    }

    public func value(for key: Key) -> Value? {
        guard ttl > 0, !FreshReads.areRequested else { return nil }
        let time = now()
        return state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard entry.expires > time, state.generations[entry.scope, default: 0] == entry.generation else {
                state.entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    /// The generation of `scope` now; pass it to `store` so a value computed before an invalidation
    /// is never stored as fresh.
    public func generation(of scope: Int64) -> UInt64 {
        state.withLock { $0.generations[scope, default: 0] }
    }

    public func store(_ value: Value, for key: Key, scope: Int64, generation: UInt64) {
        guard ttl > 0 else { return }
        let expires = now() + ttl
        state.withLock { state in
            guard state.generations[scope, default: 0] == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = Entry(value: value, expires: expires, scope: scope, generation: generation)
        }
    }

    /// Returns the cached value or computes, stores and returns it.
    public func value(for key: Key, scope: Int64, compute: () throws -> Value) rethrows -> Value {
        if let cached = value(for: key) { return cached }
        let generation = generation(of: scope)
        let value = try compute()
        store(value, for: key, scope: scope, generation: generation)
        return value
    }

    /// Forgets every entry of `scope`.
    public func invalidate(scope: Int64) {
        state.withLock { state in
            state.clock &+= 1
            state.generations[scope] = state.clock
        }
    }

    public func invalidateAll() {
        state.withLock { state in
            state.entries.removeAll()
            state.clock &+= 1
        }
    }

    @Sendable public static func monotonicNow() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
