import Core
import Synchronization
import Testing

@Suite struct ScopedCacheTests {
    final class FakeTime: Sendable {
        let seconds = Mutex(100.0)
        func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    }

    @Test func servesUntilTheTTLExpires() {
        let time = FakeTime()
        let cache = ScopedCache<String, Int>(ttl: 5, now: { time.seconds.withLock { $0 } })
        var computed = 0
        let first = cache.value(for: "k", scope: 1) { computed += 1; return 42 }
        let second = cache.value(for: "k", scope: 1) { computed += 1; return 43 }
        #expect(first == 42 && second == 42 && computed == 1)
        time.advance(6)
        #expect(cache.value(for: "k", scope: 1) { computed += 1; return 44 } == 44)
        #expect(computed == 2)
    }

    @Test func invalidatingAScopeDropsOnlyItsEntries() {
        let cache = ScopedCache<String, Int>(ttl: 60)
        cache.store(1, for: "a", scope: 1, generation: cache.generation(of: 1))
        cache.store(2, for: "b", scope: 2, generation: cache.generation(of: 2))
        cache.invalidate(scope: 1)
        #expect(cache.value(for: "a") == nil)
        #expect(cache.value(for: "b") == 2)
    }

    @Test func aValueComputedBeforeAnInvalidationIsNeverStored() {
        let cache = ScopedCache<String, Int>(ttl: 60)
        let generation = cache.generation(of: 7)
        cache.invalidate(scope: 7)   // a write committed while the value was being computed
        cache.store(1, for: "stale", scope: 7, generation: generation)
        #expect(cache.value(for: "stale") == nil)
    }

    @Test func zeroTTLDisablesCaching() {
        let cache = ScopedCache<String, Int>(ttl: 0)
        var computed = 0
        _ = cache.value(for: "k", scope: 1) { computed += 1; return 1 }
        _ = cache.value(for: "k", scope: 1) { computed += 1; return 1 }
        #expect(computed == 2)
    }
}
