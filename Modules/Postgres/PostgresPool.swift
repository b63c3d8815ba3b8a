import Dispatch
import Glibc
import Network
import Synchronization

/// A thread-safe pool of at most `size` connections. A connection is lent to one closure at a time; a broken one is
/// dropped, one idle for long is checked before reuse, and new connections after failures are attempted with
/// exponential backoff (so a restarting server is not hammered, and callers get `connectionLost` at once rather
/// than a hang).
///
/// ```swift
/// let pool = PostgresPool(configuration: try PostgresConfiguration(url: url), size: 16)
/// let rows = try pool.query("SELECT name FROM items WHERE owner = $1", [.int(org)]).rows
/// try pool.transaction { tx in try tx.execute("INSERT INTO t VALUES ($1)", [.int(1)]) }
/// ```
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let size: Int
    /// How long `withConnection` waits for a free connection (and for reconnect attempts) before throwing.
    public let acquireTimeout: Double
    /// An idle connection older than this is pinged before it is lent.
    public let healthCheckAfterIdle: Double
    /// Applied to each new connection's `defaultStatementTimeout`.
    public let statementTimeout: Double?

    private final class Entry: @unchecked Sendable {
        let connection: PostgresConnection
        var lastUsed: Deadline
        init(_ connection: PostgresConnection) {
            self.connection = connection
            lastUsed = .now
        }
    }

    private struct State {
        var idle: [Entry] = []
        var open = 0
        var closed = false
        var consecutiveFailures = 0
        var nextAttempt = Deadline(nanoseconds: 0)
    }

    private let state = Mutex(State())
    private let slots: DispatchSemaphore

    public init(configuration: PostgresConfiguration, size: Int = 16, acquireTimeout: Double = 10, healthCheckAfterIdle: Double = 30,
                statementTimeout: Double? = nil) {
        precondition(size > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.size = size
        self.acquireTimeout = acquireTimeout
        self.healthCheckAfterIdle = healthCheckAfterIdle
        self.statementTimeout = statementTimeout
        slots = DispatchSemaphore(value: size)
    }

    deinit { close() }

    /// Open and idle connection counts.
    public var statistics: (open: Int, idle: Int) { state.withLock { ($0.open, $0.idle.count) } }

    /// Lends a connection to `body`. A connection `body` leaves broken (or inside a transaction) is closed, not reused.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let entry = try acquire()
        defer { release(entry) }
        return try body(entry.connection)
    }

    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Double? = nil) throws -> PostgresResult {
        try withConnection { connection in try connection.query(sql, parameters, timeout: timeout) }
    }

    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Double? = nil) throws -> Int {
        try withConnection { connection in try connection.execute(sql, parameters, timeout: timeout) }
    }

    /// Runs `body` in a transaction on a pooled connection; serialization failures and deadlocks (which roll the
    /// transaction back) run it again, up to `retries` more times.
    public func transaction<T>(isolation: PostgresConnection.IsolationLevel? = nil, retries: Int = 3,
                               _ body: (PostgresConnection) throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                return try withConnection { connection in try connection.transaction(isolation: isolation, body) }
            } catch let error as PostgresError where error.isRetryable && attempt < retries {
                attempt += 1
                usleep(UInt32(1000 * (1 << min(attempt, 6))))
            }
        }
    }

    /// Closes idle connections and refuses new loans; connections on loan close when returned.
    public func close() {
        let idle = state.withLock { state -> [Entry] in
            state.closed = true
            defer { state.idle.removeAll() }
            state.open -= state.idle.count
            return state.idle
        }
        idle.forEach { $0.connection.close() }
    }

    // MARK: Lending

    private func acquire() throws -> Entry {
        let deadline = Deadline.after(seconds: acquireTimeout)
        guard slots.wait(timeout: .now() + .nanoseconds(Int(min(acquireTimeout, 1e6) * 1e9))) == .success else {
            throw PostgresError(.poolTimeout, "no PostgreSQL connection became free within \(acquireTimeout) s (pool size \(size))")
        }
        do {
            return try takeOrConnect(deadline: deadline)
        } catch {
            slots.signal()
            throw error
        }
    }

    private func takeOrConnect(deadline: Deadline) throws -> Entry {
        while true {
            let taken = try state.withLock { state throws(PostgresError) -> Entry? in
                guard !state.closed else { throw PostgresError(.connectionLost, "the PostgreSQL pool is closed") }
                return state.idle.popLast()
            }
            guard let entry = taken else { break }
            if isHealthy(entry) {
                return entry
            }
            entry.connection.close()
            state.withLock { $0.open -= 1 }
        }
        return try connect(deadline: deadline)
    }

    private func isHealthy(_ entry: Entry) -> Bool {
        guard entry.connection.checkIdle() else { return false }
        guard entry.lastUsed.remainingSecondsSince >= healthCheckAfterIdle else { return true }
        do {
            try entry.connection.ping()
            return true
        } catch {
            return false
        }
    }

    /// A new connection. A failure to reach the server (refused, dropped, "starting up") is not waited out: the caller
    /// gets `connectionLost` at once (HTTP: 503 with `Retry-After`), and the next attempt by any thread is held back
    /// with exponential backoff, during which callers fail at once too — so while PostgreSQL restarts no request holds
    /// a worker for the acquire timeout, and the first attempt after the backoff reconnects. Authentication, TLS and
    /// other definite refusals are thrown as they are.
    private func connect(deadline: Deadline) throws -> Entry {
        let wait = state.withLock { $0.nextAttempt.remainingSeconds }
        if wait > 0 {
            throw PostgresError(.connectionLost, "PostgreSQL at \(configuration.host):\(configuration.port) is unavailable "
                + "(next reconnect attempt in \(Int((wait * 1000).rounded())) ms)")
        }
        do {
            var configuration = self.configuration
            configuration.connectTimeout = max(0.1, min(configuration.connectTimeout, deadline.remainingSeconds))
            let connection = try PostgresConnection.connect(configuration)
            connection.defaultStatementTimeout = statementTimeout
            state.withLock { state in
                state.open += 1
                state.consecutiveFailures = 0
                state.nextAttempt = Deadline(nanoseconds: 0)
            }
            return Entry(connection)
        } catch {
            // Unreachable or lost, or "the database system is starting up" (57P03): a restart in progress.
            if error.isConnectionLost || error.sqlState == "57P03" { _ = backOff() }
            throw error
        }
    }

    /// Notes a failed attempt; returns the delay before the next one (50 ms doubling up to 2 s).
    private func backOff() -> Double {
        state.withLock { state -> Double in
            state.consecutiveFailures += 1
            let delay = min(0.05 * Double(1 << min(state.consecutiveFailures - 1, 8)), 2.0)
            state.nextAttempt = .after(seconds: delay)
            return delay
        }
    }

    private func release(_ entry: Entry) {
        let connection = entry.connection
        let reusable = !connection.isBroken && connection.transactionStatus == .idle
        let keep = state.withLock { state -> Bool in
            guard reusable, !state.closed else {
                state.open -= 1
                return false
            }
            entry.lastUsed = .now
            state.idle.append(entry)
            return true
        }
        if !keep { connection.close() }
        slots.signal()
    }
}

extension Deadline {
    /// Seconds since this point (for a `Deadline` used as a timestamp).
    var remainingSecondsSince: Double {
        let now = Deadline.now.nanoseconds
        return now > nanoseconds ? Double(now - nanoseconds) / 1e9 : 0
    }
}
