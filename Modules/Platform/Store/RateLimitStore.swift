import Persistence

/// The kernel's table of failure counters (`rate_limits`): one row per key (`auth.login:addr:…`), its failures and
/// when its window ends (Unix seconds). Shared by every process over the database.
struct RateLimitStore {
    let db: Database

    /// The kernel's failure counters are short-lived windows, not installation data: `db copy` leaves them.
    static let tables = ["rate_limits"]

    static let migrations = [
        Migration("platform.002.create-rate-limits", """
            CREATE TABLE rate_limits (
                key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                window_ends REAL NOT NULL
            );
            CREATE INDEX rate_limits_window_ends ON rate_limits (window_ends);
            """),
    ]

    /// Counts one failure of `key` (a new window ending at `windowEnds` when the last one has passed); returns the failures
    /// of the current window and when it ends. One statement, so concurrent counts of one key never lose one.
    func count(_ key: String, now: Double, windowEnds: Double) throws -> (failures: Int, windowEnds: Double) {
        let row = try db.queryOne("""
            INSERT INTO rate_limits (key, failures, window_ends) VALUES (?, 1, ?)
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN rate_limits.window_ends <= ? THEN 1 ELSE rate_limits.failures + 1 END,
                window_ends = CASE WHEN rate_limits.window_ends <= ? THEN excluded.window_ends ELSE rate_limits.window_ends END
            RETURNING failures, window_ends
            """, [key, windowEnds, now, now])
        return (Int(row?.int(0) ?? 1), row?.double(1) ?? windowEnds)
    }

    /// Takes back one failure of `key`; the row goes when none is left.
    func forgive(_ key: String) throws {
        try db.execute("UPDATE rate_limits SET failures = failures - 1 WHERE key = ?", [key])
        try db.execute("DELETE FROM rate_limits WHERE key = ? AND failures <= 0", [key])
    }

    func reset(_ key: String) throws {
        try db.execute("DELETE FROM rate_limits WHERE key = ?", [key])
    }

    /// Drops counters whose window has passed.
    func prune(now: Double) throws {
        try db.execute("DELETE FROM rate_limits WHERE window_ends <= ?", [now])
    }

    /// Keys counted now (tests).
    func keyCount() throws -> Int {
        Int(try db.queryOne("SELECT COUNT(*) FROM rate_limits")?.int(0) ?? 0)
    }
}
