import Core
import Dispatch
import Foundation
import Persistence
import Platform
import Synchronization

/// Delivers the outbox (run by the scheduler, never by the api-server): claims due messages under a lease, sends
/// each through its channel's transport outside any transaction, and records the outcome. A failure is retried with
/// exponential backoff (`retry_base` × 1, 2, 4 …) up to `max_attempts`, then `failed` with the last error; past
/// `max_per_receiver_per_hour` sent messages a receiver's next ones are `suppressed`. Two schedulers never hold one
/// message at once (claimed `FOR UPDATE SKIP LOCKED` on PostgreSQL). A message's lease is short (`scheduler.lease`, 30 s)
/// and renewed every third of it while it is being sent, so a slow receiver keeps its message, and a scheduler killed
/// mid-send leaves it to run out: another scheduler's next pass sends it again within about one lease (at least once,
/// never twice by two live schedulers). The job that runs `deliverDue` has a lease of its own (`scheduler.lease` too,
/// renewed the same way), which a dead scheduler also leaves to expire.
///
/// Messages go out concurrently: at most `max_in_flight` at once and `max_in_flight_per_organization` of one organization,
/// so one tenant's slow or dead receivers cannot hold back another tenant's messages; one receiver gets one message at a
/// time (in order, and its hourly cap counts true).
final class NotificationDispatcher: Sendable {
    let db: DatabasePool
    let clock: any WallClock
    let logger: Logger
    let settings: NotificationSettings
    let owner = "scheduler-\(ProcessInfo.processInfo.processIdentifier)-\(RandomID.make(length: 8))"
    /// Seconds a claimed message's lease lasts unless renewed (`scheduler.lease`).
    let lease: Int64

    init(db: DatabasePool, clock: any WallClock, logger: Logger, settings: NotificationSettings) {
        self.db = db
        self.clock = clock
        self.logger = logger
        self.settings = settings
        lease = settings.lease
    }

    /// What one pass has going on, shared by its delivering threads.
    private struct Pass {
        var running = 0
        var runningByOrganization: [Int64: Int] = [:]
        /// Receivers with a message in flight: one at a time each (in order, and the hourly cap counts true).
        var busyReceivers: Set<Int64> = []
        /// Messages this pass already tried: a retry waits for the next pass.
        var attemptedIDs: Set<Int64> = []
        /// Messages being sent now, whose leases the heartbeat renews.
        var inFlightIDs: Set<Int64> = []
        var failure: (any Error)?
    }

    /// One pass: delivers every due message, including those that fall due while the pass runs, and returns how many
    /// were attempted. Returns when nothing is due and nothing is in flight.
    @discardableResult
    func deliverDue() throws -> Int {
        let pass = Mutex(Pass())
        let finished = DispatchSemaphore(value: 0)
        let maxInFlight = settings.maxInFlight
        let perOrganization = settings.maxInFlightPerOrganization
        let lease = lease
        let heartbeat = Heartbeat(every: Double(lease) / 3) { [self] in
            let ids = pass.withLock { Array($0.inFlightIDs) }
            guard !ids.isEmpty else { return }
            let leaseUntil = clock.unixSeconds() + lease
            do {
                _ = try db.write { try NotificationStore(db: $0).renew(ids: ids, owner: owner, leaseUntil: leaseUntil) }
            } catch {
                logger.warning("notification lease renewal failed", ["error": .string(String(describing: error))])
            }
        }
        defer { heartbeat.stop() }
        while true {
            let free = pass.withLock { maxInFlight - $0.running }
            var claimed: [(AlertNotification, Int64)] = []
            if free > 0 {
                let now = clock.unixSeconds()
                claimed = try db.write { tx in
                    try pass.withLock { state in
                        var taken: [Int64: Int] = [:]
                        var receivers = state.busyReceivers
                        return try NotificationStore(db: tx).claim(owner: owner, now: now, leaseUntil: now + lease, limit: free) { id, organization, receiver in
                            guard !state.attemptedIDs.contains(id), !receivers.contains(receiver),
                                  state.runningByOrganization[organization, default: 0] + taken[organization, default: 0] < perOrganization
                            else { return false }
                            taken[organization, default: 0] += 1
                            receivers.insert(receiver)
                            return true
                        }
                    }
                }
            }
            for (message, organization) in claimed {
                pass.withLock { state in
                    state.running += 1
                    state.runningByOrganization[organization, default: 0] += 1
                    state.busyReceivers.insert(message.receiverID)
                    state.attemptedIDs.insert(message.id)
                    state.inFlightIDs.insert(message.id)
                }
                Thread.detachNewThread { [self] in
                    let passStart = clock.unixSeconds()
                    var thrown: (any Error)?
                    do { try deliver(message, passStart: passStart) } catch { thrown = error }
                    pass.withLock { state in
                        state.running -= 1
                        state.runningByOrganization[organization, default: 1] -= 1
                        state.busyReceivers.remove(message.receiverID)
                        state.inFlightIDs.remove(message.id)
                        if state.failure == nil, let thrown { state.failure = thrown }
                    }
                    finished.signal()
                }
            }
            if claimed.isEmpty {
                if pass.withLock({ $0.running == 0 }) { break }
                // Wait for a slot to free, and look for new messages now and then meanwhile.
                _ = finished.wait(timeout: .now() + .milliseconds(200))
            }
        }
        let (attempted, failure) = pass.withLock { ($0.attemptedIDs.count, $0.failure) }
        if let failure { throw failure }
        return attempted
    }

