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

    public func subscribe(to bus: EventBus) { service.subscribe(to: bus) }

    public var commands: [any CLICommand] { DeviceCommands.all(service) }

    public func shutdown() { service.shutdown() }
}
