import Persistence

/// Alerts' tables. Append-only: never edit a shipped migration, add the next one.
///
/// Times: `*_at` columns are RFC 3339 UTC text (what the API shows); `*_s` columns are Unix seconds for
/// arithmetic (cooldowns, backoff, leases, rate windows).
enum AlertMigrations {
    /// The tables `admin-cli db copy` copies, each before the tables that refer to it (`PlatformModule.copiedTables`).
    static let tables = ["alert_configs", "alert_receivers", "alert_levels", "alert_items", "alert_notifications"]

    static let all: [Migration] = [
        Migration("alerts.001.create-alerts", """
            CREATE TABLE alert_configs (
                project_pk INTEGER PRIMARY KEY,
                organization_id INTEGER NOT NULL,
                enabled INTEGER NOT NULL,
                cooldown_minutes INTEGER NOT NULL,
                sms_enabled INTEGER NOT NULL,
                email_enabled INTEGER NOT NULL,
                webhook_enabled INTEGER NOT NULL,
                offline_alerts_enabled INTEGER NOT NULL,
                offline_after_minutes INTEGER NOT NULL,
                locale TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE TABLE alert_receivers (
                id INTEGER PRIMARY KEY,
                project_pk INTEGER NOT NULL,
                organization_id INTEGER NOT NULL,
                channel TEXT NOT NULL,
                target TEXT NOT NULL,
                name TEXT NOT NULL,
                enabled INTEGER NOT NULL,
                secret TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE INDEX alert_receivers_by_project ON alert_receivers(project_pk, channel);
            CREATE TABLE alert_levels (
                id INTEGER PRIMARY KEY,
                project_pk INTEGER NOT NULL,
                organization_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                the_type TEXT NOT NULL,
                severity TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE INDEX alert_levels_by_project ON alert_levels(project_pk);
            CREATE TABLE alert_items (
                id INTEGER PRIMARY KEY,
                project_pk INTEGER NOT NULL,
                organization_id INTEGER NOT NULL,
                device_pk INTEGER NOT NULL,
                device_id TEXT NOT NULL,
                device_name TEXT NOT NULL,
                level_id INTEGER,
                level_name TEXT NOT NULL,
                severity TEXT NOT NULL,
                the_type TEXT NOT NULL,
                status TEXT NOT NULL,
                rule_key TEXT NOT NULL,
                trigger_data TEXT NOT NULL,
                description TEXT NOT NULL,
                is_test INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                created_s INTEGER NOT NULL,
                resolved_at TEXT,
                cancelled_at TEXT,
                closed_s INTEGER
            );
            CREATE UNIQUE INDEX alert_items_one_active ON alert_items(device_pk, rule_key) WHERE status = 'active';
            CREATE INDEX alert_items_by_project ON alert_items(project_pk, id);
            CREATE INDEX alert_items_by_rule ON alert_items(device_pk, rule_key, closed_s);
            CREATE INDEX alert_items_by_level ON alert_items(level_id);
            CREATE TABLE alert_notifications (
                id INTEGER PRIMARY KEY,
                alert_id INTEGER NOT NULL,
                project_pk INTEGER NOT NULL,
                receiver_id INTEGER NOT NULL,
                channel TEXT NOT NULL,
                target TEXT NOT NULL,
                subject TEXT NOT NULL,
                body TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                last_error TEXT,
                next_attempt_s INTEGER NOT NULL,
                lease_owner TEXT,
                lease_until_s INTEGER,
                created_at TEXT NOT NULL,
                sent_s INTEGER
            );
            CREATE INDEX alert_notifications_due ON alert_notifications(status, next_attempt_s);
            CREATE INDEX alert_notifications_by_alert ON alert_notifications(alert_id);
            CREATE INDEX alert_notifications_by_receiver ON alert_notifications(receiver_id, sent_s);
            """),
    ]
}
