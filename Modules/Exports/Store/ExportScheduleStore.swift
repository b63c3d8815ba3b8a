import Core
import Devices
import Persistence

/// SQL over `exports_schedules`.
struct ExportScheduleStore {
    let db: Database

    static let columns = """
        id, organization_id, organization_slug, project_pk, name, device_pk, factors, format, period, hour, weekday, enabled,
        last_run_at, last_period_start, created_at, updated_at, interval_s, tz_offset_s, aggregates
        """

    static func schedule(_ row: Row) -> ExportSchedule {
        ExportSchedule(id: row.int(0), organizationID: row.int(1), organizationSlug: row.string(2), projectPK: row.int(3), name: row.string(4),
                       devicePK: row.optionalInt(5), factors: ExportTaskStore.decodeList(row.string(6)),
                       format: ExportFormat(rawValue: row.string(7)) ?? .csv,
                       aggregation: ExportTaskStore.aggregation(interval: row.optionalInt(16), offset: row.optionalInt(17), names: row.optionalString(18)),
                       period: ExportSchedule.Period(rawValue: row.string(8)) ?? .daily,
                       hour: row.int(9), weekday: row.int(10), enabled: row.int(11) != 0, lastRunAt: row.optionalString(12),
                       lastPeriodStart: row.optionalInt(13), createdAt: row.string(14), updatedAt: row.string(15))
    }

    func insert(organizationID: Int64, organizationSlug: String, projectPK: Int64, name: String, devicePK: Int64?, factors: [String],
                format: ExportFormat, aggregation: AggregationRequest?, period: ExportSchedule.Period, hour: Int64, weekday: Int64, enabled: Bool, createdBy: String,
                at time: String) throws -> ExportSchedule {
        try db.execute("""
            INSERT INTO exports_schedules (organization_id, organization_slug, project_pk, name, device_pk, factors, format, period, hour,
                                           weekday, enabled, created_by, created_at, updated_at, interval_s, tz_offset_s, aggregates)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [organizationID, organizationSlug, projectPK, name, nullable(devicePK), ExportTaskStore.encodeList(factors), format.rawValue,
                  period.rawValue, hour, weekday, enabled, createdBy, time, time] + ExportTaskStore.aggregationColumns(aggregation))
        return try schedule(id: db.lastInsertRowID)!
    }

    func save(_ schedule: ExportSchedule) throws {
        try db.execute("""
            UPDATE exports_schedules SET name = ?, device_pk = ?, factors = ?, format = ?, period = ?, hour = ?, weekday = ?, enabled = ?,
                   updated_at = ?, interval_s = ?, tz_offset_s = ?, aggregates = ? WHERE id = ?
            """, [schedule.name, nullable(schedule.devicePK), ExportTaskStore.encodeList(schedule.factors), schedule.format.rawValue,
                  schedule.period.rawValue, schedule.hour, schedule.weekday, schedule.enabled, schedule.updatedAt]
                + ExportTaskStore.aggregationColumns(schedule.aggregation) + [schedule.id])
    }

    func schedule(id: Int64) throws -> ExportSchedule? {
        try db.queryOne("SELECT \(Self.columns) FROM exports_schedules WHERE id = ?", [id]).map(Self.schedule)
    }

    func schedules(projectPK: Int64) throws -> [ExportSchedule] {
        try db.query("SELECT \(Self.columns) FROM exports_schedules WHERE project_pk = ? ORDER BY id", [projectPK]).map(Self.schedule)
    }

    func enabled() throws -> [ExportSchedule] {
        try db.query("SELECT \(Self.columns) FROM exports_schedules WHERE enabled = 1 ORDER BY id").map(Self.schedule)
    }

    /// Records that the period starting at `periodStart` was handed to a task (only moves forward).
    func markRun(id: Int64, periodStart: Int64, at time: String) throws {
        try db.execute("""
            UPDATE exports_schedules SET last_run_at = ?, last_period_start = ?
            WHERE id = ? AND (last_period_start IS NULL OR last_period_start < ?)
            """, [time, periodStart, id, periodStart])
    }

    func delete(id: Int64) throws {
        try db.execute("DELETE FROM exports_schedules WHERE id = ?", [id])
    }
}
