@testable import Core
import Foundation
import Synchronization
import Testing
import TestSupport

/// `RateLimiter.attempt` counts an attempt before its outcome is known (login, bind), `forgive` gives it back.
@Suite struct RateLimiterAttemptTests {
    final class Outcomes: Sendable {
        let passed = Atomic<Int>(0)
        let limited = Atomic<Int>(0)
        let other = Mutex<[String]>([])
    }

    @Test func concurrentAttemptsCannotAllPassTheCheck() throws {
        for round in 0..<5 {
            let limiter = RateLimiter(maxFailures: 5, window: 60, clock: ManualClock(Date(timeIntervalSince1970: 1_000)))
            let keys = ["login:user:bob", "login:addr:10.0.0.\(round)"]
            let gate = DispatchSemaphore(value: 0)
            let finished = DispatchGroup()
            let outcomes = Outcomes()
            for _ in 0..<20 {
                finished.enter()
                Thread {
                    gate.wait()
                    do {
                        try limiter.attempt(keys)
                        outcomes.passed.add(1, ordering: .relaxed)
                    } catch let error as APIError {
                        if error.status == 429 && error.code == "RATE_LIMITED" {
                            outcomes.limited.add(1, ordering: .relaxed)
                        } else {
                            outcomes.other.withLock { $0.append("\(error)") }
                        }
                    } catch {
                        outcomes.other.withLock { $0.append("\(error)") }
                    }
                    finished.leave()
                }.start()
            }
            for _ in 0..<20 { gate.signal() }
            #expect(finished.wait(timeout: .now() + 30) == .success)
            #expect(outcomes.passed.load(ordering: .relaxed) == 5, "round \(round)")
            #expect(outcomes.limited.load(ordering: .relaxed) == 15, "round \(round)")
            #expect(outcomes.other.withLock { $0 }.isEmpty)
        }
    }

    @Test func forgiveGivesASucceededAttemptBack() throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_000))
        let limiter = RateLimiter(maxFailures: 3, window: 60, clock: clock)
        // Three successes in a row (each forgiven) never block.
        for _ in 0..<3 {
            try limiter.attempt(["k"])
            limiter.forgive(["k"])
        }
        #expect(limiter.retryAfter("k") == nil)
        // Two failures, then a success: the success does not count, so one more failure is still allowed.
        try limiter.attempt(["k"])
        try limiter.attempt(["k"])
        try limiter.attempt(["k"])
        limiter.forgive(["k"])
        try limiter.attempt(["k"])
        do {
            try limiter.attempt(["k"])
            Issue.record("expected 429 after three counted failures")
        } catch {
            #expect(error.status == 429)
            #expect(Int(error.headers.first { $0.0 == "Retry-After" }?.1 ?? "") == 60)
        }
        // A refused attempt is not counted, and forgiving a key never seen is a no-op.
        limiter.forgive(["never-seen"])
        #expect(limiter.retryAfter("never-seen") == nil)
        clock.advance(by: 61)
        try limiter.attempt(["k"])
    }

    @Test func aKeyBlockedByOneListBlocksTheAttemptWithoutCountingTheOthers() throws {
        let limiter = RateLimiter(maxFailures: 2, window: 60, clock: ManualClock(Date(timeIntervalSince1970: 1_000)))
        try limiter.attempt(["device:x", "token:1"])
        try limiter.attempt(["device:x", "token:1"])
        // token:2 is fresh but device:x is blocked: 429, and token:2 is not charged for it.
        #expect(throws: APIError.self) { try limiter.attempt(["device:x", "token:2"]) }
        try limiter.attempt(["device:y", "token:2"])
        try limiter.attempt(["device:z", "token:2"])
        #expect(throws: APIError.self) { try limiter.attempt(["device:w", "token:2"]) }
    }

    @Test func expiredKeysArePrunedOnceTheTableIsLarge() throws {
        // Attempts that never succeed (random usernames) must not grow the table forever.
        let clock = ManualClock(Date(timeIntervalSince1970: 1_000))
        let limiter = RateLimiter(maxFailures: 5, window: 60, clock: clock)
        for index in 0..<100_001 { try limiter.attempt(["login:user:guess-\(index)"]) }
        #expect(limiter.trackedKeys == 100_001)
        clock.advance(by: 61)
        try limiter.attempt(["login:user:later"])
        #expect(limiter.trackedKeys == 1)
    }
}
