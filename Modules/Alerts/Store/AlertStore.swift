import Core
import Persistence

/// SQL over Alerts' own tables: configs, receivers, levels and items. Notifications: `NotificationStore`.
struct AlertStore {
    let db: Database

    init(db: Database) { self.db = db }

    // MARK: Config

    func config(projectPK: Int64) throws -> AlertConfig? {
        guard let row = try db.queryOne("""
            SELECT project_pk, enabled, cooldown_minutes, sms_enabled, email_enabled, webhook_enabled, offline_alerts_enabled,
                   offline_after_minutes, locale, created_at, updated_at
            FROM alert_configs WHERE project_pk = ?
            """, [projectPK]) else { return nil }
        var config = AlertConfig(projectPK: row.int(0), createdAt: row.string(9))
        config.enabled = row.bool(1)
        config.cooldownMinutes = row.int(2)
        config.smsEnabled = row.bool(3)
        config.emailEnabled = row.bool(4)
        config.webhookEnabled = row.bool(5)
        config.offlineAlertsEnabled = row.bool(6)
        config.offlineAfterMinutes = row.int(7)
        config.locale = row.string(8)
        config.updatedAt = row.string(10)
        return config
    }

    func save(_ config: AlertConfig, organizationID: Int64) throws {
        try db.execute("""
            INSERT INTO alert_configs (project_pk, organization_id, enabled, cooldown_minutes, sms_enabled, email_enabled, webhook_enabled,
                                       offline_alerts_enabled, offline_after_minutes, locale, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (project_pk) DO UPDATE SET enabled = excluded.enabled, cooldown_minutes = excluded.cooldown_minutes,
                sms_enabled = excluded.sms_enabled, email_enabled = excluded.email_enabled, webhook_enabled = excluded.webhook_enabled,
                offline_alerts_enabled = excluded.offline_alerts_enabled, offline_after_minutes = excluded.offline_after_minutes,
                locale = excluded.locale, updated_at = excluded.updated_at
            """, [config.projectPK, organizationID, config.enabled, config.cooldownMinutes, config.smsEnabled, config.emailEnabled,
                  config.webhookEnabled, config.offlineAlertsEnabled, config.offlineAfterMinutes, config.locale, config.createdAt,
                  config.updatedAt])
    }

    /// Projects whose offline alerts are on (the scheduler's offline job).
    func offlineConfigs() throws -> [(config: AlertConfig, organizationID: Int64)] {
        try db.query("SELECT project_pk, organization_id FROM alert_configs WHERE enabled = 1 AND offline_alerts_enabled = 1 ORDER BY project_pk")
            .compactMap { row in try config(projectPK: row.int(0)).map { ($0, row.int(1)) } }
    }

    // MARK: Receivers

    static let receiverColumns = "id, project_pk, channel, target, name, enabled, secret, created_at, updated_at"

    static func receiver(_ row: Row) -> AlertReceiver {
        AlertReceiver(id: row.int(0), projectPK: row.int(1), channel: AlertChannel(rawValue: row.string(2)) ?? .email, target: row.string(3),
                      name: row.string(4), enabled: row.bool(5), secret: row.optionalString(6), createdAt: row.string(7), updatedAt: row.string(8))
    }

    func receivers(projectPK: Int64, channel: AlertChannel? = nil) throws -> [AlertReceiver] {
        if let channel {
            return try db.query("SELECT \(Self.receiverColumns) FROM alert_receivers WHERE project_pk = ? AND channel = ? ORDER BY id",
                                [projectPK, channel.rawValue]).map(Self.receiver)
        }
        return try db.query("SELECT \(Self.receiverColumns) FROM alert_receivers WHERE project_pk = ? ORDER BY id", [projectPK]).map(Self.receiver)
    }

    func receiver(id: Int64) throws -> AlertReceiver? {
        try db.queryOne("SELECT \(Self.receiverColumns) FROM alert_receivers WHERE id = ?", [id]).map(Self.receiver)
    }

