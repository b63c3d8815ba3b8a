import Dispatch
import Synchronization

/// A response finished later, from any thread: a handler that would otherwise wait (for a group commit, say) returns
/// `Response.deferred(pending)` and completes `pending` when its work is done. The server holds no thread meanwhile:
/// the connection waits (reading paused, timeouts suspended as for any request in a handler) and the answer is posted
/// back to its event loop. Completing twice keeps the first result.
///
/// ```swift
/// let pending = DeferredResponse()
/// try service.ingest(points) { result in pending.complete(result.map { .json($0, status: 202) }) }
/// return .deferred(pending)
/// ```
public final class DeferredResponse: Sendable {
    private struct State {
        var result: Result<Response, any Error>?
        var waiters: [@Sendable (Result<Response, any Error>) -> Void] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Finishes with `result` (a thrown error is mapped by whoever answers, as a handler's would be).
    public func complete(_ result: Result<Response, any Error>) {
        let waiters = state.withLock { state -> [@Sendable (Result<Response, any Error>) -> Void] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter(result) }
    }

    public func complete(_ response: Response) { complete(.success(response)) }

    /// Runs `callback` with the result once there is one (at once, on this thread, when there already is).
    public func whenComplete(_ callback: @escaping @Sendable (Result<Response, any Error>) -> Void) {
        let done = state.withLock { state -> Result<Response, any Error>? in
            if state.result == nil { state.waiters.append(callback) }
            return state.result
        }
        if let done { callback(done) }
    }

    /// Blocks the calling thread until the result is known (in-process callers and tests; never on an event loop).
    public func wait() -> Result<Response, any Error> {
        let done = Mutex<Result<Response, any Error>?>(nil)
        let signal = DispatchSemaphore(value: 0)
        whenComplete { result in
            done.withLock { $0 = result }
            signal.signal()
        }
        signal.wait()
        return done.withLock { $0 }!
    }

    /// A deferred response completed with `transform` of this one's result (the responder's error mapping, request id
    /// and access log run when the answer is known).
    public func map(_ transform: @escaping @Sendable (Result<Response, any Error>) -> Response) -> DeferredResponse {
        let mapped = DeferredResponse()
        whenComplete { mapped.complete(.success(transform($0))) }
        return mapped
    }
}

extension Response {
    /// A response that `pending` will supply later (see `DeferredResponse`).
    public static func deferred(_ pending: DeferredResponse) -> Response {
        var response = Response(status: 202)
        response.pending = pending
        return response
    }
}
