/// Marks the HTTP server's event-loop threads, so work that would wait on the network (a PostgreSQL round trip) can
/// refuse to run there (DESIGN §3.4: the event loop never waits on the network).
///
/// A request handler runs on the loop optimistically when it can usually answer from memory (a token and a project from
/// their caches); when it needs the database after all, the database refuses (`MustRunOffLoop`) and records the refusal
/// here, and the server runs the request again on a worker. The refusal is recorded besides being thrown, so a handler
/// that swallows errors (`try?`, a catch-all) cannot turn it into a wrong answer.
public enum EventLoopThread {
    private static let loop = ThreadFlag()
    private static let refused = ThreadFlag()

    /// Called once by each event-loop thread as it starts.
    public static func markCurrent() { loop.set(true) }

    /// Whether the calling thread is an event loop.
    public static var isCurrent: Bool { loop.isSet }

    /// Records that work on this loop thread needed to wait (the request must run again off the loop).
    public static func recordRefusal() { refused.set(true) }

    /// Runs `body` and says whether anything in it was refused for waiting on the network (on a loop thread).
    public static func watchingRefusals<T>(_ body: () throws -> T) rethrows -> (T, refused: Bool) {
        refused.set(false)
        let result = try body()
        let wasRefused = refused.isSet
        refused.set(false)
        return (result, wasRefused)
    }
}

/// Thrown by work that would wait on the network when called on an event-loop thread (see `EventLoopThread`).
public struct MustRunOffLoop: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "a network wait on an event-loop thread (the request runs again on a worker)" }
}
