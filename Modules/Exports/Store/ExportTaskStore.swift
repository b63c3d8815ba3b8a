import Core
import Devices
import Persistence

/// SQL over `exports_tasks` and `exports_secrets` (Exports' own tables only).
struct ExportTaskStore {
    let db: Database

    static let columns = """
        id, organization_id, project_pk, name, device_pk, factors, start_time, end_time, format, status, progress, row_count,
        file_size, file_path, error, attempts, schedule_id, create_time, started_at, finished_at, expires_at, interval_s, tz_offset_s,
        aggregates
        """

    static func task(_ row: Row) -> ExportTask {
        ExportTask(id: row.int(0), organizationID: row.int(1), projectPK: row.int(2), name: row.string(3), devicePK: row.optionalInt(4),
                   factors: ExportTaskStore.decodeList(row.string(5)), startTime: row.int(6), endTime: row.int(7),
                   format: ExportFormat(rawValue: row.string(8)) ?? .csv,
                   aggregation: aggregation(interval: row.optionalInt(21), offset: row.optionalInt(22), names: row.optionalString(23)),
                   status: ExportTask.Status(rawValue: row.string(9)) ?? .failed,
                   progress: row.int(10), rowCount: row.int(11), fileSize: row.optionalInt(12), filePath: row.string(13),
                   error: row.optionalString(14), attempts: row.int(15), scheduleID: row.optionalInt(16), createTime: row.string(17),
                   startedAt: row.optionalString(18), finishedAt: row.optionalString(19), expiresAt: row.optionalString(20))
    }

    /// The aggregation stored in `interval_s`, `tz_offset_s` and `aggregates` (nil for a point export).
    static func aggregation(interval: Int64?, offset: Int64?, names: String?) -> AggregationRequest? {
        guard let interval, interval > 0 else { return nil }
        let aggregates = AggregationRequest.parseAggregates(decodeList(names ?? "[]")) ?? [.count]
        return AggregationRequest(interval: interval, offset: offset ?? 0, aggregates: aggregates)
    }

    /// The three column values of an aggregation (NULLs for a point export).
    static func aggregationColumns(_ aggregation: AggregationRequest?) -> [any SQLBindable] {
        guard let aggregation else { return [SQLValue.null, SQLValue.null, SQLValue.null] }
        return [aggregation.interval, aggregation.offset, (encodeList(aggregation.aggregates.map(\.rawValue)))]
    }

    static func encodeList(_ items: [String]) -> String { JSONWriter.string(.array(items.map(JSON.string))) }

    static func decodeList(_ text: String) -> [String] {
        ((try? JSONParser.parse(Array(text.utf8)))?.arrayValue ?? []).compactMap(\.stringValue)
    }

    struct NewTask {
        var organizationID: Int64
        var projectPK: Int64
        var name: String
        var devicePK: Int64?
        var factors: [String]
        var startTime: Int64
        var endTime: Int64
        var format: ExportFormat
        var aggregation: AggregationRequest?
        var scheduleID: Int64?
        var periodStart: Int64?
        var createdBy: String
    }

    /// Inserts a pending task; `filePath(id)` names its file once the id is known. nil when the schedule's period exists.
    func insert(_ new: NewTask, at time: String, filePath: (Int64) -> String) throws -> ExportTask? {
        try db.execute("""
            INSERT INTO exports_tasks (organization_id, project_pk, name, device_pk, factors, start_time, end_time, format, status,
                                       file_path, schedule_id, period_start, created_by, create_time, interval_s, tz_offset_s, aggregates)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', '', ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (schedule_id, period_start) DO NOTHING
            """, [new.organizationID, new.projectPK, new.name, nullable(new.devicePK), Self.encodeList(new.factors), new.startTime,
                  new.endTime, new.format.rawValue, nullable(new.scheduleID), nullable(new.periodStart), new.createdBy, time]
                + Self.aggregationColumns(new.aggregation))
        guard db.changes == 1 else { return nil }
        let id = db.lastInsertRowID
        try db.execute("UPDATE exports_tasks SET file_path = ? WHERE id = ?", [filePath(id), id])
        return try task(id: id)
    }

    func task(id: Int64) throws -> ExportTask? {
        try db.queryOne("SELECT \(Self.columns) FROM exports_tasks WHERE id = ?", [id]).map(Self.task)
    }

    func task(id: Int64, projectPK: Int64) throws -> ExportTask? {
        try db.queryOne("SELECT \(Self.columns) FROM exports_tasks WHERE id = ? AND project_pk = ?", [id, projectPK]).map(Self.task)
    }

