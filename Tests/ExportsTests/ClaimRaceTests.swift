import Core
import DomainTestSupport
@testable import Exports
import Foundation
import Persistence
import Platform
import Synchronization
import Testing
import TestSupport

/// Claims on PostgreSQL whatever `IOT_TEST_DB` says (READ COMMITTED is where a select-then-update claim may double):
/// two claimers, each with a pool of its own as two processes have, race over the same export tasks and the same job
/// for many rounds; a task whose holder stopped renewing its lease is taken over once the lease ran out.
@Suite(.serialized) struct ClaimRaceTests {
    /// The export fixture on a fresh PostgreSQL database, and two more pools on it (two "processes").
    static func postgresFixture(tasks: Int) throws -> (PlatformFixture, [Int64], [DatabasePool]) {
        let url = try TestDatabase.postgresLocation()
        let (fixture, pk, _) = try ExportRunnerTests.fixture(points: 1, config: ["db.url": url, "exports.max_unfinished_per_org": "1000"])
        let ids = try (0..<tasks).map { _ in try ExportRunnerTests.task(fixture, pk).id }
        let pools = try (0..<2).map { _ in try DatabasePool.open(location: url, poolSize: 2) }
        return (fixture, ids, pools)
    }

    @Test func twoClaimersNeverTakeOneExportTaskTwice() throws {
        let (fixture, ids, pools) = try Self.postgresFixture(tasks: 24)
        defer { pools.forEach { $0.close() } }
        let now = fixture.clock.unixSeconds()
        for round in 0..<30 {
            try fixture.db.write { try $0.execute("UPDATE exports_tasks SET status = 'pending', lease_owner = NULL, lease_until_s = NULL, attempts = 0") }
            let (first, second, failures) = ClaimRace.run { index in
                try pools[index].write { tx in
                    try ExportTaskStore(db: tx).claim(owner: "claimer-\(index)", now: now, lease: 30, maxAttempts: 1_000, at: "t")
                }.map { [$0.id] } ?? []
            }
            #expect(failures.isEmpty, "round \(round)")
            #expect(Set(first).isDisjoint(with: second), "round \(round): both claimed \(Set(first).intersection(second).sorted())")
            #expect((first + second).sorted() == ids.sorted(), "round \(round): \(first) \(second)")
        }
    }

    @Test func anExportClaimWhoseHolderStoppedRenewingIsTakenOverAfterItsLease() throws {
        let (fixture, ids, pools) = try Self.postgresFixture(tasks: 1)
        defer { pools.forEach { $0.close() } }
        let start = fixture.clock.unixSeconds()
        func claim(_ index: Int, at now: Int64) throws -> ExportTask? {
            try pools[index].write { try ExportTaskStore(db: $0).claim(owner: "claimer-\(index)", now: now, lease: 30, maxAttempts: 10, at: "t") }
        }
        func renew(_ index: Int, at now: Int64) throws -> Bool {
            try pools[index].write { try ExportTaskStore(db: $0).heartbeat(id: ids[0], owner: "claimer-\(index)", progress: 1, rowCount: 1,
                                                                           leaseUntil: now + 30) }
        }
        #expect(try claim(0, at: start)?.id == ids[0])
        #expect(try claim(1, at: start + 30) == nil)
        // Renewed at +20: still held at +31, when the first lease alone would have run out.
        #expect(try renew(0, at: start + 20))
        #expect(try claim(1, at: start + 31) == nil)
        #expect(try claim(1, at: start + 50) == nil)
        // Its holder stops renewing (killed): the other claimer takes it once the renewed lease ran out.
        let taken = try claim(1, at: start + 51)
        #expect(taken?.id == ids[0] && taken?.attempts == 2)
        // The old holder's heartbeat now finds the task gone from it, and stops its run.
        #expect(try renew(0, at: start + 52) == false)
    }

    /// Counts a job's runs, and runs that overlapped another.
    final class Tally: Sendable {
        let state = Mutex((active: 0, overlaps: 0, runs: 0))
    }

    @Test func twoSchedulersNeverRunOneJobAtOnce() throws {
        let (fixture, _, pools) = try Self.postgresFixture(tasks: 0)
        defer { pools.forEach { $0.close() } }
        _ = fixture
        let tally = Tally()
        let job = Job(name: "test.exclusive", interval: 3_600, lease: 5) {
            tally.state.withLock { state in
                if state.active > 0 { state.overlaps += 1 }
                state.active += 1
            }
            usleep(3_000)
            tally.state.withLock { state in
                state.active -= 1
                state.runs += 1
            }
        }
        let schedulers = (0..<2).map {
            JobScheduler(db: pools[$0], clock: SystemClock(), logger: Logger(level: .error), jobs: [job], leaseSeconds: 5, owner: "scheduler-\($0)")
        }
        var ran = 0
        for round in 0..<40 {
            let outcomes = Mutex<[JobScheduler.Outcome]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                let outcome = schedulers[index].runNow()
                outcomes.withLock { $0.append(contentsOf: outcome) }
            }
            let all = outcomes.withLock { $0 }
            #expect(all.count == 2 && all.allSatisfy { $0.error == nil }, "round \(round): \(all)")
            #expect(all.contains { $0.skipped == nil }, "round \(round): neither ran")
            ran += all.filter { $0.skipped == nil }.count
        }
        let state = tally.state.withLock { $0 }
        #expect(state.overlaps == 0)
        #expect(state.runs == ran)
        #expect(try schedulers[0].states().first?.runs == Int64(ran))
    }
}
