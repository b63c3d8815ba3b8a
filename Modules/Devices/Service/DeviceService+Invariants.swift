import Core
import Persistence
import Projects

extension DeviceService {
    /// Devices' invariants (`admin-cli check`): a bound device belongs to its active project's organization, an
    /// unbound one to none and keeps no latest values or commands; every series and command belongs to a device; a series'
    /// open telemetry chunk comes after its sealed ones; every chunk decodes and every sealed chunk's summary matches its
    /// points.
    func invariantViolations(_ db: Database) throws -> [String] {
        var violations: [String] = []
        let store = DeviceInvariantStore(db: db)
        for (pk, projectPK, organizationID) in try store.boundDevices() {
            guard let project = try projects.project(pk: projectPK, in: db) else {
                violations.append("device \(pk) is bound to project pk \(projectPK), which is not active")
                continue
            }
            if organizationID != project.organizationID {
                violations.append("device \(pk) has organization \(organizationID.map(String.init) ?? "none") but its project "
                                  + "\(project.projectID) belongs to organization \(project.organizationID)")
            }
        }
        for pk in try store.organizationWithoutProject() {
            violations.append("device \(pk) belongs to an organization but to no project")
        }
        for pk in try store.unboundWithLatestValues() {
            violations.append("unbound device \(pk) still has latest values")
        }
        for (series, devicePK) in try store.orphanedSeries() {
            violations.append("telemetry series \(series) belongs to device \(devicePK), which does not exist")
        }
        for series in try store.openChunksOverlappingSealed() {
            violations.append("telemetry series \(series) has a sealed chunk that does not end before its open chunk")
        }
        violations += try TelemetryStore(db: db).chunkViolations(limit: 50)
        for (command, devicePK) in try store.orphanedCommands() {
            violations.append("command \(command) belongs to device \(devicePK), which does not exist")
        }
        return violations
    }
}
