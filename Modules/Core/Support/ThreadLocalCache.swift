import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A read-mostly cache for the request path: one table per thread (no shared lock on a hit) backed by one shared table
/// that a thread consults on a miss (so what a worker read serves an event loop too), entries valid for at most `ttl`
/// seconds, and one atomic generation that `invalidateAll()` bumps so every thread drops what it holds (events that
/// change the cached facts call it after their commit).
///
/// ```swift
/// let generation = cache.generation            // before reading the source
/// if let hit = cache.value(for: key) { return hit }
/// let value = try read()
/// cache.store(value, for: key, generation: generation)   // ignored if an invalidation happened meanwhile
/// ```
///
/// `value(for:)` and `store` are inlinable so that callers in other modules get them specialized for their key and
/// value types (unspecialized, every lookup paid for generic metadata).
public final class ThreadLocalCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    @usableFromInline
    final class Table: @unchecked Sendable {
        // Touched only by its own thread (reached through `PerThread.local`).
        @usableFromInline var entries: [Key: (value: Value, storedAt: Double, generation: UInt64)] = [:]
    }

    @usableFromInline let tables = PerThread { Table() }
    /// Every thread's stores, consulted on a thread's miss.
    @usableFromInline let shared = Mutex<[Key: (value: Value, storedAt: Double, generation: UInt64)]>([:])
    @usableFromInline let current = Atomic<UInt64>(0)
    @usableFromInline let ttl: Double
    @usableFromInline let capacity: Int
    @usableFromInline let now: @Sendable () -> Double

    /// `ttl` in seconds (0 disables caching); `now` is monotonic seconds (injectable for tests).
    public init(ttl: Double, capacity: Int = 10_000, now: @escaping @Sendable () -> Double = ScopedCache<Int, Int>.monotonicNow) {
        self.ttl = ttl
        self.capacity = capacity
        self.now = now
    }

    /// The generation now; read it before reading the source, pass it to `store`.
    public var generation: UInt64 { current.load(ordering: .acquiring) }

    @inlinable
    public func value(for key: Key) -> Value? {
        guard ttl > 0, !FreshReads.areRequested else { return nil }
        let table = tables.local
        if let entry = table.entries[key] {
            if entry.generation == current.load(ordering: .acquiring), now() - entry.storedAt < ttl { return entry.value }
            table.entries[key] = nil
        }
        // A miss here may be another thread's hit: what any thread stored is shared (under a lock, on misses only), so
        // an event loop learns what a worker read for it (`EventLoopThread`: loops never read the network themselves).
        guard let entry = shared.withLock({ $0[key] }), entry.generation == current.load(ordering: .acquiring),
              now() - entry.storedAt < ttl else { return nil }
        if table.entries.count >= capacity { table.entries.removeAll(keepingCapacity: true) }
        table.entries[key] = entry
        return entry.value
    }

    @inlinable
    public func store(_ value: Value, for key: Key, generation: UInt64) {
        guard ttl > 0, generation == current.load(ordering: .acquiring) else { return }
        let table = tables.local
        if table.entries.count >= capacity { table.entries.removeAll(keepingCapacity: true) }
        let entry = (value: value, storedAt: now(), generation: generation)
        table.entries[key] = entry
        shared.withLock { shared in
            if shared.count >= capacity { shared.removeAll(keepingCapacity: true) }
            shared[key] = entry
        }
    }

    /// Every thread's entries become stale at once.
    public func invalidateAll() {
        current.wrappingAdd(1, ordering: .acquiringAndReleasing)
    }
}
