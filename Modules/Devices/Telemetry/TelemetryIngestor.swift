import Core
import Foundation
import Persistence
import Synchronization

/// Group commit for telemetry (DESIGN §3.2): request threads hand their points to one committer thread
/// and wait; the committer takes everything pending, writes it in one transaction, commits, then wakes
/// every waiter. A request is answered only after its points are committed, and concurrent requests
/// share transactions, so the commit cost (and the WAL sync) is paid per group, not per request.
final class TelemetryIngestor: Sendable {
    /// One request's points for one device, already validated and enriched.
    struct Batch: Sendable {
        let devicePK: Int64
        let projectPK: Int64
        let projectID: String
        let organizationID: Int64
        let theType: String
        let points: [TelemetryPoint]
        let connectTime: Int64
    }

    /// A queued request: signalled once its batch is committed (or failed), and its callback called if it has one.
    final class Ticket: Sendable {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<(any Error)?>(nil)
        /// Called on the committer thread after the commit (nil: the request waits on `done`).
        let callback: (@Sendable ((any Error)?) -> Void)?
        init(callback: (@Sendable ((any Error)?) -> Void)? = nil) { self.callback = callback }
    }

    private struct Pending {
        var batches: [(Batch, Ticket)] = []
        var points = 0
        var stopping = false
        /// The committer thread starts with the first batch: programs that never ingest (admin-cli, the scheduler) never
        /// run it.
        var started = false
    }

    private let db: DatabasePool
    private let bus: PlatformBus
    private let clock: any WallClock
    private let logger: Logger
    private let metrics: MetricsRegistry
    private let condition = NSCondition()
    private let pending = Mutex(Pending())
    private let seriesCache = Mutex<[TelemetryStore.SeriesKey: Int64]>([:])
    private let stopped = DispatchSemaphore(value: 0)
    private let stopRequested = Atomic<Bool>(false)
    /// The committer thread's id (ingest refuses to be called from it).
    private let committerThread = Atomic<UInt>(0)
    /// `PRAGMA data_version` of the writer at the last group commit (changes when another process commits).
    private let lastDataVersion = Atomic<Int64>(-1)
    /// Upper bound of points per transaction (a larger group waits for the next one).
    let maxPointsPerCommit: Int

    init(db: DatabasePool, bus: PlatformBus, clock: any WallClock = SystemClock(), logger: Logger, metrics: MetricsRegistry,
         maxPointsPerCommit: Int = 50_000) {
        self.db = db
        self.bus = bus
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.maxPointsPerCommit = maxPointsPerCommit
        metrics.registerGauge("telemetry_queue_points", help: "Telemetry points waiting for the group commit.") { [unowned self] in
            Double(pending.withLock { $0.points })
        }
    }

    /// Points queued and not yet taken by the committer.
    var queuedPoints: Int { pending.withLock { $0.points } }

    /// Whether the committer thread has been started (by a first batch).
    var isRunning: Bool { pending.withLock { $0.started } }

    /// Queues `batch` and blocks until it is committed; throws what the commit threw.
    func ingest(_ batch: Batch) throws {
        // Waiting for the committer from the committer itself (a TelemetryStored subscriber ingesting) or from
        // inside a write (the committer needs the writer) would never end: refuse instead.
        guard UInt(pthread_self()) != committerThread.load(ordering: .relaxed), !db.isWritingOnThisThread else {
            throw APIError.internalError("Telemetry cannot be ingested from inside a write or a commit")
        }
        let ticket = Ticket()
        try enqueue(batch, ticket)
        guard ticket.done.wait(timeout: .now() + 60) == .success else {
            // Not known to be committed; a retry is harmless (a point with the same agri_id and t replaces itself).
            throw APIError.unavailable("Telemetry commit is taking too long; retry", retryAfter: 1)
        }
        if let error = ticket.outcome.withLock({ $0 }) { throw error }
    }

    /// Queues `batch` without waiting: `completion` is called on the committer thread once it is committed (nil) or
    /// failed (the error). No thread waits meanwhile, and none times out: the committer answers every batch it took,
    /// and `stop` commits what is queued before it returns. Throws (without calling `completion`) when shutting down.
    func ingest(_ batch: Batch, completion: @escaping @Sendable ((any Error)?) -> Void) throws {
        try enqueue(batch, Ticket(callback: completion))
    }

