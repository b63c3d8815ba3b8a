import Dispatch
import Foundation

/// Calls `beat` on a thread of its own every `interval` seconds until `stop()`: the renewal of a lease while the
/// work it covers runs. `stop()` waits for a beat in progress, so none runs after it returns.
///
/// ```swift
/// let heartbeat = Heartbeat(every: 10) { try? store.renew(…) }
/// defer { heartbeat.stop() }
/// ```
public final class Heartbeat: Sendable {
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    public init(every interval: Double, _ beat: @escaping @Sendable () -> Void) {
        let interval = max(0.05, interval)
        let stopped = stopped
        let finished = finished
        let thread = Thread {
            while stopped.wait(timeout: .now() + interval) == .timedOut { beat() }
            finished.signal()
        }
        thread.name = "heartbeat"
        thread.start()
    }

    /// Ends the beats; returns after the last one (call once).
    public func stop() {
        stopped.signal()
        finished.wait()
    }
}
