import Core
import Foundation
import Persistence

/// Runs the modules' periodic jobs for the `scheduler` program. A job is due when it never finished or
/// last finished at least `interval` seconds ago. Jobs are claimed with a lease in the `scheduler_jobs`
/// table inside a write transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two schedulers (two processes on one
/// database) never run the same job at once. Each job has its own lease (`Job.lease`, else `scheduler.lease`, 30 s),
/// renewed every third of it while the job runs, so a killed scheduler's claim runs out within about one lease.
///
/// `run` gives every job a worker thread of its own: a long `exports.run` never delays `alerts.deliver-notifications`.
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
    /// Who holds the leases this scheduler takes (`host:pid:random`).
    public let owner: String
    /// The lease of a job that names none (`scheduler.lease`).
    let leaseSeconds: Int64

    /// A scheduler of `platform`'s jobs; `leaseSeconds` defaults to `scheduler.lease`.
    public convenience init(platform: Platform, leaseSeconds: Int64? = nil) {
        let configured = Int64(platform.context.config.seconds(KernelKeys.schedulerLease).rounded(.up))
        self.init(db: platform.context.db, clock: platform.context.clock, logger: platform.context.logger, jobs: platform.jobs,
                  leaseSeconds: leaseSeconds ?? configured)
    }

    /// A scheduler of the given jobs (tests run two over one database as two processes would).
    public init(db: DatabasePool, clock: any WallClock, logger: Logger, jobs: [Job], leaseSeconds: Int64 = 30, owner: String? = nil) {
        self.db = db
        self.clock = clock
        self.logger = logger
        self.jobs = jobs
        self.owner = owner ?? "\(ProcessInfo.processInfo.hostName):\(getpid()):\(RandomID.make(length: 6))"
        self.leaseSeconds = max(1, leaseSeconds)
    }

    /// The scheduler's tables: job leases and run counts, state of the processes on one database (`db copy` leaves them).
    public static let tables = ["scheduler_jobs"]

    /// The scheduler's own table (a kernel migration, applied with the modules' ones).
    public static let migrations = JobStore.migrations

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
        let heartbeat = startHeartbeat(job)
        do { try job.run() } catch { failure = String(describing: error) }
        heartbeat.stop()
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

    /// Runs due jobs until `shouldStop` says so: each job on a worker thread of its own, which claims it when due, runs it,
    /// and looks again every `tick` seconds (a slow job delays only itself). Returns once every worker finished its
    /// job in progress.
    public func run(tick: Double = 1, shouldStop: @escaping @Sendable () -> Bool) {
        let workers = DispatchGroup()
        for job in jobs {
            workers.enter()
            let thread = Thread { [self] in
                while !shouldStop() {
                    _ = runOne(job, ignoringInterval: false)
                    var waited = 0.0
                    while waited < tick, !shouldStop() {
                        usleep(50_000)
                        waited += 0.05
                    }
                }
                workers.leave()
            }
            thread.name = "job " + job.name
            thread.start()
        }
        workers.wait()
    }

    /// The job's lease in whole seconds.
    func lease(of job: Job) -> Int64 { job.lease.map { max(1, Int64($0.rounded(.up))) } ?? leaseSeconds }

    /// Takes the job's lease unless another scheduler holds it; unless `ignoringInterval`, only when its interval has passed.
    func claim(_ job: Job, now: Int64, ignoringInterval: Bool = false) throws -> Bool {
        try db.write { db in
            try JobStore(db: db).claim(name: job.name, owner: owner, now: now, leaseUntil: now + lease(of: job),
                                       interval: Int64(job.interval.rounded(.up)), ignoringInterval: ignoringInterval)
        }
    }

    /// A thread that renews the job's lease every third of it until stopped (a failed renewal is logged and tried again
    /// at the next beat; a lease another scheduler took over is not renewed).
    private func startHeartbeat(_ job: Job) -> Heartbeat {
        let lease = lease(of: job)
        return Heartbeat(every: Double(lease) / 3) { [self] in
            let leaseUntil = clock.unixSeconds() + lease
            do {
                let held = try db.write { try JobStore(db: $0).renew(name: job.name, owner: owner, leaseUntil: leaseUntil) }
                if !held { logger.warning("job lease lost while running", ["job": .string(job.name)]) }
            } catch {
                logger.warning("job lease renewal failed", ["job": .string(job.name), "error": .string(String(describing: error))])
            }
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