    private func enqueue(_ batch: Batch, _ ticket: Ticket) throws {
        let (accepted, start) = pending.withLock { state -> (Bool, Bool) in
            guard !state.stopping else { return (false, false) }
            state.batches.append((batch, ticket))
            state.points += batch.points.count
            defer { state.started = true }
            return (true, !state.started)
        }
        guard accepted else { throw APIError.unavailable("The server is shutting down") }
        if start {
            let thread = Thread { [self] in run() }
            thread.name = "telemetry-committer"
            thread.start()
        }
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    /// Forgets cached series ids (after a purge removed series).
    func forgetSeries() {
        seriesCache.withLock { $0.removeAll() }
    }

    /// Commits what is pending, then stops the committer thread.
    func stop() {
        guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let started = pending.withLock { state -> Bool in
            state.stopping = true
            return state.started
        }
        guard started else { return }
        condition.lock()
        condition.signal()
        condition.unlock()
        _ = stopped.wait(timeout: .now() + 30)
    }

    private func takeGroup() -> (group: [(Batch, Ticket)], stop: Bool) {
        pending.withLock { state in
            var taken = 0
            var count = 0
            for (batch, _) in state.batches {
                if count > 0, taken + batch.points.count > maxPointsPerCommit { break }
                taken += batch.points.count
                count += 1
            }
            let group = Array(state.batches.prefix(count))
            state.batches.removeFirst(count)
            state.points -= taken
            return (group, state.stopping && state.batches.isEmpty)
        }
    }

    private func run() {
        committerThread.store(UInt(pthread_self()), ordering: .relaxed)
        while true {
            var (group, stop) = takeGroup()
            if group.isEmpty {
                if stop { break }
                condition.lock()
                if pending.withLock({ $0.batches.isEmpty && !$0.stopping }) { _ = condition.wait(until: Date().addingTimeInterval(1)) }
                condition.unlock()
                continue
            }
            commit(group)
            group.removeAll()
            if stop { break }
        }
        stopped.signal()
    }

    private func commit(_ group: [(Batch, Ticket)]) {
        let started = DispatchTime.now().uptimeNanoseconds
        var failure: (any Error)?
        var moved = Set<Int>()
        /// Batches refused alone, when the group was retried device by device: index → error.
        var refused: [Int: any Error] = [:]
        do {
            moved = try db.write { tx in try write(group.map(\.0), tx) }
        } catch {
            // A failed series insert may have cached ids of rolled-back rows.
            forgetSeries()
            // One device's failure (an alert evaluation that throws, a conflict with another writer) must not refuse
            // the others' points: the group is written again, once, in a new transaction, each device in a savepoint of
            // its own. (A conflict with another writer, such as two api-servers opening one series' chunk, passes then.)
            logger.warning("telemetry group commit failed; retrying device by device",
                           ["batches": .int(group.count), "error": .string(String(describing: error))])
            do {
                (moved, refused) = try db.write { tx in try writeByDevice(group.map(\.0), tx) }
                if !refused.isEmpty { forgetSeries() }
            } catch {
                failure = error
                forgetSeries()
            }
            if let failure {
                logger.error("telemetry commit failed", ["batches": .int(group.count), "error": .string(String(describing: failure))])
            }
            for (index, error) in refused.sorted(by: { $0.key < $1.key }) {
                logger.error("telemetry of one device refused", ["device_pk": .int64(group[index].0.devicePK), "error": .string(String(describing: error))])
            }
        }
        let points = group.enumerated().reduce(0) { $0 + (moved.contains($1.offset) || refused[$1.offset] != nil ? 0 : $1.element.0.points.count) }
        if failure == nil {
            metrics.increment("telemetry_points_committed_total", by: Double(points), help: "Telemetry points committed.")
            metrics.increment("telemetry_commits_total", help: "Group-commit transactions of telemetry.")
            metrics.increment("telemetry_commit_seconds_total", by: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                              help: "Time spent in telemetry commits.")
        }
        // Nothing of the group is stored: the client may retry (503 with Retry-After, DESIGN §3.4).
        let retryAfter = (failure as? any TransientFailure)?.retryAfterSeconds ?? 1
        for (index, (batch, ticket)) in group.enumerated() {
            if failure != nil || refused[index] != nil {
                ticket.outcome.withLock { $0 = APIError.unavailable("Telemetry could not be stored; retry", retryAfter: retryAfter) }
            } else if moved.contains(index) {
                ticket.outcome.withLock { $0 = DeviceError.leftProject(pk: batch.devicePK, projectID: batch.projectID) }
            }
            ticket.done.signal()
            if let callback = ticket.callback { callback(ticket.outcome.withLock { $0 }) }
        }
    }

    /// The group again, each device's batches in a savepoint of their own (after the whole group failed once): returns
    /// the moved batches as `write` does, and the batches of devices whose savepoint failed, with the error.
    private func writeByDevice(_ batches: [Batch], _ tx: Database) throws -> (moved: Set<Int>, refused: [Int: any Error]) {
        var order: [Int64] = []
        var indexes: [Int64: [Int]] = [:]
        for (index, batch) in batches.enumerated() {
            if indexes[batch.devicePK] == nil { order.append(batch.devicePK) }
            indexes[batch.devicePK, default: []].append(index)
        }
        var moved = Set<Int>()
        var refused: [Int: any Error] = [:]
        for device in order.sorted() {
            let mine = indexes[device] ?? []
            do {
                let movedHere = try tx.savepoint { tx in try write(mine.map { batches[$0] }, tx) }
                for local in movedHere { moved.insert(mine[local]) }
            } catch {
                // A savepoint whose release or rollback failed leaves the transaction unusable: then everyone fails.
                if !tx.isTransactionUsable { throw error }
                for index in mine { refused[index] = error }
            }
        }
        return (moved, refused)
    }

    /// Stores every point (one run per series, `TelemetryStore.PointWriter`), keeps one latest value per (device, agri_id) and the newest connect_time per device.
    /// Returns the indexes of batches whose device left the batch's project (or organization) after the request
    /// was validated: those are not stored (the device's next owner never receives them).
    private func write(_ batches: [Batch], _ tx: Database) throws -> Set<Int> {
        let store = TelemetryStore(db: tx)
        let writer = try store.pointWriter(batching: true)
        // Keyed by series id: an integer hash per point instead of hashing the key's text again.
        // Each series' points of the whole group, in arrival order: written as one run per series, whose newest point
        // is the series' latest value.
        var runs: [Int64: (key: TelemetryStore.SeriesKey, points: [(t: Int64, value: Double)])] = [:]
        // Series ids by point position, per device: a device's requests usually list its channels in the same order,
        // so comparing one agri_id finds the series without hashing the key (a profile's 7 % of the committer).
        var seriesByPosition: [Int64: [(agriID: String, series: Int64)]] = [:]
        var contact: [Int64: Int64] = [:]
        let postgres = tx.dialect == .postgres
        if !postgres {
            // Another process (admin-cli purge) may have deleted series since the last group: start over then.
            // (On PostgreSQL a purge first unbinds the project's devices, whose rows this commit locks: a cached id of a
            // purged series can never pass the placement check below.)
            let version = try tx.dataVersion()
            if version != lastDataVersion.load(ordering: .relaxed) {
                forgetSeries()
                lastDataVersion.store(version, ordering: .relaxed)
            }
        }
        var cache = seriesCache.withLock { $0 }
        var cacheChanged = false
        let devices = DeviceStore(db: tx)
        // Every device of the group read at once (on PostgreSQL one round trip, with BEGIN, each row locked).
        let found = try devices.devicesForIngest(pks: batches.map(\.devicePK))
        var placement: [Int64: Device?] = [:]
        for batch in batches { placement[batch.devicePK] = .some(found[batch.devicePK]) }
        // PostgreSQL: series missing from the cache get a stand-in id (negative) now, and are all read or created at
        // once after the loop; SQLite reads or creates each at once (a local call).
        var standIns: [(key: TelemetryStore.SeriesKey, theType: String)] = []
        func resolve(_ key: TelemetryStore.SeriesKey, theType: String) throws -> Int64 {
            guard postgres else { return try store.seriesID(key, theType: theType) }
            standIns.append((key, theType))
            return -Int64(standIns.count)
        }
        var moved = Set<Int>()
        for (index, batch) in batches.enumerated() {
            guard let current = placement[batch.devicePK] ?? nil, current.projectPK == batch.projectPK,
                  current.organizationID == batch.organizationID else {
                moved.insert(index)
                continue
            }
            // Every batch of a device kept in this group is in the device's current project and organization.
            var byPosition = seriesByPosition.removeValue(forKey: batch.devicePK) ?? []
            func key(_ agriID: String) -> TelemetryStore.SeriesKey {
                TelemetryStore.SeriesKey(devicePK: batch.devicePK, agriID: agriID, projectPK: batch.projectPK, organizationID: batch.organizationID)
            }
            for (position, point) in batch.points.enumerated() {
                let series: Int64
                if position < byPosition.count, byPosition[position].agriID == point.agriID {
                    series = byPosition[position].series
                } else {
                    let key = key(point.agriID)
                    if let known = cache[key] {
                        series = known
                    } else {
                        series = try resolve(key, theType: batch.theType)
                        cache[key] = series
                        cacheChanged = true
                    }
                    if position < byPosition.count {
                        byPosition[position] = (point.agriID, series)
                    } else if position == byPosition.count {
                        byPosition.append((point.agriID, series))
                    }
                }
                runs[series, default: (key(point.agriID), [])].points.append((point.t, point.value))
            }
            seriesByPosition[batch.devicePK] = byPosition
            contact[batch.devicePK] = max(contact[batch.devicePK] ?? 0, batch.connectTime)
        }
        /// Replaces stand-in (or vanished) series ids in `runs` and the cache with ids read or created now.
        func replace(_ entries: [(id: Int64, key: TelemetryStore.SeriesKey, theType: String)]) throws -> [Int64] {
            let ids = try store.seriesIDs(entries.map { ($0.key, $0.theType) })
            var replaced: [Int64] = []
            for entry in entries {
                guard let id = ids[entry.key] else { throw APIError.internalError("a telemetry series was not created") }
                if let run = runs.removeValue(forKey: entry.id) { runs[id, default: (run.key, [])].points.append(contentsOf: run.points) }
                cache[entry.key] = id
                cacheChanged = true
                replaced.append(id)
            }
            return replaced
        }
        if !standIns.isEmpty {
            _ = try replace(standIns.enumerated().map { (-Int64($0.offset + 1), $0.element.key, $0.element.theType) })
        }
        var known: [Int64: TelemetryStore.Known]?
        if let answer = try store.known(series: Array(runs.keys)) {
            known = answer.known
            if !answer.vanished.isEmpty {
                // Deleted by another process since their ids were cached: read or created again, so that points never
                // go to a deleted series.
                let entries = answer.vanished.sorted().compactMap { id -> (id: Int64, key: TelemetryStore.SeriesKey, theType: String)? in
                    guard let key = runs[id]?.key else { return nil }
                    return (id, key, batches.first { $0.devicePK == key.devicePK }?.theType ?? "")
                }
                let replaced = try replace(entries)
                if let more = try store.known(series: replaced) { known?.merge(more.known) { $1 } }
            }
        }
        for series in runs.keys.sorted() {
            guard let run = runs[series] else { continue }
            let points = TelemetryChunk.normalized(run.points)
            try writer.write(series: series, points: points, known: known?[series])
            // The newest point; at equal times the later one given, as `normalized` keeps it.
            if let newest = points.last {
                try writer.latest(devicePK: run.key.devicePK, agriID: run.key.agriID, t: newest.t, value: newest.value)
            }
        }
        try writer.flush()
        for (pk, time) in contact { try devices.touch(pk: pk, connectTime: time) }
        // Other processes drop these devices' latest values and count the contact (PostgreSQL; rides with the COMMIT).
        tx.announce(DeviceService.dataTopic, scopes: contact.keys)
        let stored = batches.enumerated().compactMap { index, batch -> TelemetryStored.Batch? in
            guard !moved.contains(index), let device = placement[batch.devicePK] ?? nil else { return nil }
            return TelemetryStored.Batch(devicePK: batch.devicePK, projectPK: batch.projectPK, organizationID: batch.organizationID,
                                         points: batch.points, device: device)
        }
        if !stored.isEmpty {
            let now = clock.unixSeconds()
            try bus.publish(TelemetryStored(batches: stored, now: now), in: tx)
            try bus.publish(DeviceContacted(devicePKs: Array(contact.keys).sorted(), now: now), in: tx)
        }
        if cacheChanged {
            // Merged under the writer lock (not after commit), so it is ordered with a purge's `forgetSeries`,
            // which runs inside its own write transaction; a rollback clears the cache (see `commit`).
            seriesCache.withLock { $0.merge(cache) { _, new in new } }
        }
        return moved
    }
}
