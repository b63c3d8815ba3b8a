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
        var outcome: DeferredOutcome?
        var waiters: [@Sendable (DeferredOutcome) -> Void] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Finishes with `result` (a thrown error is mapped by whoever answers, as a handler's would be).
    public func complete(_ result: Result<Response, any Error>) {
        complete(DeferredOutcome { result })
    }

    public func complete(_ response: Response) { complete(.success(response)) }

    /// Finishes with a result that `make` builds where it is consumed: on the event loop that answers, not on the
    /// completing thread (a group committer completes many requests and should not render their answers).
    public func complete(lazily make: @escaping @Sendable () -> Result<Response, any Error>) {
        complete(DeferredOutcome(make))
    }

    private func complete(_ outcome: DeferredOutcome) {
        let waiters = state.withLock { state -> [@Sendable (DeferredOutcome) -> Void] in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter(outcome) }
    }

    /// Runs `callback` with the result once there is one (at once, on this thread, when there already is).
    public func whenComplete(_ callback: @escaping @Sendable (Result<Response, any Error>) -> Void) {
        whenOutcome { callback($0.result) }
    }

    /// Runs `callback` with the outcome once there is one, not yet evaluated: the event loop posts it to itself and
    /// evaluates it there (`DeferredOutcome.result`).
    public func whenOutcome(_ callback: @escaping @Sendable (DeferredOutcome) -> Void) {
        let done = state.withLock { state -> DeferredOutcome? in
            if state.outcome == nil { state.waiters.append(callback) }
            return state.outcome
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
    /// and access log run when the answer is known), evaluated where the result is consumed.
    public func map(_ transform: @escaping @Sendable (Result<Response, any Error>) -> Response) -> DeferredResponse {
        let mapped = DeferredResponse()
        whenOutcome { outcome in mapped.complete(lazily: { .success(transform(outcome.result)) }) }
        return mapped
    }
}

/// A deferred response's result, built once, by whichever thread asks for it first (the answering event loop).
public final class DeferredOutcome: Sendable {
    private let make: @Sendable () -> Result<Response, any Error>
    private let built = Mutex<Result<Response, any Error>?>(nil)

    init(_ make: @escaping @Sendable () -> Result<Response, any Error>) { self.make = make }

    /// The result; `make` runs on the first call only (a transform with side effects, the access log line, runs once).
    public var result: Result<Response, any Error> {
        built.withLock { built in
            if let built { return built }
            let result = make()
            built = result
            return result
        }
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