    /// A project's tasks, newest first, optionally of one status.
    func tasks(projectPK: Int64, status: ExportTask.Status?, page: PageRequest) throws -> PageResult<ExportTask> {
        var filter = "project_pk = ?"
        var arguments: [any SQLBindable] = [projectPK]
        if let status {
            filter += " AND status = ?"
            arguments.append(status.rawValue)
        }
        let count = try db.queryOne("SELECT COUNT(*) FROM exports_tasks WHERE \(filter)", arguments)?.int(0) ?? 0
        let rows = try db.query("SELECT \(Self.columns) FROM exports_tasks WHERE \(filter) ORDER BY id DESC LIMIT ? OFFSET ?",
                                arguments + [page.limit, page.offset])
        return PageResult(count: count, items: rows.map(Self.task))
    }

    /// Every task, newest first (admin-cli), optionally of one status.
    func all(status: ExportTask.Status?, limit: Int) throws -> [ExportTask] {
        if let status {
            return try db.query("SELECT \(Self.columns) FROM exports_tasks WHERE status = ? ORDER BY id DESC LIMIT ?", [status.rawValue, limit])
                .map(Self.task)
        }
        return try db.query("SELECT \(Self.columns) FROM exports_tasks ORDER BY id DESC LIMIT ?", [limit]).map(Self.task)
    }

    func unfinishedCount(organizationID: Int64) throws -> Int {
        Int(try db.queryOne("SELECT COUNT(*) FROM exports_tasks WHERE organization_id = ? AND status IN ('pending', 'running')",
                            [organizationID])?.int(0) ?? 0)
    }

    /// pending/running → cancelled; false when the task was in another state.
    func cancel(id: Int64, at time: String) throws -> Bool {
        try db.execute("""
            UPDATE exports_tasks SET status = 'cancelled', finished_at = ?, lease_owner = NULL, lease_until_s = NULL
            WHERE id = ? AND status IN ('pending', 'running')
            """, [time, id])
        return db.changes == 1
    }

    func delete(id: Int64) throws {
        try db.execute("DELETE FROM exports_tasks WHERE id = ?", [id])
    }

    // MARK: - Leases

    /// Fails running tasks whose lease ran out after their last allowed try; returns them (only those this call failed:
    /// rows another scheduler is failing at the same moment are passed over on PostgreSQL).
    func failAbandoned(now: Int64, maxAttempts: Int64, at time: String) throws -> [ExportTask] {
        let rows = try db.query("""
            SELECT \(Self.columns) FROM exports_tasks WHERE status = 'running' AND lease_until_s < ? AND attempts >= ?\(db.skipLocked())
            """, [now, maxAttempts]).map(Self.task)
        var failed: [ExportTask] = []
        for task in rows {
            try db.execute("""
                UPDATE exports_tasks SET status = 'failed', error = ?, finished_at = ?, lease_owner = NULL, lease_until_s = NULL
                WHERE id = ? AND status = 'running'
                """, ["the scheduler running it stopped \(task.attempts) times", time, task.id])
            if db.changes == 1 { failed.append(task) }
        }
        return failed
    }

    /// Claims the oldest pending task, or a running one whose lease expired (its scheduler died), for `owner`.
    /// `only` restricts the claim to one task. The candidate is selected `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
    /// two schedulers claiming at once take two different tasks (or one takes it and the other none), never one twice.
    func claim(owner: String, now: Int64, lease: Int64, maxAttempts: Int64, at time: String, only: Int64? = nil) throws -> ExportTask? {
        let candidate = """
            (status = 'pending' OR (status = 'running' AND lease_until_s < ?)) AND attempts < ?
            """
        let found = if let only {
            try db.queryOne("SELECT id FROM exports_tasks WHERE id = ? AND \(candidate)\(db.skipLocked())", [only, now, maxAttempts])
        } else {
            try db.queryOne("SELECT id FROM exports_tasks WHERE \(candidate) ORDER BY id LIMIT 1\(db.skipLocked())", [now, maxAttempts])
        }
        guard let id = found?.int(0) else { return nil }
        // The condition again (a compare-and-set): the row is locked on PostgreSQL and SQLite's writer is alone, so it holds.
        try db.execute("""
            UPDATE exports_tasks SET status = 'running', lease_owner = ?, lease_until_s = ?, attempts = attempts + 1,
                   started_at = COALESCE(started_at, ?), progress = 0, row_count = 0, error = NULL
            WHERE id = ? AND \(candidate)
            """, [owner, now + lease, time, id, now, maxAttempts])
        guard db.changes == 1 else { return nil }
        return try task(id: id)
    }

