import Persistence

/// Exports' tables. Append-only: never edit a shipped migration, add the next one.
///
/// Times: `*_time`/`*_at` text columns are RFC 3339 UTC (what the API shows) except `start_time`/`end_time`, Unix seconds
/// as the vendor's task object; `*_s` columns are Unix seconds for arithmetic (leases, expiry, due-ness).
/// A task made by a schedule carries `(schedule_id, period_start)`, unique, so each period is exported exactly once
/// whatever the number of schedulers.
enum ExportMigrations {
    /// The tables `admin-cli db copy` copies, each before the tables that refer to it (`PlatformModule.copiedTables`).
    static let tables = ["exports_schedules", "exports_tasks", "exports_secrets"]

    static let all: [Migration] = [
        Migration("exports.001.create-exports", """
            CREATE TABLE exports_tasks (
                id INTEGER PRIMARY KEY,
                organization_id INTEGER NOT NULL,
                project_pk INTEGER NOT NULL,
                name TEXT NOT NULL,
                device_pk INTEGER,
                factors TEXT NOT NULL,
                start_time INTEGER NOT NULL,
                end_time INTEGER NOT NULL,
                format TEXT NOT NULL CHECK (format IN ('csv', 'xlsx', 'ndjson')),
                status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
                progress INTEGER NOT NULL DEFAULT 0,
                row_count INTEGER NOT NULL DEFAULT 0,
                file_size INTEGER,
                file_path TEXT NOT NULL,
                error TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_until_s INTEGER,
                schedule_id INTEGER,
                period_start INTEGER,
                created_by TEXT NOT NULL,
                create_time TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT,
                expires_at TEXT,
                expires_s INTEGER,
                UNIQUE (schedule_id, period_start)
            );
            CREATE INDEX exports_tasks_by_project ON exports_tasks(project_pk, id);
            CREATE INDEX exports_tasks_by_status ON exports_tasks(status, id);
            CREATE INDEX exports_tasks_by_organization ON exports_tasks(organization_id, status);
            CREATE TABLE exports_schedules (
                id INTEGER PRIMARY KEY,
                organization_id INTEGER NOT NULL,
                organization_slug TEXT NOT NULL,
                project_pk INTEGER NOT NULL,
                name TEXT NOT NULL,
                device_pk INTEGER,
                factors TEXT NOT NULL,
                format TEXT NOT NULL CHECK (format IN ('csv', 'xlsx', 'ndjson')),
                period TEXT NOT NULL CHECK (period IN ('daily', 'weekly')),
                hour INTEGER NOT NULL,
                weekday INTEGER NOT NULL,
                enabled INTEGER NOT NULL,
                last_run_at TEXT,
                last_period_start INTEGER,
                created_by TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE INDEX exports_schedules_by_project ON exports_schedules(project_pk, id);
            CREATE TABLE exports_secrets (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                created_at TEXT NOT NULL
            );
            """),
        // Aggregated exports (DESIGN §5.5, issue 25): a task or schedule with `interval_s` writes buckets of `aggregates`
        // (a JSON list of names, `count` first) aligned to the epoch shifted by `tz_offset_s`; NULL = raw points.
        Migration("exports.002.aggregated-exports", """
            ALTER TABLE exports_tasks ADD COLUMN interval_s INTEGER;
            ALTER TABLE exports_tasks ADD COLUMN tz_offset_s INTEGER;
            ALTER TABLE exports_tasks ADD COLUMN aggregates TEXT;
            ALTER TABLE exports_schedules ADD COLUMN interval_s INTEGER;
            ALTER TABLE exports_schedules ADD COLUMN tz_offset_s INTEGER;
            ALTER TABLE exports_schedules ADD COLUMN aggregates TEXT;
            """),
    ]
}
