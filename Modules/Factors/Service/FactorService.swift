import Auth
import Core
import Devices
import Persistence
import Platform
import Projects

/// Factors' domain API: factor CRUD under a device, export/import, the sensor-module catalog and
/// add-module. It implements Devices' `DeviceFactorInfo` (has_thresholds, factor names).
public final class FactorService: Sendable, DeviceFactorInfo, PlatformService {
    package let context: PlatformContext
    let devices: DeviceService

    /// The export document's format name and version (import accepts this version): `FactorDocument`'s.
    public static let exportFormat = FactorDocument.format
    public static let exportVersion = FactorDocument.version
    public static let maxFactorsPerDevice = 500

    public init(context: PlatformContext, devices: DeviceService) {
        self.context = context
        self.devices = devices
    }

    var now: String { Timestamp.format(clock.now()) }

    func published(_ device: Device, _ project: ProjectRef, _ tx: Database) throws {
        try bus.publish(FactorsChanged(devicePK: device.id, projectPK: project.pk, organizationID: project.organizationID), in: tx)
        tx.announce(Self.changesTopic, scope: project.organizationID)
    }

    /// The change-feed topic of factor writes (thresholds included), scoped by organization id.
    public static let changesTopic = "factors"
    public var changesTopic: String { Self.changesTopic }

    // MARK: - CRUD

    public func list(projectID: String, devicePK: Int64, caller: Caller) throws -> [Factor] {
        let (_, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .read)
        return try db.read { try FactorStore(db: $0).factors(devicePK: device.id) }
    }

    public func factor(projectID: String, devicePK: Int64, id: Int64, caller: Caller) throws -> Factor {
        let (_, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .read)
        guard let factor = try db.read({ try FactorStore(db: $0).factor(id: id) }), factor.devicePK == device.id else {
            throw FactorError.notFound(id: id)
        }
        return factor
    }

    public func create(projectID: String, devicePK: Int64, caller: Caller, body: JSON) throws -> Factor {
        let (project, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .write)
        let spec = try FactorSpec.read(body, base: nil, prefix: device.agriID)
        let time = now
        return try db.write { tx in
            try devices.ensureDevice(device.id, in: project, tx: tx)
            let store = FactorStore(db: tx)
            if try store.agriIDExists(spec.agriID) { throw FactorError.agriIDTaken(spec.agriID) }
            if try store.factors(devicePK: device.id).count >= Self.maxFactorsPerDevice {
                throw APIError.validation(field: "agri_id", "a device has at most \(Self.maxFactorsPerDevice) factors")
            }
            let factor = try store.insert(spec, devicePK: device.id, projectPK: project.pk, organizationID: project.organizationID, at: time)
            try published(device, project, tx)
            return factor
        }
    }

    public func update(projectID: String, devicePK: Int64, id: Int64, caller: Caller, body: JSON) throws -> Factor {
        let (project, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .write)
        let time = now
        return try db.write { tx in
            let store = FactorStore(db: tx)
            guard var factor = try store.factor(id: id), factor.devicePK == device.id else { throw FactorError.notFound(id: id) }
            factor.spec = try FactorSpec.read(body, base: factor.spec, prefix: device.agriID)
            if try store.agriIDExists(factor.spec.agriID, exceptID: factor.id) { throw FactorError.agriIDTaken(factor.spec.agriID) }
            factor.updatedAt = time
            try store.update(factor)
            try published(device, project, tx)
            return factor
        }
    }

    public func delete(projectID: String, devicePK: Int64, id: Int64, caller: Caller) throws {
        let (project, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .write)
        try db.write { tx in
            let store = FactorStore(db: tx)
            guard let factor = try store.factor(id: id), factor.devicePK == device.id else { throw FactorError.notFound(id: id) }
            try store.delete(id: factor.id)
            try published(device, project, tx)
        }
    }

    /// A device's factors without a scope check (the gateway, authenticated as the device itself).
    public func factors(devicePK: Int64) throws -> [Factor] {
        try db.read { try FactorStore(db: $0).factors(devicePK: devicePK) }
    }

    // MARK: - Export / import

    /// The downloadable document of a device's factors; agri_ids keep the device prefix, which import re-bases.
    public func export(projectID: String, devicePK: Int64, caller: Caller) throws -> (filename: String, document: JSON) {
        let (_, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .read)
        let factors = try db.read { try FactorStore(db: $0).factors(devicePK: device.id) }
        let document = FactorDocument.export(deviceID: device.deviceID, agriID: device.agriID, model: device.model, factors: factors.map(\.spec),
                                             exportedAt: now)
        return ("factors-\(device.deviceID).json", document)
    }

    /// Imports an exported document onto a device, all or nothing: agri_ids are re-based from the
    /// document's prefix onto this device's; `clearExisting` first removes the device's factors.
    public func importFactors(projectID: String, devicePK: Int64, caller: Caller, document: JSON, clearExisting: Bool) throws
        -> (imported: [Factor], cleared: Int) {
        let (project, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .write)
        let specs = try FactorDocument.read(document, prefix: device.agriID, maxFactors: Self.maxFactorsPerDevice)
        let time = now
        return try db.write { tx in
            try devices.ensureDevice(device.id, in: project, tx: tx)
            let store = FactorStore(db: tx)
            let cleared = clearExisting ? try store.deleteAll(devicePK: device.id) : 0
            var imported: [Factor] = []
            for spec in specs {
                if try store.agriIDExists(spec.agriID) { throw FactorError.agriIDTaken(spec.agriID) }
                imported.append(try store.insert(spec, devicePK: device.id, projectPK: project.pk, organizationID: project.organizationID, at: time))
            }
            if try store.factors(devicePK: device.id).count > Self.maxFactorsPerDevice {
                throw APIError.validation(field: "file", "a device has at most \(Self.maxFactorsPerDevice) factors")
            }
            try published(device, project, tx)
            return (imported, cleared)
        }
    }

