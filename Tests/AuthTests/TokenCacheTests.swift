import Auth
import Core
import Foundation
import Synchronization
import Platform
import Testing
import TestSupport

/// The token cache: a revocation in this process is seen at once; one by another process on the same database
/// (`admin-cli token revoke`) within one second.
@Suite struct TokenCacheTests {
    @Test func revocationInProcessIsImmediateEvenWhenCached() throws {
        let fixture = try AuthFixture()
        let issued = try fixture.auth.issueToken(username: "alice", TokenRequest())
        _ = try fixture.auth.authenticate(token: issued.secret)
        _ = try fixture.auth.authenticate(token: issued.secret)   // served from the cache
        try fixture.auth.revokeToken(id: issued.record.id)
        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: issued.secret) }
    }

    @Test func revocationByAnotherProcessStopsTheTokenWithinOneSecond() throws {
        let fixture = try AuthFixture()
        let issued = try fixture.auth.issueToken(username: "alice", TokenRequest())
        _ = try fixture.auth.authenticate(token: issued.secret)
        // Another process on the same file: its own context, bus and caches (as admin-cli has).
        let other = try PlatformContext.open(config: Config(["db.path": fixture.test.location]),
                                             clock: fixture.test.clock, logger: Logger(level: .error))
        defer { other.db.close() }
        let started = ScopedCache<Int, Int>.monotonicNow()
        try AuthModule(context: other).service.revokeToken(id: issued.record.id)
        var refusedAfter: Double?
        while ScopedCache<Int, Int>.monotonicNow() - started < 2 {
            do {
                _ = try fixture.auth.authenticate(token: issued.secret)
            } catch {
                refusedAfter = ScopedCache<Int, Int>.monotonicNow() - started
                break
            }
            usleep(20_000)
        }
        let seconds = try #require(refusedAfter, "the revoked token still worked after 2 s")
        #expect(seconds <= 1.05)
    }

    @Test func cacheEntriesExpireAndInvalidateAcrossThreads() {
        let time = Mutex<Double>(100)
        let cache = ThreadLocalCache<String, Int>(ttl: 1, now: { time.withLock { $0 } })
        cache.store(1, for: "a", generation: cache.generation)
        #expect(cache.value(for: "a") == 1)
        time.withLock { $0 += 0.99 }
        #expect(cache.value(for: "a") == 1)
        time.withLock { $0 += 0.02 }
        #expect(cache.value(for: "a") == nil)
        // A value read before an invalidation is never stored as fresh.
        let before = cache.generation
        cache.invalidateAll()
        cache.store(2, for: "a", generation: before)
        #expect(cache.value(for: "a") == nil)
        cache.store(3, for: "a", generation: cache.generation)
        let seen = Mutex<Int?>(nil)
        // Another thread has a table of its own, and on its miss finds what this one stored (an event loop learns what a
        // worker read for it).
        let thread = Thread { seen.withLock { $0 = cache.value(for: "a") } }
        thread.start()
        while !thread.isFinished { usleep(1_000) }
        #expect(seen.withLock { $0 } == 3)
        #expect(cache.value(for: "a") == 3)
        cache.invalidateAll()
        #expect(cache.value(for: "a") == nil)
    }
}
