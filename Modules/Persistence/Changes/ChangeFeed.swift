import Core
import Foundation
import Postgres
import Synchronization

/// Change announcements that cross processes: a write transaction announces what it changed (`Database.announce`) and
/// every process over the same PostgreSQL database hears it within milliseconds of the COMMIT, so its in-memory copies
/// (caches, the rule engine's memory) can drop what went stale.
///
/// On PostgreSQL the announcements of a transaction travel as `pg_notify` calls pipelined with its COMMIT (NOTIFY is
/// transactional: a rolled-back write announces nothing); each process that `start`s the feed holds one extra
/// connection that LISTENs and calls the handlers subscribed to each topic. When that connection is lost, and again when
/// it is back, every handler is called with a nil scope ("anything may have changed"), since announcements may have been
/// missed meanwhile.
///
/// On SQLite the feed is silent: the processes over one file are one server and its tools, and each module's in-process
/// invalidation (on commit) and TTLs serve there, as before.
///
/// ```swift
/// db.changes.subscribe("projects") { organizationID in cache.invalidateAll() }   // any process
/// try pool.write { tx in …; tx.announce("projects", scope: project.organizationID) }
/// ```
public final class ChangeFeed: Sendable {
    /// The NOTIFY channel every announcement uses.
    public static let channel = "iot_changes"
    /// Largest NOTIFY payload sent (PostgreSQL's limit is 8000 bytes).
    static let maxPayload = 7_000

    private let settings: PostgresConfiguration?
    private let handlers = Mutex<[String: [@Sendable (Int64?) -> Void]]>([:])
    private let state = Mutex(State())
    private let logger: Mutex<Logger?> = Mutex(nil)

    struct State {
        /// Backend process ids of this process's own write connections: their announcements were applied here on commit.
        var ownBackends: Set<Int32> = []
        var started = false
        var stopped = false
        var listening = false
        var received = 0
    }

    init(postgres settings: PostgresConfiguration?) {
        self.settings = settings
    }

    /// Whether announcements are carried at all (PostgreSQL).
    public var isShared: Bool { settings != nil }

    /// True while the listening connection is up: announcements of other processes are being heard.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Announcements received so far (tests, metrics).
    public var receivedCount: Int { state.withLock { $0.received } }

    /// Calls `handler` with the scope of every announcement of `topic` (nil: anything of the topic may have changed), on
    /// the feed's thread. Handlers must be quick and must not use the database.
    public func subscribe(_ topic: String, _ handler: @escaping @Sendable (_ scope: Int64?) -> Void) {
        handlers.withLock { $0[topic, default: []].append(handler) }
    }

    /// Starts hearing other processes' announcements (PostgreSQL; a no-op on SQLite or when already started). Servers and
    /// schedulers call it; short-lived tools need not.
    public func start(logger: Logger? = nil) {
        guard let settings else { return }
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started && !state.stopped
        }
        guard first else { return }
        self.logger.withLock { $0 = logger }
        let thread = Thread { [self] in listen(settings) }
        thread.name = "change-feed"
        thread.start()
    }

    /// Stops listening (the thread ends within about half a second).
    public func stop() {
        state.withLock { $0.stopped = true }
    }

    /// Waits up to `timeout` seconds until the feed listens (tests, and servers that want cross-process truth before
    /// they answer). True when it does.
    public func waitUntilListening(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !isListening {
            if Date() >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    /// Records that `processID` is a backend of this process's writes (its announcements need not be heard back).
    func noteOwnBackend(_ processID: Int32) {
        state.withLock { state in
            if state.ownBackends.count > 4_096 { state.ownBackends = [] }
            state.ownBackends.insert(processID)
        }
    }

    // MARK: - Delivery

    /// Calls the handlers of each announcement of a payload (`topic` or `topic scope`, one per line).
    func deliver(payload: String) {
        var announcements: [(String, Int64?)] = []
        for line in payload.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard let topic = parts.first else { continue }
            announcements.append((String(topic), parts.count > 1 ? Int64(parts[1]) : nil))
        }
        let table = handlers.withLock { $0 }
        for (topic, scope) in announcements {
            for handler in table[topic] ?? [] { handler(scope) }
        }
    }

    /// Tells every handler that anything may have changed (announcements may have been missed).
    func deliverToAll() {
        for handler in handlers.withLock({ $0.values.flatMap { $0 } }) { handler(nil) }
    }

    /// The NOTIFY payloads for a transaction's announcements: deduplicated, one per line, split below the size limit.
    static func payloads(_ announcements: [Announcement]) -> [String] {
        var seen = Set<Announcement>()
        var payloads: [String] = []
        var current = ""
        for announcement in announcements where seen.insert(announcement).inserted {
            let line = announcement.scope.map { "\(announcement.topic) \($0)" } ?? announcement.topic
            if !current.isEmpty, current.utf8.count + line.utf8.count + 1 > maxPayload {
                payloads.append(current)
                current = ""
            }
            current += current.isEmpty ? line : "\n" + line
        }
        if !current.isEmpty { payloads.append(current) }
        return payloads
    }

    // MARK: - Listening

    private var stopped: Bool { state.withLock { $0.stopped } }

    private func listen(_ settings: PostgresConfiguration) {
        var backoff = 0.05
        while !stopped {
            do {
                let connection = try PostgresConnection.connect(settings)
                defer { connection.close() }
                try connection.listen(Self.channel)
                state.withLock { $0.listening = true }
                // Whatever was announced while no one listened is unknown: start over.
                deliverToAll()
                backoff = 0.05
                while !stopped {
                    let notifications = try connection.waitForNotifications(timeout: 0.5)
                    if notifications.isEmpty { continue }
                    let own = state.withLock { state -> Set<Int32> in
                        state.received += notifications.count
                        return state.ownBackends
                    }
                    // This process applied its own changes on commit (each module's `onCommit`): only others' are news.
                    for notification in notifications where notification.channel == Self.channel && !own.contains(notification.processID) {
                        deliver(payload: notification.payload)
                    }
                }
                state.withLock { $0.listening = false }
            } catch {
                let wasListening = state.withLock { state -> Bool in
                    defer { state.listening = false }
                    return state.listening
                }
                if wasListening {
                    logger.withLock { $0 }?.warning("change feed lost its connection; caches start over", ["error": .string(String(describing: error))])
                    deliverToAll()
                }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(0.5, backoff * 2)
            }
        }
    }
}

/// One thing a transaction changed: a topic (`projects`, `devices`, …) and the id it concerns, or nil for the whole topic.
public struct Announcement: Hashable, Sendable {
    public let topic: String
    public let scope: Int64?

    public init(_ topic: String, scope: Int64? = nil) {
        self.topic = topic
        self.scope = scope
    }
}