    // MARK: - Sensor modules

    public func modules() throws -> [SensorModule] { try db.read { try FactorStore(db: $0).modules() } }

    public func module(id: Int64) throws -> SensorModule {
        guard let module = try db.read({ try FactorStore(db: $0).module(id: id) }) else {
            throw FactorError.moduleNotFound(id: id)
        }
        return module
    }

    /// `admin-cli modules import`: adds each module, replacing the templates of a model imported before.
    public func importCatalog(_ document: JSON) throws -> (added: Int, replaced: Int) {
        let modules = try FactorTemplate.catalog(document)
        let time = now
        return try db.write { tx in
            let store = FactorStore(db: tx)
            var added = 0
            var replaced = 0
            for module in modules {
                let (_, wasReplaced) = try store.upsertModule(name: module.name, model: module.model, factors: module.factors, at: time)
                if wasReplaced { replaced += 1 } else { added += 1 }
            }
            return (added, replaced)
        }
    }

    /// Creates the module's factors on a device with `slaveID`, on the next free agri_id suffixes (`-01`, `-02`, …).
    public func addModule(projectID: String, devicePK: Int64, caller: Caller, moduleID: Int64, slaveID: Int64) throws -> [Factor] {
        let (project, device) = try devices.resolveDevice(projectID: projectID, pk: devicePK, caller: caller, access: .write)
        let module = try module(id: moduleID)
        let time = now
        return try db.write { tx in
            try devices.ensureDevice(device.id, in: project, tx: tx)
            let store = FactorStore(db: tx)
            let existing = try store.factors(devicePK: device.id)
            if existing.count + module.factors.count > Self.maxFactorsPerDevice {
                throw APIError.validation(field: "module_id", "a device has at most \(Self.maxFactorsPerDevice) factors")
            }
            var created: [Factor] = []
            var suffix = 1
            for template in module.factors {
                var agriID: String
                repeat {
                    agriID = device.agriID + "-" + (suffix < 10 ? "0\(suffix)" : "\(suffix)")
                    suffix += 1
                } while try store.agriIDExists(agriID)
                let spec = FactorSpec(agriID: agriID, name: template.name, unit: template.unit, slaveID: slaveID,
                                      functionCode: template.functionCode, register: template.register, dataType: template.dataType,
                                      byteOrder: template.byteOrder, scale: template.scale, offset: template.offset, decimals: template.decimals,
                                      thresholdMin: nil, thresholdMax: nil, alarmEnabled: false, sort: template.sort)
                created.append(try store.insert(spec, devicePK: device.id, projectPK: project.pk, organizationID: project.organizationID, at: time))
            }
            try published(device, project, tx)
            return created
        }
    }

    // MARK: - DeviceFactorInfo

    public func devicesWithThresholds(_ devicePKs: [Int64]) throws -> Set<Int64> {
        try db.read { try FactorStore(db: $0).devicesWithThresholds(devicePKs) }
    }

    /// Threshold rules of alarm-enabled factors: of one device, or of every device (nil). Alerts loads them at
    /// start and reloads a device's on `FactorsChanged`.
    public func alarmRules(devicePK: Int64? = nil) throws -> [AlarmRule] {
        try db.read { try FactorStore(db: $0).alarmRules(devicePK: devicePK) }
    }

    /// Threshold rules (of one device, or all with nil) read in the caller's transaction (Alerts, inside the
    /// group commit and reacting to `FactorsChanged`).
    public func alarmRules(devicePK: Int64? = nil, in tx: Database) throws -> [AlarmRule] {
        try FactorStore(db: tx).alarmRules(devicePK: devicePK)
    }

    public func factorNames(devicePK: Int64) throws -> [String: String] {
        try db.read { try FactorStore(db: $0).names(devicePK: devicePK) }
    }

    // MARK: - Reactions

    func subscribe(to bus: PlatformBus) {
        // A released device loses its channel configuration with its owner (DECISIONS: factors are per owner).
        bus.subscribe(DeviceUnbound.self, inTransaction: { event, tx in
            _ = try FactorStore(db: tx).deleteAll(devicePK: event.devicePK)
        })
        // A device joins its new owner without channels, even if a racing write of the previous owner left some.
        bus.subscribe(DeviceBound.self, inTransaction: { event, tx in
            _ = try FactorStore(db: tx).deleteAll(devicePK: event.devicePK)
        })
        bus.subscribe(DeviceMoved.self, inTransaction: { event, tx in
            try FactorStore(db: tx).move(devicePK: event.devicePK, toProjectPK: event.toProjectPK)
        })
        bus.subscribe(ProjectTransferred.self, inTransaction: { event, tx in
            try FactorStore(db: tx).moveProject(projectPK: event.project.pk, toOrganizationID: event.toOrganizationID)
        })
        bus.subscribe(ProjectPurged.self, inTransaction: { event, tx in
            try FactorStore(db: tx).deleteProject(projectPK: event.project.pk)
        })
    }
}
