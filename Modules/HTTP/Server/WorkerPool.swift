import Foundation

/// A bounded pool of threads that run handlers. Handlers block (SQLite), so they stay off the event loop
/// and off Swift's cooperative pool. Threads start on demand — when a job is queued and no thread is free —
/// up to `maxThreads`, and then stay: an idle server (most requests never leave their event loop) keeps
/// none of their stacks, and a busy one reaches the same fixed pool as before.
final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false
    private var running = 0
    private var exited = 0
    /// Threads waiting for a job (free to take the next one).
    private var waiting = 0
    private var threads: [Thread] = []
    private let maxThreads: Int
    private let name: String

    init(threads count: Int, name: String = "http-worker") {
        maxThreads = max(1, count)
        self.name = name
    }

    /// Threads started so far (at most `maxThreads`), and those of them waiting for a job.
    var threadCounts: (started: Int, idle: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (threads.count, waiting)
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(job)
        // Every queued job that no waiting thread will take gets a new thread, while there is room.
        if queue.count - head > waiting, threads.count < maxThreads, !stopping {
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(threads.count)"
            thread.stackSize = 1 << 20
            threads.append(thread)
            thread.start()
        }
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
            while head == queue.count, !stopping {
                waiting += 1
                condition.wait()
                waiting -= 1
            }
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
