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
    public var copiedTables: [String] { FactorMigrations.tables }

    public func subscribe(to bus: PlatformBus) { service.subscribe(to: bus) }

    public var commands: [any CLICommand] { ModuleCommands.all(service) }

    /// Every factor belongs to a device bound to the factor's project, and its agri_id starts with the device's prefix.
    public func invariantViolations(_ db: Database) throws -> [String] {
        var violations: [String] = []
        for (id, devicePK, projectPK, agriID) in try FactorStore(db: db).placements() {
            guard let device = try service.devices.device(pk: devicePK, in: db) else {
                violations.append("factor \(id) belongs to device \(devicePK), which does not exist")
                continue
            }
            if device.projectPK != projectPK {
                violations.append("factor \(id) is in project pk \(projectPK) but its device \(devicePK) is in \(device.projectPK.map(String.init) ?? "none")")
            }
            if !agriID.hasPrefix(device.agriID) { violations.append("factor \(id) agri_id \(agriID) is not under device prefix \(device.agriID)") }
        }
        return violations
    }
}
