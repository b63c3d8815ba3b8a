import Persistence

/// SQL over the kernel's `scheduler_jobs` table: leases, outcomes, states.
struct JobStore {
    let db: Database

    static let migrations = [
        Migration("platform.001.create-scheduler-jobs", """
            CREATE TABLE scheduler_jobs (
                name TEXT PRIMARY KEY,
                runs INTEGER NOT NULL DEFAULT 0,
                last_started_at INTEGER,
                last_finished_at INTEGER,
                last_error TEXT,
                lease_owner TEXT,
                lease_until INTEGER
            );
            """),
    ]

    /// Takes `name`'s lease for `owner` until `leaseUntil` unless another holds it; unless `ignoringInterval`, only when
    /// `interval` seconds have passed since it last finished. True when taken. The row is selected `FOR UPDATE SKIP
    /// LOCKED` on PostgreSQL: a scheduler claiming it at the same moment makes this one pass, never wait or double.
    func claim(name: String, owner: String, now: Int64, leaseUntil: Int64, interval: Int64, ignoringInterval: Bool) throws -> Bool {
        try db.execute("INSERT INTO scheduler_jobs (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [name])
        let claimable = """
            name = ? AND (lease_until IS NULL OR lease_until < ?) AND (? OR last_finished_at IS NULL OR last_finished_at + ? <= ?)
            """
        guard try db.queryOne("SELECT name FROM scheduler_jobs WHERE \(claimable)\(db.skipLocked())",
                              [name, now, ignoringInterval, interval, now]) != nil else { return false }
        // The row is ours until COMMIT: locked on PostgreSQL, and SQLite's write transaction (BEGIN IMMEDIATE) is the only writer.
        try db.execute("UPDATE scheduler_jobs SET lease_owner = ?, lease_until = ?, last_started_at = ? WHERE name = ?",
                       [owner, leaseUntil, now, name])
        return db.changes == 1
    }

    /// Extends `owner`'s lease on `name` to `leaseUntil` (the heartbeat of a running job); false when it no longer holds it.
    func renew(name: String, owner: String, leaseUntil: Int64) throws -> Bool {
        try db.execute("UPDATE scheduler_jobs SET lease_until = ? WHERE name = ? AND lease_owner = ?", [leaseUntil, name, owner])
        return db.changes == 1
    }

    /// Records a run's end and frees the lease, only while `owner` holds it.
    func finish(name: String, owner: String, now: Int64, error: String?) throws {
        try db.execute("""
            UPDATE scheduler_jobs SET runs = runs + 1, last_finished_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL
            WHERE name = ? AND lease_owner = ?
            """, [now, error.map { String($0.prefix(2_000)) }, name, owner])
    }

    /// Every job row.
    func states() throws -> [JobScheduler.State] {
        try db.query("SELECT name, runs, last_started_at, last_finished_at, last_error, lease_owner FROM scheduler_jobs").map { row in
            JobScheduler.State(name: row.string(0), runs: row.int(1), lastStartedAt: row.optionalInt(2), lastFinishedAt: row.optionalInt(3),
                               lastError: row.optionalString(4), leaseOwner: row.optionalString(5))
        }
    }
}
