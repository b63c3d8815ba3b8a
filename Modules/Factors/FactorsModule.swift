import Auth
import Core
import Devices
import Persistence
import Platform

/// The Factors plugin: sensor channels of devices, export/import, the sensor-module catalog.
public final class FactorsModule: PlatformModule {
    public let name = "factors"
    public let service: FactorService
    let auth: AuthService

    public init(context: PlatformContext, auth: AuthService, devices: DeviceService) {
        self.auth = auth
        service = FactorService(context: context, devices: devices)
    }

    public var migrations: [Migration] { FactorMigrations.all }

    public func subscribe(to bus: PlatformBus) { service.subscribe(to: bus) }

    public var commands: [any CLICommand] { ModuleCommands.all(service) }
}
