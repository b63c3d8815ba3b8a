import Dispatch
import Foundation
import Synchronization
import Testing
@testable import HTTP

@Suite struct WorkerPoolTests {
    /// No thread before the first job; concurrent blocking jobs each get a thread, up to the maximum; a free
    /// thread is reused instead of starting another.
    @Test func startsThreadsOnDemandUpToTheMaximum() {
        let pool = WorkerPool(threads: 3)
        #expect(pool.threadCounts.started == 0)

        let done = DispatchSemaphore(value: 0)
        pool.submit { done.signal() }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(pool.threadCounts.started == 1)
        // The one thread is free again: sequential jobs keep using it.
        for _ in 0..<20 {
            waitUntil { pool.threadCounts.idle == 1 }
            pool.submit { done.signal() }
            #expect(done.wait(timeout: .now() + 10) == .success)
        }
        #expect(pool.threadCounts.started == 1)

        // Five jobs that block until released: three run at once (the maximum), the other two wait their turn.
        let release = DispatchSemaphore(value: 0)
        let started = Atomic<Int>(0)
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<5 {
            pool.submit {
                started.add(1, ordering: .relaxed)
                release.wait()
                finished.signal()
            }
        }
        waitUntil { started.load(ordering: .relaxed) >= 3 }
        #expect(started.load(ordering: .relaxed) == 3)
        #expect(pool.threadCounts.started == 3)
        for _ in 0..<5 { release.signal() }
        for _ in 0..<5 { #expect(finished.wait(timeout: .now() + 10) == .success) }
        #expect(started.load(ordering: .relaxed) == 5)
        #expect(pool.threadCounts.started == 3)
        pool.stop(timeout: 5)
    }

    /// `stop` waits for threads started on demand, and an unused pool stops at once.
    @Test func stopsWithAndWithoutThreads() {
        let unused = WorkerPool(threads: 4)
        let start = Date()
        unused.stop(timeout: 5)
        #expect(Date().timeIntervalSince(start) < 1)
        #expect(unused.threadCounts.started == 0)

        let pool = WorkerPool(threads: 4)
        let ran = Atomic<Int>(0)
        let began = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        pool.submit {
            began.signal()
            gate.wait()
            ran.add(1, ordering: .relaxed)
        }
        #expect(began.wait(timeout: .now() + 10) == .success)
        gate.signal()
        pool.stop(timeout: 5)
        #expect(ran.load(ordering: .relaxed) == 1)
        // After stop, submitting starts nothing.
        let before = pool.threadCounts.started
        pool.submit { ran.add(1, ordering: .relaxed) }
        #expect(pool.threadCounts.started == before)
    }

    /// Polls `condition` every millisecond for up to 10 s.
    private func waitUntil(_ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while !condition(), Date() < deadline { usleep(1_000) }
    }
}