    private func deliver(_ message: AlertNotification, passStart: Int64) throws {
        let now = clock.unixSeconds()
        let sent = try db.read { try NotificationStore(db: $0).sentCount(receiverID: message.receiverID, since: now - 3600) }
        if sent >= settings.maxPerReceiverPerHour {
            try record(message, .suppressed, attempts: message.attempts, error: "more than \(settings.maxPerReceiverPerHour) messages this hour",
                       next: now, sentAt: nil)
            return
        }
        let attempts = message.attempts + 1
        do {
            try send(message)
            try record(message, .sent, attempts: attempts, error: nil, next: now, sentAt: clock.unixSeconds())
        } catch {
            let text = String(String(describing: error).prefix(500))
            if attempts >= settings.maxAttempts {
                try record(message, .failed, attempts: attempts, error: text, next: now, sentAt: nil)
                logger.warning("notification failed", ["id": .int64(message.id), "channel": .string(message.channel.rawValue), "error": .string(text)])
            } else {
                let delay = Int64(settings.retryBase * pow(2, Double(attempts - 1)))
                try record(message, .pending, attempts: attempts, error: text, next: max(now + delay, passStart + 1), sentAt: nil)
            }
        }
    }

    private func record(_ message: AlertNotification, _ status: AlertNotification.Status, attempts: Int64, error: String?, next: Int64,
                        sentAt: Int64?) throws {
        let kept = try db.write { tx in
            try NotificationStore(db: tx).finish(id: message.id, owner: owner, status: status, attempts: attempts, lastError: error,
                                                 nextAttempt: next, sentAt: sentAt)
        }
        if !kept { logger.warning("notification lease lost before its outcome was recorded", ["id": .int64(message.id)]) }
    }

    // MARK: - Transports

    private func send(_ message: AlertNotification) throws {
        switch message.channel {
        case .email:
            guard let smtp = settings.smtp else { return try appendToLog(message) }
            try SMTPClient(settings: smtp).send(MailMessage(from: smtp.from, to: [message.target], subject: message.subject, body: message.body))
        case .sms:
            guard let url = settings.smsURL else { return try appendToLog(message) }
            let body = JSONWriter.bytes(.object(["to": .string(message.target), "text": .string(message.subject)]))
            let headers = [("Content-Type", "application/json")] + settings.smsHeaders
            try post(url: url, headers: headers, body: body, what: "SMS gateway", policy: .unrestricted)
        case .webhook:
            let body = JSONWriter.bytes(.object([
                "event": .string("alert.opened"), "alert_id": .int64(message.alertID), "notification_id": .int64(message.id),
                "subject": .string(message.subject), "text": .string(message.body),
            ]))
            var headers = [("Content-Type", "application/json")]
            if let secret = try db.read({ try NotificationStore(db: $0).receiverSecret(id: message.receiverID) }), !secret.isEmpty {
                headers.append(("X-Signature", WebhookSignature.header(secret: secret, body: body)))
            }
            try post(url: message.target, headers: headers, body: body, what: "webhook", policy: settings.webhookPolicy)
        }
    }

    /// Posts `body`; a status outside 2xx is an error that names only the status (`HTTP 500`): a tenant reads
    /// `last_error`, and the remote's bytes are never quoted back.
    private func post(url: String, headers: [(String, String)], body: [UInt8], what: String, policy: OutboundAddressPolicy) throws {
        let client = OutboundHTTPClient(timeout: settings.timeout, connectTimeout: settings.connectTimeout, caFile: settings.caFile, policy: policy)
        let response = try client.send(OutboundHTTPRequest(method: "POST", url: url, headers: headers, body: body))
        guard (200..<300).contains(response.status) else { throw DeliveryError("\(what): HTTP \(response.status)") }
    }

    /// The log transport: one JSON line per message, appended with `O_APPEND` (whole lines, even from two schedulers).
    private func appendToLog(_ message: AlertNotification) throws {
        let folder = (settings.logPath as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let line = JSONWriter.bytes(.object([
            "time": .string(Timestamp.format(clock.now())), "channel": .string(message.channel.rawValue), "to": .string(message.target),
            "alert_id": .int64(message.alertID), "subject": .string(message.subject), "text": .string(message.body),
        ])) + [0x0A]
        let fd = open(settings.logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DeliveryError("cannot open \(settings.logPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw DeliveryError("cannot write \(settings.logPath): \(String(cString: strerror(errno)))") }
    }
}
