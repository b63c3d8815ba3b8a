import Auth
import Core
import Devices
import Factors
import Persistence
import Platform
import Projects

/// The Alerts plugin (seed 003): config, receivers, levels and alert items; the rule engine inside the telemetry
/// group commit; offline detection and notification delivery as scheduler jobs.
public final class AlertsModule: PlatformModule {
    public let name = "alerts"
    public let service: AlertService
    let auth: AuthService
    let dispatcher: NotificationDispatcher

    public init(context: PlatformContext, auth: AuthService, projects: ProjectService, devices: DeviceService, factors: FactorService) {
        self.auth = auth
        service = AlertService(context: context, projects: projects, devices: devices, factors: factors)
        dispatcher = NotificationDispatcher(db: context.db, clock: context.clock, logger: context.logger,
                                            settings: NotificationSettings(config: context.config))
    }

    public var migrations: [Migration] { AlertMigrations.all }
    public var copiedTables: [String] { AlertMigrations.tables }

    public var configKeys: [ConfigKey] { NotificationSettings.keys }

    public func subscribe(to bus: PlatformBus) {
        let service = service
        bus.subscribe(TelemetryStored.self, inTransaction: { event, tx in try service.evaluate(event, tx) })
        bus.subscribe(DeviceContacted.self, inTransaction: { event, tx in try service.deviceContacted(event, tx) })
        bus.subscribe(FactorsChanged.self, inTransaction: { event, tx in try service.factorsChanged(devicePK: event.devicePK, tx) })
        bus.subscribe(DeviceUnbound.self, inTransaction: { event, tx in try service.deviceLeft(devicePK: event.devicePK, tx) })
        bus.subscribe(DeviceMoved.self, inTransaction: { event, tx in try service.deviceLeft(devicePK: event.devicePK, tx) })
        bus.subscribe(ProjectCreated.self, inTransaction: { event, tx in _ = try service.initialized(event.project, tx) })
        bus.subscribe(ProjectTransferred.self, inTransaction: { event, tx in
            try AlertStore(db: tx).moveProject(projectPK: event.project.pk, toOrganizationID: event.toOrganizationID)
        })
        bus.subscribe(ProjectPurged.self, inTransaction: { event, tx in try AlertStore(db: tx).deleteProject(projectPK: event.project.pk) })
    }

    /// Scheduler jobs: notification delivery every 5 s, offline detection every minute.
    public var jobs: [Job] {
        let service = service
        let dispatcher = dispatcher
        return [
            Job(name: "alerts.deliver-notifications", interval: 5) { try dispatcher.deliverDue() },
            Job(name: "alerts.detect-offline", interval: 60) { try service.detectOffline() },
        ]
    }

    public var commands: [any CLICommand] { AlertCommands.all(service, dispatcher) }

    /// Active alerts are of devices still in the alert's project; outbox rows belong to existing alerts; at most one
    /// active alert per device and rule (the unique index, checked anyway).
    public func invariantViolations(_ db: Database) throws -> [String] {
        var violations: [String] = []
        let store = AlertStore(db: db)
        for (id, devicePK, projectPK) in try store.activeAlertPlacements() {
            if try service.devices.device(pk: devicePK, in: db)?.projectPK != projectPK {
                violations.append("active alert \(id) is of device \(devicePK), which is no longer in project pk \(projectPK)")
            }
        }
        for (id, alertID) in try store.orphanedNotifications() {
            violations.append("notification \(id) belongs to alert \(alertID), which does not exist")
        }
        for (devicePK, ruleKey, count) in try store.duplicateActiveAlerts() {
            violations.append("device \(devicePK) has \(count) active alerts of rule \(ruleKey)")
        }
        return violations
    }
}
