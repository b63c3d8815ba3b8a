import Core
import Persistence

/// The notification outbox: written in the transaction that opens an alert, delivered by the scheduler under a lease.
struct NotificationStore {
    let db: Database

    init(db: Database) { self.db = db }

    static let columns = "id, alert_id, receiver_id, channel, target, subject, body, status, attempts, last_error, sent_s"

    static func notification(_ row: Row) -> AlertNotification {
        AlertNotification(id: row.int(0), alertID: row.int(1), receiverID: row.int(2), channel: AlertChannel(rawValue: row.string(3)) ?? .email,
                          target: row.string(4), subject: row.string(5), body: row.string(6),
                          status: AlertNotification.Status(rawValue: row.string(7)) ?? .pending, attempts: row.int(8),
                          lastError: row.optionalString(9), sentAt: row.optionalInt(10))
    }

    func insert(alertID: Int64, projectPK: Int64, receiver: AlertReceiver, subject: String, body: String, at time: String, seconds: Int64) throws {
        try db.execute("""
            INSERT INTO alert_notifications (alert_id, project_pk, receiver_id, channel, target, subject, body, status, attempts, next_attempt_s,
                                             created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
            """, [alertID, projectPK, receiver.id, receiver.channel.rawValue, receiver.target, subject, body, seconds, time])
    }

    /// Notifications of the given alerts, grouped by alert id.
    func notifications(alertIDs: [Int64]) throws -> [Int64: [AlertNotification]] {
        var result: [Int64: [AlertNotification]] = [:]
        for start in stride(from: 0, to: alertIDs.count, by: 500) {
            let chunk = alertIDs[start..<min(start + 500, alertIDs.count)]
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            for row in try db.query("SELECT \(Self.columns) FROM alert_notifications WHERE alert_id IN (\(placeholders)) ORDER BY id",
                                    chunk.map { $0 as any SQLBindable }) {
                let notification = Self.notification(row)
                result[notification.alertID, default: []].append(notification)
            }
        }
        return result
    }

    /// Leases up to `limit` due messages to `owner` until `leaseUntil` (a message whose lease ran out is due again:
    /// its scheduler died mid-delivery), taking at most `room(organization)` of each organization's. Two schedulers never
    /// hold one message at once. `accept(id, organization, receiver)` passes over candidates (and counts what it accepts),
    /// so the caller can bound each organization's share. Returns each message with its organization. The candidates are
    /// selected `FOR UPDATE SKIP LOCKED` on PostgreSQL: messages another scheduler is claiming at that moment are passed
    /// over, so two claims at once never take one message twice.
    func claim(owner: String, now: Int64, leaseUntil: Int64, limit: Int, accept: (Int64, Int64, Int64) -> Bool) throws
        -> [(AlertNotification, Int64)] {
        guard limit > 0 else { return [] }
        let candidates = try db.query("""
            SELECT n.id, COALESCE(i.organization_id, 0), n.receiver_id FROM alert_notifications n LEFT JOIN alert_items i ON i.id = n.alert_id
            WHERE n.status = 'pending' AND n.next_attempt_s <= ? AND (n.lease_until_s IS NULL OR n.lease_until_s < ?)
            ORDER BY n.next_attempt_s, n.id LIMIT ?\(db.skipLocked(of: "n"))
            """, [now, now, max(limit * 8, 64)])
        var chosen: [(Int64, Int64)] = []
        for row in candidates where chosen.count < limit && accept(row.int(0), row.int(1), row.int(2)) {
            chosen.append((row.int(0), row.int(1)))
        }
        var claimed: [(AlertNotification, Int64)] = []
        for (id, organization) in chosen {
            try db.execute("""
                UPDATE alert_notifications SET lease_owner = ?, lease_until_s = ?
                WHERE id = ? AND status = 'pending' AND (lease_until_s IS NULL OR lease_until_s < ?)
                """, [owner, leaseUntil, id, now])
            guard db.changes == 1 else { continue }
            if let row = try db.queryOne("SELECT \(Self.columns) FROM alert_notifications WHERE id = ?", [id]) {
                claimed.append((Self.notification(row), organization))
            }
        }
        return claimed
    }

    /// Extends `owner`'s leases on the given messages to `leaseUntil` (the heartbeat of deliveries in flight); returns
    /// how many it still held.
    @discardableResult
    func renew(ids: [Int64], owner: String, leaseUntil: Int64) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        var renewed = 0
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = ids[start..<min(start + 500, ids.count)]
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            try db.execute("UPDATE alert_notifications SET lease_until_s = ? WHERE lease_owner = ? AND status = 'pending' AND id IN (\(placeholders))",
                           [leaseUntil, owner] + chunk.map { $0 as any SQLBindable })
            renewed += db.changes
        }
        return renewed
    }

    /// Messages sent to a receiver since `since` (the hourly cap).
    func sentCount(receiverID: Int64, since: Int64) throws -> Int64 {
        try db.queryOne("SELECT COUNT(*) FROM alert_notifications WHERE receiver_id = ? AND status = 'sent' AND sent_s >= ?",
                        [receiverID, since])?.int(0) ?? 0
    }

    /// Records an attempt's outcome, only while `owner` still holds the lease (a late scheduler changes nothing).
    func finish(id: Int64, owner: String, status: AlertNotification.Status, attempts: Int64, lastError: String?, nextAttempt: Int64,
                sentAt: Int64?) throws -> Bool {
        try db.execute("""
            UPDATE alert_notifications SET status = ?, attempts = ?, last_error = ?, next_attempt_s = ?, sent_s = ?, lease_owner = NULL,
                                           lease_until_s = NULL
            WHERE id = ? AND lease_owner = ?
            """, [status.rawValue, attempts, lastError, nextAttempt, sentAt, id, owner])
        return db.changes == 1
    }

    func receiverSecret(id: Int64) throws -> String? {
        try db.queryOne("SELECT secret FROM alert_receivers WHERE id = ?", [id])?.optionalString(0)
    }
}
