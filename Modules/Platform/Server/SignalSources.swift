import Dispatch
import Foundation

/// Dispatch signal sources that are registered before `make` returns.
///
/// A signal's default action is replaced by `SIG_IGN` at once, but Dispatch registers a source asynchronously, on
/// another thread: a signal sent in that gap was ignored and lost. `api-server` printed `listening on` in the gap, so
/// a SIGTERM sent right after it was lost about one time in six, and the server ran on. `make` waits for every
/// source's registration handler (at most 5 s) before it returns.
enum SignalSources {
    /// Sources for `numbers` that call `handler` with the signal's number on a global queue; cancel them when done.
    static func make(_ numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
        let registered = DispatchGroup()
        let sources = numbers.map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            registered.enter()
            source.setRegistrationHandler { registered.leave() }
            source.resume()
            return source
        }
        _ = registered.wait(timeout: .now() + 5)
        return sources
    }
}
