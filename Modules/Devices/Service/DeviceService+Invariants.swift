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
        for row in try db.query("SELECT id, project_pk, organization_id FROM devices WHERE project_pk IS NOT NULL ORDER BY id") {
            let (pk, projectPK, organizationID) = (row.int(0), row.int(1), row.optionalInt(2))
            guard let project = try projects.project(pk: projectPK, in: db) else {
                violations.append("device \(pk) is bound to project pk \(projectPK), which is not active")
                continue
            }
            if organizationID != project.organizationID {
                violations.append("device \(pk) has organization \(organizationID.map(String.init) ?? "none") but its project "
                                  + "\(project.projectID) belongs to organization \(project.organizationID)")
            }
        }
        for row in try db.query("SELECT id FROM devices WHERE project_pk IS NULL AND organization_id IS NOT NULL ORDER BY id") {
            violations.append("device \(row.int(0)) belongs to an organization but to no project")
        }
        for row in try db.query("""
            SELECT DISTINCT l.device_pk FROM telemetry_latest l JOIN devices d ON d.id = l.device_pk WHERE d.project_pk IS NULL ORDER BY 1
            """) {
            violations.append("unbound device \(row.int(0)) still has latest values")
        }
        for row in try db.query("""
            SELECT s.id, s.device_pk FROM telemetry_series s LEFT JOIN devices d ON d.id = s.device_pk WHERE d.id IS NULL ORDER BY s.id
            """) {
            violations.append("telemetry series \(row.int(0)) belongs to device \(row.int(1)), which does not exist")
        }
        for row in try db.query("""
            SELECT o.series_id FROM telemetry_open_chunks o
            WHERE EXISTS (SELECT 1 FROM telemetry_chunks c WHERE c.series_id = o.series_id AND c.t_last >= o.t_first) ORDER BY 1
            """) {
            violations.append("telemetry series \(row.int(0)) has a sealed chunk that does not end before its open chunk")
        }
        violations += try TelemetryStore(db: db).chunkViolations(limit: 50)
        for row in try db.query("""
            SELECT c.id, c.device_pk FROM device_commands c LEFT JOIN devices d ON d.id = c.device_pk WHERE d.id IS NULL ORDER BY c.id
            """) {
            violations.append("command \(row.int(0)) belongs to device \(row.int(1)), which does not exist")
        }
        return violations
    }
}
