import Core
import Foundation
import Persistence

/// Runs the modules' periodic jobs for the `scheduler` program. A job is due when it never finished or
/// last finished at least `interval` seconds ago. Jobs are claimed with a lease in the `scheduler_jobs`
/// table inside a write transaction, so two schedulers (two processes on one database) never run the same
/// job at once, and a crashed scheduler's claim expires after `leaseSeconds`.
public final class JobScheduler: Sendable {
    /// What one job run did.
    public struct Outcome: Sendable {
        public let job: String
        public let seconds: Double
        public let error: String?
        /// Why the job did not run (another scheduler holds its lease), or nil when it ran.
        public var skipped: String? = nil
    }

    /// One row of `scheduler_jobs` (`scheduler status`).
    public struct State: Sendable, JSONRepresentable {
        public let name: String
        public let runs: Int64
        public let lastStartedAt: Int64?
        public let lastFinishedAt: Int64?
        public let lastError: String?
        public let leaseOwner: String?

        public var json: JSON {
            .object([
                "name": .string(name), "runs": .int64(runs),
                "last_started_at": lastStartedAt.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null,
                "last_finished_at": lastFinishedAt.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null,
                "last_error": .optional(lastError), "running": .bool(leaseOwner != nil),
            ])
        }
    }

    let db: DatabasePool
    let clock: any WallClock
    let logger: Logger
    let jobs: [Job]
    let owner: String
    let leaseSeconds: Int64

    public init(platform: Platform, leaseSeconds: Int64 = 3_600) {
        db = platform.context.db
        clock = platform.context.clock
        logger = platform.context.logger
        jobs = platform.jobs
        owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(RandomID.make(length: 6))"
        self.leaseSeconds = leaseSeconds
    }

    /// The scheduler's tables: job leases and run counts, state of the processes on one database (`db copy` leaves them).
    public static let tables = ["scheduler_jobs"]

    /// The scheduler's own table (a kernel migration, applied with the modules' ones).
    public static let migrations = [
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

    /// Claims and runs, one after the other, every job that is due now; returns what ran.
    @discardableResult
    public func runDue() -> [Outcome] {
        jobs.compactMap { job in
            let outcome = runOne(job, ignoringInterval: false)
            return outcome.skipped == nil ? outcome : nil
        }
    }

    /// Runs every job (or those named, in the order given) one time now, whatever its interval: each does the work that
    /// is due. A job another scheduler is running (its lease is held) is skipped and says so. `scheduler once`.
    public func runNow(_ names: [String]? = nil) -> [Outcome] {
        let chosen = names.map { names in names.compactMap { name in jobs.first { $0.name == name } } } ?? jobs
        return chosen.map { runOne($0, ignoringInterval: true) }
    }

    private func runOne(_ job: Job, ignoringInterval: Bool) -> Outcome {
        let now = clock.unixSeconds()
        let claimed: Bool
        do {
            claimed = try claim(job, now: now, ignoringInterval: ignoringInterval)
        } catch {
            logger.error("job claim failed", ["job": .string(job.name), "error": .string(String(describing: error))])
            return Outcome(job: job.name, seconds: 0, error: "could not claim the job: \(error)")
        }
        guard claimed else {
            return Outcome(job: job.name, seconds: 0, error: nil, skipped: ignoringInterval ? "another scheduler is running it" : "not due")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var failure: String?
        do { try job.run() } catch { failure = String(describing: error) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        do {
            try finish(job, error: failure)
        } catch {
            logger.error("job finish failed", ["job": .string(job.name), "error": .string(String(describing: error))])
        }
        if let failure {
            logger.error("job failed", ["job": .string(job.name), "error": .string(failure)])
        } else {
            logger.info("job done", ["job": .string(job.name), "seconds": .number(seconds)])
        }
        return Outcome(job: job.name, seconds: seconds, error: failure)
    }

    /// Runs due jobs every `tick` seconds until `shouldStop` says so (checked between jobs and ticks).
    public func run(tick: Double = 1, shouldStop: @Sendable () -> Bool) {
        while !shouldStop() {
            runDue()
            var waited = 0.0
            while waited < tick, !shouldStop() {
                usleep(50_000)
                waited += 0.05
            }
        }
    }

    /// Takes the job's lease unless another scheduler holds it; unless `ignoringInterval`, only when its interval has passed.
    func claim(_ job: Job, now: Int64, ignoringInterval: Bool = false) throws -> Bool {
        try db.write { db in
            try JobStore(db: db).claim(name: job.name, owner: owner, now: now,
                                       leaseUntil: now + (job.lease.map { Int64($0.rounded(.up)) } ?? leaseSeconds),
                                       interval: Int64(job.interval.rounded(.up)), ignoringInterval: ignoringInterval)
        }
    }

    func finish(_ job: Job, error: String?) throws {
        let now = clock.unixSeconds()
        try db.write { db in try JobStore(db: db).finish(name: job.name, owner: owner, now: now, error: error) }
    }

    /// Every known job's state (jobs that never ran have no row yet and show zero runs).
    public func states() throws -> [State] {
        var byName: [String: State] = [:]
        for state in try db.read({ try JobStore(db: $0).states() }) { byName[state.name] = state }
        return jobs.map { job in
            byName[job.name] ?? State(name: job.name, runs: 0, lastStartedAt: nil, lastFinishedAt: nil, lastError: nil, leaseOwner: nil)
        }
    }
}
