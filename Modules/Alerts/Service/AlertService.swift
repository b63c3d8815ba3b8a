import Auth
import Core
import Devices
import Factors
import Persistence
import Platform
import Projects

/// Alerts' domain API (seed 003, DESIGN §5.4): per-project config, receivers, levels and alert items; the rule engine
/// that runs inside the telemetry group commit; the offline job; and the outbox the scheduler delivers.
///
/// ```swift
/// let item = try alerts.cancel(projectID: "cold-room", id: 42, caller: caller)   // 400 INVALID_ALERT_STATE unless active
/// ```
public final class AlertService: Sendable, PlatformService {
    package let context: PlatformContext
    let projects: ProjectService
    let devices: DeviceService
    let factors: FactorService
    let engine: RuleEngine
    /// Which addresses webhook receivers may point at (checked at creation; the dispatcher checks again after resolution).
    public let webhookPolicy: OutboundAddressPolicy
    /// Receivers per channel per project (`alerts.max_receivers_per_channel`).
    let maxReceiversPerChannel: Int

    public init(context: PlatformContext, projects: ProjectService, devices: DeviceService, factors: FactorService) {
        self.context = context
        self.projects = projects
        self.devices = devices
        self.factors = factors
        engine = RuleEngine(factors: factors)
        engine.listen(to: context.db.changes)
        webhookPolicy = NotificationSettings(config: context.config).webhookPolicy
        maxReceiversPerChannel = context.config.int(NotificationSettings.maxReceiversPerChannelKey)
    }

    var now: String { Timestamp.format(clock.now()) }

    // MARK: - Config and defaults

    /// The project's config, created with its default levels on first use (inside the caller's write).
    func initialized(_ project: ProjectRef, _ tx: Database) throws -> AlertConfig {
        let store = AlertStore(db: tx)
        if let config = try store.config(projectPK: project.pk) { return config }
        let time = now
        let config = AlertConfig(projectPK: project.pk, createdAt: time)
        try store.save(config, organizationID: project.organizationID)
        if try store.levels(projectPK: project.pk).isEmpty {
            for level in AlertLevel.defaults {
                _ = try store.insertLevel(projectPK: project.pk, organizationID: project.organizationID, name: level.name, theType: level.theType,
                                          severity: level.severity, at: time)
            }
        }
        return config
    }

    /// Reads through the project's config, creating it (a write) the first time.
    func withConfig<T>(_ project: ProjectRef, _ body: (Database, AlertConfig) throws -> T) throws -> T {
        let existing = try db.read { tx in try AlertStore(db: tx).config(projectPK: project.pk).map { try body(tx, $0) } }
        if let existing { return existing }
        return try db.write { tx in try body(tx, try initialized(project, tx)) }
    }

    /// `GET config/`: the singleton, created lazily so a GET is idempotent.
    public func config(projectID: String, caller: Caller) throws -> (ProjectRef, AlertConfig) {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return (project, try withConfig(project) { _, config in config })
    }

    /// The changeable fields of the config; nil = unchanged.
    public struct ConfigChange: Sendable {
        public var enabled: Bool?
        public var cooldownMinutes: Int64?
        public var smsEnabled: Bool?
        public var emailEnabled: Bool?
        public var webhookEnabled: Bool?
        public var offlineAlertsEnabled: Bool?
        public var offlineAfterMinutes: Int64?
        public var locale: String?
        public init() {}
    }

    /// `PATCH config/`.
    public func updateConfig(projectID: String, caller: Caller, _ change: ConfigChange) throws -> (ProjectRef, AlertConfig) {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        let config = try db.write { tx -> AlertConfig in
            try projects.ensureActive(project, in: tx)
            var config = try initialized(project, tx)
            if let value = change.enabled { config.enabled = value }
            if let value = change.cooldownMinutes { config.cooldownMinutes = value }
            if let value = change.smsEnabled { config.smsEnabled = value }
            if let value = change.emailEnabled { config.emailEnabled = value }
            if let value = change.webhookEnabled { config.webhookEnabled = value }
            if let value = change.offlineAlertsEnabled { config.offlineAlertsEnabled = value }
            if let value = change.offlineAfterMinutes { config.offlineAfterMinutes = value }
            if let value = change.locale { config.locale = value }
            config.updatedAt = max(time, config.updatedAt)
            try AlertStore(db: tx).save(config, organizationID: project.organizationID)
            let engine = engine
            tx.onCommit { engine.forgetConfig(projectPK: project.pk) }
            tx.announce(RuleEngine.configTopic, scope: project.pk)
            return config
        }
        return (project, config)
    }

    /// Throws unless `caller` may change the alerts of `projectID` (401/403/404 as every write). Routes call it before
    /// they read a body, so a caller who may not write learns nothing from validation.
    public func authorizeWrite(projectID: String, caller: Caller) throws {
        _ = try projects.resolve(projectID, for: caller, access: .write)
    }


    // MARK: - Opening alerts (every kind)

    /// Opens an alert for `device` in `project` with the outbox rows of every enabled receiver of every enabled channel,
    /// in `tx`; nil when an active alert of the same rule exists.
    func open(project: ProjectRef, config: AlertConfig, device: Device, theType: String, ruleKey: String, triggerData: JSON,
              description: String, level explicitLevel: AlertLevel? = nil, levelKnown: Bool = false, receivers knownReceivers: [AlertReceiver]? = nil,
              isTest: Bool = false, seconds: Int64, _ tx: Database) throws -> AlertItem? {
        let store = AlertStore(db: tx)
        let level = levelKnown ? explicitLevel : try explicitLevel ?? store.preferredLevel(projectPK: project.pk, theType: theType)
        let time = Timestamp.format(unixSeconds: seconds)
        let new = AlertStore.NewItem(projectPK: project.pk, organizationID: project.organizationID, devicePK: device.id, deviceID: device.deviceID,
                                     deviceName: device.deviceName.isEmpty ? device.deviceID : device.deviceName, level: level, theType: theType,
                                     ruleKey: ruleKey, triggerData: triggerData, description: description, isTest: isTest)
        guard let item = try store.insert(new, at: time, seconds: seconds) else { return nil }
        let outbox = NotificationStore(db: tx)
        let receivers = try knownReceivers ?? store.receivers(projectPK: project.pk)
        let enabled = receivers.filter { $0.enabled && config.isEnabled($0.channel) }
        if !enabled.isEmpty {
            let subject = AlertText.subject(locale: config.locale, severity: item.severity, projectName: project.name, description: description)
            let body = AlertText.body(locale: config.locale, projectName: project.name, deviceName: item.deviceName, deviceID: item.deviceID,
                                      description: description, time: time)
            for receiver in enabled {
                try outbox.insert(alertID: item.id, projectPK: project.pk, receiver: receiver, subject: subject, body: body, at: time, seconds: seconds)
            }
        }
        try bus.publish(AlertOpened(alertID: item.id, projectPK: project.pk, devicePK: device.id, theType: theType), in: tx)
        return item
    }

    /// Items with their notifications, in the API shape.
    func views(_ items: [AlertItem], project: ProjectRef, _ db: Database) throws -> [JSON] {
        let notifications = try NotificationStore(db: db).notifications(alertIDs: items.map(\.id))
        return items.map { $0.json(projectID: project.projectID, notifications: notifications[$0.id] ?? []) }
    }

    func view(_ item: AlertItem, project: ProjectRef) throws -> JSON {
        try db.read { try views([item], project: project, $0)[0] }
    }
}
