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

    public var configKeys: [ConfigKey] {
        [ConfigKey("devices.offline_after", .duration), ConfigKey("devices.max_points_per_request", .integer(1...1_000_000)),
         ConfigKey("devices.max_points_per_commit", .integer(100...10_000_000)), ConfigKey("devices.bind_max_failures", .integer(1...1_000_000)),
         ConfigKey("devices.bind_window", .duration), ConfigKey("devices.cache_ttl", .duration), ConfigKey("devices.data_cache_ttl", .duration),
         ConfigKey("devices.command_ttl", .duration)]
    }

    public func subscribe(to bus: EventBus) { service.subscribe(to: bus) }

    public var commands: [any CLICommand] { DeviceCommands.all(service) }

    public func shutdown() { service.shutdown() }
}
