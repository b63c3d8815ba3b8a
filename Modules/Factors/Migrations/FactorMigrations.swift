import Persistence

/// Factors' tables. Append-only: never edit a shipped migration, add the next one.
enum FactorMigrations {
    /// The tables `admin-cli db copy` copies, each before the tables that refer to it (`PlatformModule.copiedTables`).
    static let tables = ["factors", "sensor_modules"]

    static let all: [Migration] = [
        Migration("factors.001.create-factors-and-modules", """
            CREATE TABLE factors (
                id INTEGER PRIMARY KEY,
                device_pk INTEGER NOT NULL,
                project_pk INTEGER NOT NULL,
                organization_id INTEGER NOT NULL,
                agri_id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                unit TEXT NOT NULL,
                slave_id INTEGER NOT NULL,
                function_code INTEGER NOT NULL,
                register INTEGER NOT NULL,
                data_type TEXT NOT NULL,
                byte_order TEXT NOT NULL,
                scale REAL NOT NULL,
                offset_value REAL NOT NULL,
                decimals INTEGER NOT NULL,
                threshold_min REAL,
                threshold_max REAL,
                alarm_enabled INTEGER NOT NULL,
                sort INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE INDEX factors_by_device ON factors(device_pk);
            CREATE INDEX factors_by_project ON factors(project_pk);
            CREATE TABLE sensor_modules (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                model TEXT NOT NULL UNIQUE,
                factors TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            """),
    ]
}