    func insertReceiver(projectPK: Int64, organizationID: Int64, channel: AlertChannel, target: String, name: String, enabled: Bool,
                        secret: String?, at time: String) throws -> AlertReceiver {
        try db.execute("""
            INSERT INTO alert_receivers (project_pk, organization_id, channel, target, name, enabled, secret, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [projectPK, organizationID, channel.rawValue, target, name, enabled, secret, time, time])
        return AlertReceiver(id: db.lastInsertRowID, projectPK: projectPK, channel: channel, target: target, name: name, enabled: enabled,
                             secret: secret, createdAt: time, updatedAt: time)
    }

    func update(_ receiver: AlertReceiver) throws {
        try db.execute("UPDATE alert_receivers SET target = ?, name = ?, enabled = ?, secret = ?, updated_at = ? WHERE id = ?",
                       [receiver.target, receiver.name, receiver.enabled, receiver.secret, receiver.updatedAt, receiver.id])
    }

    func deleteReceiver(id: Int64) throws {
        try db.execute("DELETE FROM alert_receivers WHERE id = ?", [id])
    }

    // MARK: Levels

    static let levelColumns = "id, project_pk, name, the_type, severity, created_at, updated_at"

    static func level(_ row: Row) -> AlertLevel {
        AlertLevel(id: row.int(0), projectPK: row.int(1), name: row.string(2), theType: row.string(3), severity: row.string(4),
                   createdAt: row.string(5), updatedAt: row.string(6))
    }

    func levels(projectPK: Int64) throws -> [AlertLevel] {
        try db.query("SELECT \(Self.levelColumns) FROM alert_levels WHERE project_pk = ? ORDER BY id", [projectPK]).map(Self.level)
    }

    func level(id: Int64) throws -> AlertLevel? {
        try db.queryOne("SELECT \(Self.levelColumns) FROM alert_levels WHERE id = ?", [id]).map(Self.level)
    }

    /// The project's first level of `theType`, else its first level.
    func preferredLevel(projectPK: Int64, theType: String) throws -> AlertLevel? {
        try db.queryOne("""
            SELECT \(Self.levelColumns) FROM alert_levels WHERE project_pk = ?
            ORDER BY CASE WHEN the_type = ? THEN 0 ELSE 1 END, id LIMIT 1
            """, [projectPK, theType]).map(Self.level)
    }

    func insertLevel(projectPK: Int64, organizationID: Int64, name: String, theType: String, severity: String, at time: String) throws -> AlertLevel {
        try db.execute("""
            INSERT INTO alert_levels (project_pk, organization_id, name, the_type, severity, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [projectPK, organizationID, name, theType, severity, time, time])
        return AlertLevel(id: db.lastInsertRowID, projectPK: projectPK, name: name, theType: theType, severity: severity, createdAt: time,
                          updatedAt: time)
    }

    func update(_ level: AlertLevel) throws {
        try db.execute("UPDATE alert_levels SET name = ?, the_type = ?, severity = ?, updated_at = ? WHERE id = ?",
                       [level.name, level.theType, level.severity, level.updatedAt, level.id])
    }

    func deleteLevel(id: Int64) throws {
        try db.execute("DELETE FROM alert_levels WHERE id = ?", [id])
    }

    func levelInUse(id: Int64) throws -> Bool {
        try db.queryOne("SELECT 1 FROM alert_items WHERE level_id = ? LIMIT 1", [id]) != nil
    }

    // MARK: Items

    static let itemColumns = """
        id, project_pk, device_pk, device_id, device_name, level_id, level_name, severity, the_type, status, rule_key, trigger_data,
        description, is_test, created_at, resolved_at, cancelled_at
        """

    static func item(_ row: Row) -> AlertItem {
        AlertItem(id: row.int(0), projectPK: row.int(1), devicePK: row.int(2), deviceID: row.string(3), deviceName: row.string(4),
                  levelID: row.optionalInt(5), levelName: row.string(6), severity: row.string(7), theType: row.string(8),
                  status: AlertItem.Status(rawValue: row.string(9)) ?? .active, ruleKey: row.string(10),
                  triggerData: (try? JSONParser.parse(Array(row.string(11).utf8))) ?? .null, description: row.string(12),
                  isTest: row.bool(13), createdAt: row.string(14), resolvedAt: row.optionalString(15), cancelledAt: row.optionalString(16))
    }

    /// A new alert for one device; nil when an active alert of the same rule exists (the unique index decides).
    struct NewItem {
        let projectPK: Int64
        let organizationID: Int64
        let devicePK: Int64
        let deviceID: String
        let deviceName: String
        let level: AlertLevel?
        let theType: String
        let ruleKey: String
        let triggerData: JSON
        let description: String
        let isTest: Bool
    }

    func insert(_ new: NewItem, at time: String, seconds: Int64) throws -> AlertItem? {
        // ON CONFLICT DO NOTHING: an active alert of the rule (the unique partial index) makes this a no-op, not an error
        // (no savepoint needed; PostgreSQL would otherwise abort the whole transaction).
        let trigger = JSONWriter.string(new.triggerData)
        try db.execute("""
            INSERT INTO alert_items (project_pk, organization_id, device_pk, device_id, device_name, level_id, level_name, severity, the_type,
                                     status, rule_key, trigger_data, description, is_test, created_at, created_s)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """, [new.projectPK, new.organizationID, new.devicePK, new.deviceID, new.deviceName, new.level?.id, new.level?.name ?? "",
                  new.level?.severity ?? "warning", new.theType, new.ruleKey, trigger, new.description, new.isTest, time, seconds])
        guard db.changes == 1 else { return nil }
        return AlertItem(id: db.lastInsertRowID, projectPK: new.projectPK, devicePK: new.devicePK, deviceID: new.deviceID,
                         deviceName: new.deviceName, levelID: new.level?.id, levelName: new.level?.name ?? "",
                         severity: new.level?.severity ?? "warning", theType: new.theType, status: .active, ruleKey: new.ruleKey,
                         triggerData: new.triggerData, description: new.description, isTest: new.isTest, createdAt: time, resolvedAt: nil,
                         cancelledAt: nil)
    }

    func item(id: Int64) throws -> AlertItem? {
        try db.queryOne("SELECT \(Self.itemColumns) FROM alert_items WHERE id = ?", [id]).map(Self.item)
    }

    /// When the last alert of `ruleKey` on the device closed (resolved or cancelled), Unix seconds.
    func lastClosed(devicePK: Int64, ruleKey: String) throws -> Int64? {
        try db.queryOne("SELECT MAX(closed_s) FROM alert_items WHERE device_pk = ? AND rule_key = ?", [devicePK, ruleKey])?.optionalInt(0)
    }

    /// Resolves the active alerts of the device whose rule key is one of `ruleKeys`; returns (id, project pk) of each.
    func resolve(devicePK: Int64, ruleKeys: [String], at time: String, seconds: Int64) throws -> [(id: Int64, projectPK: Int64)] {
        var resolved: [(id: Int64, projectPK: Int64)] = []
        for key in ruleKeys {
            for row in try db.query("""
                UPDATE alert_items SET status = 'resolved', resolved_at = ?, closed_s = ?
                WHERE device_pk = ? AND rule_key = ? AND status = 'active' RETURNING id, project_pk
                """, [time, seconds, devicePK, key]) {
                resolved.append((row.int(0), row.int(1)))
            }
        }
        return resolved
    }

    /// Resolves the active alerts of `ruleKey` of every device of `devicePKs` (a device's contact resolving its offline
    /// alert): one round trip on PostgreSQL for all of them. Returns (id, project, device) of each resolved alert.
    func resolve(devicePKs: [Int64], ruleKey: String, at time: String, seconds: Int64) throws -> [(id: Int64, projectPK: Int64, devicePK: Int64)] {
        let answers = try db.queryMany("""
            UPDATE alert_items SET status = 'resolved', resolved_at = ?, closed_s = ?
            WHERE device_pk = ? AND rule_key = ? AND status = 'active' RETURNING id, project_pk
            """, devicePKs.map { [time, seconds, $0, ruleKey] })
        var resolved: [(id: Int64, projectPK: Int64, devicePK: Int64)] = []
        for (index, rows) in answers.enumerated() {
            for row in rows { resolved.append((row.int(0), row.int(1), devicePKs[index])) }
        }
        return resolved
    }

    /// Rule keys of the device's active alerts (only threshold ones when `thresholdOnly`).
    func activeRuleKeys(devicePK: Int64, thresholdOnly: Bool) throws -> [String] {
        try db.query("SELECT rule_key FROM alert_items WHERE device_pk = ? AND status = 'active'"
                     + (thresholdOnly ? " AND the_type = 'threshold'" : ""), [devicePK]).map { $0.string(0) }
    }

    /// (device pk, rule key) of every active threshold alert (the rule engine's first load).
    // MARK: - Invariants (`admin-cli check`)

    /// (id, device, project) of every active alert.
    func activeAlertPlacements() throws -> [(id: Int64, devicePK: Int64, projectPK: Int64)] {
        try db.query("SELECT id, device_pk, project_pk FROM alert_items WHERE status = 'active' ORDER BY id").map { ($0.int(0), $0.int(1), $0.int(2)) }
    }

    /// (notification id, alert id) of outbox rows whose alert does not exist.
    func orphanedNotifications() throws -> [(id: Int64, alertID: Int64)] {
        try db.query("""
            SELECT n.id, n.alert_id FROM alert_notifications n LEFT JOIN alert_items i ON i.id = n.alert_id WHERE i.id IS NULL ORDER BY n.id
            """).map { ($0.int(0), $0.int(1)) }
    }

    /// (device, rule key, count) of rules with more than one active alert.
    func duplicateActiveAlerts() throws -> [(devicePK: Int64, ruleKey: String, count: Int64)] {
        try db.query("""
            SELECT device_pk, rule_key, COUNT(*) FROM alert_items WHERE status = 'active' GROUP BY device_pk, rule_key HAVING COUNT(*) > 1
            """).map { ($0.int(0), $0.string(1), $0.int(2)) }
    }

    func activeThresholdKeys() throws -> [(devicePK: Int64, ruleKey: String)] {
        try db.query("SELECT device_pk, rule_key FROM alert_items WHERE status = 'active' AND the_type = 'threshold'")
            .map { ($0.int(0), $0.string(1)) }
    }

    /// Resolves the alert `id` if it is active; true when it was.
    func resolve(id: Int64, at time: String, seconds: Int64) throws -> Bool {
        try db.execute("UPDATE alert_items SET status = 'resolved', resolved_at = ?, closed_s = ? WHERE id = ? AND status = 'active'",
                       [time, seconds, id])
        return db.changes == 1
    }

    func cancel(id: Int64, at time: String, seconds: Int64) throws {
        try db.execute("UPDATE alert_items SET status = 'cancelled', cancelled_at = ?, closed_s = ? WHERE id = ?", [time, seconds, id])
    }

    func updateDescription(id: Int64, _ text: String) throws {
        try db.execute("UPDATE alert_items SET description = ? WHERE id = ?", [text, id])
    }

    func deleteItem(id: Int64) throws {
        try db.execute("DELETE FROM alert_notifications WHERE alert_id = ?", [id])
        try db.execute("DELETE FROM alert_items WHERE id = ?", [id])
    }

    /// Deletes the project's synthetic (trigger-test) alerts but `keep`; returns how many.
    func deleteTests(projectPK: Int64, keep: Int64) throws -> Int {
        try db.execute("""
            DELETE FROM alert_notifications WHERE alert_id IN (SELECT id FROM alert_items WHERE project_pk = ? AND is_test = 1 AND id <> ?)
            """, [projectPK, keep])
        try db.execute("DELETE FROM alert_items WHERE project_pk = ? AND is_test = 1 AND id <> ?", [projectPK, keep])
        return db.changes
    }

    /// Filters of the item list.
    struct ItemFilter {
        var status: AlertItem.Status?
        var theType: String?
        var devicePK: Int64?
        var start: String?
        var end: String?
    }

    func items(projectPK: Int64, filter: ItemFilter, limit: Int, offset: Int) throws -> (Int64, [AlertItem]) {
        var clauses = ["project_pk = ?"]
        var arguments: [any SQLBindable] = [projectPK]
        if let status = filter.status { clauses.append("status = ?"); arguments.append(status.rawValue) }
        if let theType = filter.theType { clauses.append("the_type = ?"); arguments.append(theType) }
        if let devicePK = filter.devicePK { clauses.append("device_pk = ?"); arguments.append(devicePK) }
        if let start = filter.start { clauses.append("created_at >= ?"); arguments.append(start) }
        if let end = filter.end { clauses.append("created_at < ?"); arguments.append(end) }
        let condition = clauses.joined(separator: " AND ")
        let count = try db.queryOne("SELECT COUNT(*) FROM alert_items WHERE \(condition)", arguments)?.int(0) ?? 0
        let rows = try db.query("SELECT \(Self.itemColumns) FROM alert_items WHERE \(condition) ORDER BY id DESC LIMIT ? OFFSET ?",
                                arguments + [limit, offset])
        return (count, rows.map(Self.item))
    }

    func activeItems(projectPK: Int64) throws -> [AlertItem] {
        try db.query("SELECT \(Self.itemColumns) FROM alert_items WHERE project_pk = ? AND status = 'active' ORDER BY id DESC", [projectPK])
            .map(Self.item)
    }

    /// Active alerts of any project (admin-cli).
    func activeItems(limit: Int) throws -> [AlertItem] {
        try db.query("SELECT \(Self.itemColumns) FROM alert_items WHERE status = 'active' ORDER BY id DESC LIMIT ?", [limit]).map(Self.item)
    }

    /// Devices with an active alert of `ruleKey` in the project (the offline job).
    func activeDevices(projectPK: Int64, ruleKey: String) throws -> Set<Int64> {
        Set(try db.query("SELECT device_pk FROM alert_items WHERE project_pk = ? AND rule_key = ? AND status = 'active'", [projectPK, ruleKey])
            .map { $0.int(0) })
    }

    // MARK: Reactions

    func moveProject(projectPK: Int64, toOrganizationID: Int64) throws {
        for table in ["alert_configs", "alert_receivers", "alert_levels", "alert_items"] {
            try db.execute("UPDATE \(table) SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
        }
    }

    func deleteProject(projectPK: Int64) throws {
        for table in ["alert_notifications", "alert_items", "alert_levels", "alert_receivers", "alert_configs"] {
            try db.execute("DELETE FROM \(table) WHERE project_pk = ?", [projectPK])
        }
    }
}