    /// Progress and lease renewal; false when the task is no longer running under `owner` (cancelled, deleted, taken).
    func heartbeat(id: Int64, owner: String, progress: Int64, rowCount: Int64, leaseUntil: Int64) throws -> Bool {
        try db.execute("""
            UPDATE exports_tasks SET progress = ?, row_count = ?, lease_until_s = ?
            WHERE id = ? AND lease_owner = ? AND status = 'running'
            """, [progress, rowCount, leaseUntil, id, owner])
        return db.changes == 1
    }

    func succeed(id: Int64, owner: String, rowCount: Int64, fileSize: Int64, at time: String, expiresAt: Int64) throws -> Bool {
        try db.execute("""
            UPDATE exports_tasks SET status = 'succeeded', progress = 100, row_count = ?, file_size = ?, finished_at = ?,
                   expires_at = ?, expires_s = ?, lease_owner = NULL, lease_until_s = NULL
            WHERE id = ? AND lease_owner = ? AND status = 'running'
            """, [rowCount, fileSize, time, Timestamp.format(unixSeconds: expiresAt), expiresAt, id, owner])
        return db.changes == 1
    }

    func fail(id: Int64, owner: String, error: String, at time: String) throws -> Bool {
        try db.execute("""
            UPDATE exports_tasks SET status = 'failed', error = ?, finished_at = ?, lease_owner = NULL, lease_until_s = NULL
            WHERE id = ? AND lease_owner = ? AND status = 'running'
            """, [String(error.prefix(2_000)), time, id, owner])
        return db.changes == 1
    }

    /// Succeeded tasks past their expiry (a batch).
    func expired(now: Int64, limit: Int) throws -> [ExportTask] {
        try db.query("SELECT \(Self.columns) FROM exports_tasks WHERE status = 'succeeded' AND expires_s <= ? ORDER BY id LIMIT ?",
                     [now, limit]).map(Self.task)
    }

    func markExpired(id: Int64) throws {
        try db.execute("UPDATE exports_tasks SET status = 'expired' WHERE id = ? AND status = 'succeeded'", [id])
    }

    // MARK: - Projects

    func moveProject(projectPK: Int64, toOrganizationID: Int64) throws {
        try db.execute("UPDATE exports_tasks SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
        try db.execute("UPDATE exports_schedules SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
    }

    /// Removes a project's tasks and schedules; returns the tasks' file paths (removed after commit).
    func deleteProject(projectPK: Int64) throws -> [String] {
        let paths = try db.query("SELECT file_path FROM exports_tasks WHERE project_pk = ?", [projectPK]).map { $0.string(0) }
        try db.execute("DELETE FROM exports_tasks WHERE project_pk = ?", [projectPK])
        try db.execute("DELETE FROM exports_schedules WHERE project_pk = ?", [projectPK])
        return paths
    }

    // MARK: - Invariants

    /// Rows that break the task life cycle: running without a lease, succeeded without a file size or expiry, a
    /// schedule's period exported twice is prevented by the unique key and not checked here.
    func lifecycleViolations() throws -> [String] {
        var violations: [String] = []
        for row in try db.query("SELECT id FROM exports_tasks WHERE status = 'running' AND (lease_owner IS NULL OR lease_until_s IS NULL)") {
            violations.append("export task \(row.int(0)) is running without a lease")
        }
        for row in try db.query("SELECT id FROM exports_tasks WHERE status = 'succeeded' AND (file_size IS NULL OR expires_s IS NULL)") {
            violations.append("export task \(row.int(0)) succeeded without a file size or expiry")
        }
        return violations
    }

    /// Succeeded tasks' ids and relative file paths (their files must exist).
    func succeededFiles() throws -> [(id: Int64, path: String)] {
        try db.query("SELECT id, file_path FROM exports_tasks WHERE status = 'succeeded' ORDER BY id").map { ($0.int(0), $0.string(1)) }
    }

    // MARK: - Secret

    /// The named secret, created from `candidate` the first time (whoever inserts first wins; everyone reads that one).
    func secret(name: String, candidate: String, at time: String) throws -> String {
        try db.execute("INSERT INTO exports_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                       [name, candidate, time])
        return try db.queryOne("SELECT value FROM exports_secrets WHERE name = ?", [name])?.string(0) ?? candidate
    }
}

/// An optional integer as a bound value (NULL when nil).
func nullable(_ value: Int64?) -> SQLValue { value.map(SQLValue.integer) ?? .null }
