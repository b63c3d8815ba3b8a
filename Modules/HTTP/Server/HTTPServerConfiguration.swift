/// Everything the server needs to know (the `server.*` configuration keys), with their defaults.
public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (`start()` returns it).
    public var port = 8080
    public var limits = HTTPLimits()
    /// Seconds a request head may take to arrive: from accept for the first request (a connection that stays silent is
    /// closed after this, not after the idle timeout), from its first byte for the next ones on a keep-alive connection.
    /// Over TLS the handshake counts in the first request's time.
    public var headerTimeout: Double = 10
    /// Seconds a request body may take to arrive, from the end of its head (slow-upload defence).
    public var bodyTimeout: Double = 60
    /// Seconds an idle keep-alive connection (or a stalled body or write) stays open.
    public var idleTimeout: Double = 60
    /// Seconds a request may wait for its handler's answer (a deferred one included) before the server answers 503
    /// `UNAVAILABLE` and closes the connection; the handler's late answer is dropped (0: no limit). A bound, not a
    /// budget: no connection waits forever on an answer that never comes. The handler itself is not stopped: a
    /// non-idempotent request may still take effect after its 503, and its late answer still gets its own access-log
    /// line; graceful shutdown still waits (up to its grace period) for handlers that have not returned.
    public var responseTimeout: Double = 300
    /// Connections beyond this are closed as soon as they are accepted.
    public var maxConnections = 10_000
    /// Open connections allowed from one client address (IP, any port); one more is closed as soon as it is accepted.
    public var maxConnectionsPerAddress = 1_024
    /// Event loops (epoll threads that own connections and run non-blocking handlers); 0 = one per core.
    public var eventLoops = 0
    /// Threads of the pool that runs handlers that may block (`HTTPResponder.mayBlock`).
    public var workerThreads = 32
    /// Serve HTTPS with this certificate and key (`server.tls.*`); nil serves plain HTTP.
    public var tls: TLSContext?

    public init() {}
}
