import Core
import Persistence

/// SQL over Devices' telemetry tables: series, points, latest values.
struct TelemetryStore {
    let db: Database

    struct SeriesKey: Hashable, Sendable {
        let devicePK: Int64
        let agriID: String
        let projectPK: Int64
        let organizationID: Int64
    }

    /// The series id for `key`, created when new.
    func seriesID(_ key: SeriesKey, theType: String) throws -> Int64 {
        let select = try db.prepared("""
            SELECT id FROM telemetry_series WHERE device_pk = ? AND agri_id = ? AND project_pk = ? AND organization_id = ?
            """)
        try select.bind(1, key.devicePK)
        try select.bind(2, key.agriID)
        try select.bind(3, key.projectPK)
        try select.bind(4, key.organizationID)
        if let row = try select.first() { return row.int(0) }
        try db.execute("INSERT INTO telemetry_series (device_pk, agri_id, project_pk, organization_id, the_type) VALUES (?, ?, ?, ?, ?)",
                       [key.devicePK, key.agriID, key.projectPK, key.organizationID, theType])
        return db.lastInsertRowID
    }

    /// Writes points and latest values in the group commit through two cached statements, binding by name here only.
    struct PointWriter {
        let insert: PreparedStatement
        let upsertLatest: PreparedStatement

        /// A point; one with the same (series, t) replaces the earlier value.
        func point(series: Int64, t: Int64, value: Double) throws {
            try insert.bind(1, series)
            try insert.bind(2, t)
            try insert.bind(3, value)
            try insert.run()
        }

        /// The latest value of (device, agri_id), kept only when `t` is not older than the stored one.
        func latest(devicePK: Int64, agriID: String, t: Int64, value: Double) throws {
            try upsertLatest.bind(1, devicePK)
            try upsertLatest.bind(2, agriID)
            try upsertLatest.bind(3, t)
            try upsertLatest.bind(4, value)
            try upsertLatest.run()
        }
    }

    func pointWriter() throws -> PointWriter {
        PointWriter(insert: try db.prepared("""
            INSERT INTO telemetry_points (series_id, t, value) VALUES (?, ?, ?)
            ON CONFLICT (series_id, t) DO UPDATE SET value = excluded.value
            """), upsertLatest: try db.prepared("""
            INSERT INTO telemetry_latest (device_pk, agri_id, t, value) VALUES (?, ?, ?, ?)
            ON CONFLICT (device_pk, agri_id) DO UPDATE SET t = excluded.t, value = excluded.value
            WHERE excluded.t >= telemetry_latest.t
            """))
    }

    /// Latest value of every agri_id of a device, by agri_id.
    func latest(devicePK: Int64) throws -> [(agriID: String, value: Double, t: Int64)] {
        try db.query("SELECT agri_id, value, t FROM telemetry_latest WHERE device_pk = ? ORDER BY agri_id", [devicePK])
            .map { ($0.string(0), $0.double(1), $0.int(2)) }
    }

    /// Points of a device's series recorded in its current project, in `[start, end)`, ordered by (t, series), after a cursor.
    func history(devicePK: Int64, projectPK: Int64, organizationID: Int64, agriID: String?, start: Int64, end: Int64,
                 after: (t: Int64, series: Int64)?, limit: Int) throws -> [(series: Int64, agriID: String, t: Int64, value: Double)] {
        var sql = """
            SELECT p.series_id, s.agri_id, p.t, p.value
            FROM telemetry_points p JOIN telemetry_series s ON s.id = p.series_id
            WHERE s.device_pk = ? AND s.project_pk = ? AND s.organization_id = ? AND p.t >= ? AND p.t < ?
            """
        var arguments: [any SQLBindable] = [devicePK, projectPK, organizationID, start, end]
        if let agriID {
            sql += " AND s.agri_id = ?"
            arguments.append(agriID)
        }
        if let after {
            sql += " AND (p.t > ? OR (p.t = ? AND p.series_id > ?))"
            arguments += [after.t, after.t, after.series]
        }
        sql += " ORDER BY p.t, p.series_id LIMIT ?"
        arguments.append(limit)
        return try db.query(sql, arguments).map { ($0.int(0), $0.string(1), $0.int(2), $0.double(3)) }
    }

    func deleteLatest(devicePK: Int64) throws {
        try db.execute("DELETE FROM telemetry_latest WHERE device_pk = ?", [devicePK])
    }

    func moveProject(projectPK: Int64, toOrganizationID: Int64) throws {
        try db.execute("UPDATE telemetry_series SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
    }

    /// Removes every point and series of a project.
    func purge(projectPK: Int64) throws {
        try db.execute("DELETE FROM telemetry_points WHERE series_id IN (SELECT id FROM telemetry_series WHERE project_pk = ?)", [projectPK])
        try db.execute("DELETE FROM telemetry_series WHERE project_pk = ?", [projectPK])
    }

    /// Series ids after `after`, in order, a batch at a time (retention walks them in short transactions).
    func seriesIDs(after: Int64, limit: Int) throws -> [Int64] {
        try db.query("SELECT id FROM telemetry_series WHERE id > ? ORDER BY id LIMIT ?", [after, limit]).map { $0.int(0) }
    }

    /// Removes the points of one series older than `before` (a range of the primary key); returns how many.
    func purgePoints(series: Int64, olderThan before: Int64) throws -> Int {
        try db.execute("DELETE FROM telemetry_points WHERE series_id = ? AND t < ?", [series, before])
        return db.changes
    }
}

extension TelemetryStore {
    /// The series of a device in one project and organization, by agri_id (what an export walks).
    func series(devicePK: Int64, projectPK: Int64, organizationID: Int64) throws -> [(id: Int64, agriID: String)] {
        try db.query("""
            SELECT id, agri_id FROM telemetry_series WHERE device_pk = ? AND project_pk = ? AND organization_id = ? ORDER BY agri_id, id
            """, [devicePK, projectPK, organizationID]).map { ($0.int(0), $0.string(1)) }
    }

    /// How many points of `series` lie in `[start, end)`.
    func pointCount(series: Int64, start: Int64, end: Int64) throws -> Int64 {
        try db.queryOne("SELECT COUNT(*) FROM telemetry_points WHERE series_id = ? AND t >= ? AND t < ?", [series, start, end])?.int(0) ?? 0
    }

    /// One keyset page of a series: points with `after < t < end` (and `t >= start`), in time order, into `page`.
    func page(series: Int64, start: Int64, end: Int64, after: Int64?, limit: Int, into page: inout [(t: Int64, value: Double)]) throws {
        page.removeAll(keepingCapacity: true)
        let from = after.map { max($0 + 1, start) } ?? start
        guard from < end else { return }
        try db.forEach("SELECT t, value FROM telemetry_points WHERE series_id = ? AND t >= ? AND t < ? ORDER BY t LIMIT ?",
                       [series, from, end, limit]) { row in
            page.append((row.int(0), row.double(1)))
            return true
        }
    }
}
