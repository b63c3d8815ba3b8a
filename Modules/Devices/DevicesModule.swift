import Auth
import Core
import Persistence
import Platform
import Projects

/// The Devices plugin: provisioning, bind/unbind, device lists, set-project, telemetry ingestion and reads.
public final class DevicesModule: PlatformModule {
    public let name = "devices"
    public let service: DeviceService

    public init(context: PlatformContext, auth: AuthService, projects: ProjectService) {
        service = DeviceService(context: context, auth: auth, projects: projects)
    }

    public var migrations: [Migration] { DeviceMigrations.all }
    public var copiedTables: [String] { DeviceMigrations.tables }

    public var configKeys: [ConfigKey] {
        DeviceKeys.all
    }

    public func subscribe(to bus: PlatformBus) { service.subscribe(to: bus) }

    public var commands: [any CLICommand] { DeviceCommands.all(service) }

    public func shutdown() { service.shutdown() }

    public func invariantViolations(_ db: Database) throws -> [String] { try service.invariantViolations(db) }

    /// Scheduler jobs: command expiry every minute; telemetry retention daily when `devices.telemetry_retention`
    /// is set (default `0`: keep telemetry forever).
    public var jobs: [Job] {
        let service = service
        return [
            Job(name: "devices.expire-commands", interval: 60) { try service.expireCommands() },
            Job(name: "devices.telemetry-retention", interval: 86_400) {
                if service.telemetryRetention > 0 { _ = try service.purgeTelemetry(olderThan: service.telemetryRetention) }
            },
        ]
    }
}
