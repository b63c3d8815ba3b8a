import Persistence

/// The reads of Devices' invariant check (`admin-cli check`), over Devices' own tables.
struct DeviceInvariantStore {
    let db: Database

    /// Bound devices: (pk, project pk, organization id).
    func boundDevices() throws -> [(pk: Int64, projectPK: Int64, organizationID: Int64?)] {
        try db.query("SELECT id, project_pk, organization_id FROM devices WHERE project_pk IS NOT NULL ORDER BY id")
            .map { ($0.int(0), $0.int(1), $0.optionalInt(2)) }
    }

    /// Devices with an organization but no project.
    func organizationWithoutProject() throws -> [Int64] {
        try db.query("SELECT id FROM devices WHERE project_pk IS NULL AND organization_id IS NOT NULL ORDER BY id").map { $0.int(0) }
    }

    /// Unbound devices that still have latest values.
    func unboundWithLatestValues() throws -> [Int64] {
        try db.query("""
            SELECT DISTINCT l.device_pk FROM telemetry_latest l JOIN devices d ON d.id = l.device_pk WHERE d.project_pk IS NULL ORDER BY 1
            """).map { $0.int(0) }
    }

    /// Series of devices that do not exist: (series id, device pk).
    func orphanedSeries() throws -> [(series: Int64, devicePK: Int64)] {
        try db.query("""
            SELECT s.id, s.device_pk FROM telemetry_series s LEFT JOIN devices d ON d.id = s.device_pk WHERE d.id IS NULL ORDER BY s.id
            """).map { ($0.int(0), $0.int(1)) }
    }

    /// Series whose open chunk does not come after all their sealed ones.
    func openChunksOverlappingSealed() throws -> [Int64] {
        try db.query("""
            SELECT o.series_id FROM telemetry_open_chunks o
            WHERE EXISTS (SELECT 1 FROM telemetry_chunks c WHERE c.series_id = o.series_id AND c.t_last >= o.t_first) ORDER BY 1
            """).map { $0.int(0) }
    }

    /// Commands of devices that do not exist: (command id, device pk).
    func orphanedCommands() throws -> [(command: Int64, devicePK: Int64)] {
        try db.query("""
            SELECT c.id, c.device_pk FROM device_commands c LEFT JOIN devices d ON d.id = c.device_pk WHERE d.id IS NULL ORDER BY c.id
            """).map { ($0.int(0), $0.int(1)) }
    }
}
