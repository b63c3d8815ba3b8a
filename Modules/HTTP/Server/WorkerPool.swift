import Foundation

/// A fixed pool of threads that run handlers. Handlers block (SQLite), so they stay off the event loop
/// and off Swift's cooperative pool.
final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false
    private var running = 0
    private var exited = 0
    private var threads: [Thread] = []

    init(threads count: Int, name: String = "http-worker") {
        for index in 0..<max(1, count) {
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            threads.append(thread)
            thread.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Jobs queued or running.
    var pending: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count - head + running
    }

    /// Lets the threads finish their current job and exit; queued jobs that never started are dropped.
    /// Waits up to `timeout` seconds for the running jobs to finish and the threads to exit.
    func stop(timeout: Double = 0) {
        condition.lock()
        stopping = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while running > 0 || exited < threads.count, Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == queue.count, !stopping { condition.wait() }
            if stopping {
                exited += 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = queue[head]
            head += 1
            if head > 1024, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            running += 1
            condition.unlock()
            job()
            condition.lock()
            running -= 1
            if stopping { condition.broadcast() }
            condition.unlock()
        }
    }
}
