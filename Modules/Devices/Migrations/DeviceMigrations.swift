import Persistence

/// Devices' tables. Append-only: never edit a shipped migration, add the next one.
///
/// Telemetry layout (DESIGN §3.2: the layout decides the ingestion ceiling): points are stored in chunks of one
/// series (`TelemetryChunk`, since devices.005; before, a row per point), keyed by an integer series id and the
/// chunk's first `t`, WITHOUT ROWID; a series is one agri_id of one device in one project and organization, and
/// carries the enrichment (`the_type`, project, org) once instead of on every point.
enum DeviceMigrations {
    /// The tables `admin-cli db copy` copies, each before the tables that refer to it (`PlatformModule.copiedTables`).
    static let tables = ["devices", "telemetry_series", "telemetry_latest", "telemetry_chunks", "telemetry_open_chunks", "device_commands"]

    static let all: [Migration] = [
        Migration("devices.001.create-devices", """
            CREATE TABLE devices (
                id INTEGER PRIMARY KEY,
                device_id TEXT NOT NULL UNIQUE,
                safe_code_hash TEXT NOT NULL,
                device_key_hash TEXT NOT NULL UNIQUE,
                agri_id TEXT NOT NULL UNIQUE,
                model TEXT NOT NULL,
                capabilities TEXT NOT NULL,
                device_name TEXT NOT NULL,
                info TEXT NOT NULL,
                allow INTEGER NOT NULL,
                organization_id INTEGER,
                project_pk INTEGER,
                create_time TEXT NOT NULL,
                bind_time TEXT,
                connect_time INTEGER
            );
            CREATE INDEX devices_by_project ON devices(project_pk);
            CREATE INDEX devices_by_organization ON devices(organization_id);
            """),
        Migration("devices.002.create-telemetry", """
            CREATE TABLE telemetry_series (
                id INTEGER PRIMARY KEY,
                device_pk INTEGER NOT NULL,
                agri_id TEXT NOT NULL,
                project_pk INTEGER NOT NULL,
                organization_id INTEGER NOT NULL,
                the_type TEXT NOT NULL,
                UNIQUE (device_pk, agri_id, project_pk, organization_id)
            );
            CREATE INDEX telemetry_series_by_project ON telemetry_series(project_pk);
            CREATE TABLE telemetry_points (
                series_id INTEGER NOT NULL,
                t INTEGER NOT NULL,
                value REAL NOT NULL,
                PRIMARY KEY (series_id, t)
            ) WITHOUT ROWID;
            CREATE TABLE telemetry_latest (
                device_pk INTEGER NOT NULL,
                agri_id TEXT NOT NULL,
                t INTEGER NOT NULL,
                value REAL NOT NULL,
                PRIMARY KEY (device_pk, agri_id)
            ) WITHOUT ROWID;
            """),
        Migration("devices.003.create-device-commands", """
            CREATE TABLE device_commands (
                id INTEGER PRIMARY KEY,
                device_pk INTEGER NOT NULL,
                kind TEXT NOT NULL,
                command TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'acked', 'failed', 'expired')),
                output TEXT,
                created_by TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at INTEGER NOT NULL,
                delivered_at TEXT,
                finished_at TEXT
            );
            CREATE INDEX device_commands_by_device ON device_commands(device_pk, status, id);
            """),
        // Command history is shown per project (a scoped token of the device's next project must not see it).
        Migration("devices.004.device-commands-project", """
            ALTER TABLE device_commands ADD COLUMN project_pk INTEGER;
            CREATE INDEX device_commands_by_project ON device_commands(device_pk, project_pk, id);
            """),
        // Points move into chunks of one series (`TelemetryChunk`): a group commit writes a row per series instead of
        // a row per point (DECISIONS "Telemetry in chunks"). Existing points are packed series by series.
        Migration("devices.005.telemetry-chunks") { db in
            try db.executeSchema("""
                CREATE TABLE telemetry_chunks (
                    series_id INTEGER NOT NULL,
                    t_first INTEGER NOT NULL,
                    t_last INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    points BLOB NOT NULL,
                    PRIMARY KEY (series_id, t_first)
                ) WITHOUT ROWID;
                CREATE TABLE telemetry_open_chunks (
                    series_id INTEGER PRIMARY KEY,
                    t_first INTEGER NOT NULL,
                    t_last INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    points BLOB NOT NULL
                );
                """)
            var series: Int64?
            var points: [(t: Int64, value: Double)] = []
            func flush() throws {
                guard let id = series else { return }
                for chunk in TelemetryChunk.pack(points) {
                    try db.execute("INSERT INTO telemetry_chunks (series_id, t_first, t_last, count, points) VALUES (?, ?, ?, ?, ?)",
                                   [id, chunk.tFirst, chunk.tLast, chunk.count, chunk.bytes])
                }
                points.removeAll(keepingCapacity: true)
            }
            try db.forEach("SELECT series_id, t, value FROM telemetry_points ORDER BY series_id, t") { row in
                if row.int(0) != series {
                    try flush()
                    series = row.int(0)
                }
                points.append((row.int(1), row.double(2)))
                return true
            }
            try flush()
            try db.executeSchema("DROP TABLE telemetry_points;")
        },
        // Chunk summaries (`TelemetrySummary`; DECISIONS "Chunk codec v2"): minimum, maximum and sum of a sealed chunk's
        // values beside its count, so an aggregation over whole chunks never decodes them. NULL when the chunk holds a
        // NaN (or has no sum). The chunks already stored are summarized here; one that does not decode stays NULL and
        // `admin-cli check` names it.
        Migration("devices.006.telemetry-chunk-summaries") { db in
            try db.executeSchema("""
                ALTER TABLE telemetry_chunks ADD COLUMN value_min REAL;
                ALTER TABLE telemetry_chunks ADD COLUMN value_max REAL;
                ALTER TABLE telemetry_chunks ADD COLUMN value_sum REAL;
                ALTER TABLE telemetry_chunks ADD COLUMN value_sum_error REAL;
                """)
            var summaries: [(series: Int64, tFirst: Int64, summary: TelemetrySummary)] = []
            try db.forEach("SELECT series_id, t_first, t_last, count, points FROM telemetry_chunks ORDER BY series_id, t_first") { row in
                let chunk = TelemetryChunk(tFirst: row.int(1), tLast: row.int(2), count: Int(row.int(3)), bytes: row.blob(4))
                if let points = try? chunk.decoded() {
                    summaries.append((row.int(0), chunk.tFirst, TelemetrySummary(points.lazy.map(\.value))))
                }
                return true
            }
            for entry in summaries where entry.summary != .empty {
                try db.execute("""
                    UPDATE telemetry_chunks SET value_min = ?, value_max = ?, value_sum = ?, value_sum_error = ?
                    WHERE series_id = ? AND t_first = ?
                    """, [entry.summary.min, entry.summary.max, entry.summary.sum, entry.summary.sumError, entry.series, entry.tFirst])
            }
        },
        // Devices over MQTT (DESIGN §5.7): since when a device holds an MQTT connection, and how a command was delivered.
        Migration("devices.007.mqtt", """
            ALTER TABLE devices ADD COLUMN mqtt_connected_since TEXT;
            ALTER TABLE device_commands ADD COLUMN delivered_via TEXT;
            """),
    ]
}
