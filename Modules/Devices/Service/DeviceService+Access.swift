import Auth
import Core
import Persistence
import Projects

extension DeviceService {
    /// The scope check for routes nested under a device (factors, commands): the project through
    /// Projects' checker, then the device, which must be in that project (else 404 `DEVICE_NOT_FOUND`).
    public func resolveDevice(projectID: String, pk: Int64, caller: Caller, access: Caller.Access) throws -> (ProjectRef, Device) {
        let project = try projects.resolve(projectID, for: caller, access: access)
        return (project, try device(pk, in: project))
    }

    /// The current record of a device (no scope check: for modules reacting to events).
    public func device(pk: Int64) throws -> Device? {
        try db.read { try DeviceStore(db: $0).device(pk: pk) }
    }

    /// Inside the caller's write: 404 `DEVICE_NOT_FOUND` unless the device is (still) in `project`. Modules that
    /// checked the device before opening their transaction call this in it, so a racing unbind or move wins cleanly.
    public func ensureDevice(_ pk: Int64, in project: ProjectRef, tx: Database) throws {
        guard let device = try DeviceStore(db: tx).device(pk: pk), device.projectPK == project.pk else {
            throw DeviceError.notFound(pk: pk, projectID: project.projectID)
        }
    }

    /// The current record of a device, read in the caller's write transaction.
    public func device(pk: Int64, in tx: Database) throws -> Device? {
        try DeviceStore(db: tx).device(pk: pk)
    }

    /// The devices bound to a project, in pk order (no scope check: for modules acting on a project they resolved,
    /// such as Alerts' trigger-test and offline detection).
    public func devices(inProject projectPK: Int64) throws -> [Device] {
        try db.read { try DeviceStore(db: $0).devices(projectPK: projectPK) }
    }

    /// The devices bound to a project, read in the caller's write transaction.
    public func devices(inProject projectPK: Int64, in tx: Database) throws -> [Device] {
        try DeviceStore(db: tx).devices(projectPK: projectPK)
    }

    /// How long a device may stay silent before it counts as offline (`devices.offline_after`), seconds.
    public var offlineAfterSeconds: Int64 { offlineAfter }
}
