@testable import Devices
import Core
import DomainTestSupport
import Foundation
import Persistence
import Synchronization
import Testing
import TestSupport

/// Telemetry with more than one writer (issue 23 §2): get-or-create of a series from two connections at once, and a
/// group commit in which one device's batch fails. Runs on SQLite and, with `IOT_TEST_DB=postgres`, on PostgreSQL.
@Suite struct TelemetryWritersTests {
    struct Refused: Error {}

    /// Two connections create the same series at the same time: both get the one row's id, neither fails. The first
    /// holds its uncommitted row while the second asks (on PostgreSQL the second's insert waits for it, then reads it).
    @Test(arguments: [false, true]) func twoWritersCreatingOneSeriesGetTheSameID(batched: Bool) throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha")
        let project = try fixture.projects.resolve("alpha", for: fixture.caller("alice"), access: .read)
        func key(_ suffix: String) -> TelemetryStore.SeriesKey {
            TelemetryStore.SeriesKey(devicePK: pk, agriID: "\(device.agriID)-\(suffix)", projectPK: project.pk, organizationID: project.organizationID)
        }
        let contested = key("contested")
        let other = try DatabasePool.open(location: fixture.test.location)
        defer { other.close() }
        let inserted = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let first = Mutex<Result<Int64, any Error>?>(nil)
        let thread = Thread {
            let result = Result {
                try fixture.db.write { tx -> Int64 in
                    let id = try TelemetryStore(db: tx).seriesID(contested, theType: "m")
                    inserted.signal()
                    Thread.sleep(forTimeInterval: 0.3)   // uncommitted while the other writer asks
                    return id
                }
            }
            first.withLock { $0 = result }
            finished.signal()
        }
        thread.start()
        inserted.wait()
        let second: [TelemetryStore.SeriesKey: Int64] = try other.write { tx in
            let store = TelemetryStore(db: tx)
            if batched { return try store.seriesIDs([(key("new"), "m"), (contested, "m")]) }
            return [contested: try store.seriesID(contested, theType: "m")]
        }
        finished.wait()
        let firstID = try #require(try first.withLock { $0 }?.get())
        #expect(second[contested] == firstID)
        if batched { #expect(second[key("new")] != nil && second[key("new")] != firstID) }
        let rows = try fixture.db.read { db in
            try db.queryOne("SELECT COUNT(*) FROM telemetry_series WHERE device_pk = ? AND agri_id = ?", [pk, contested.agriID])?.int(0)
        }
        #expect(rows == 1)
    }

    /// One device's batch whose in-transaction subscriber throws (as a failing alert evaluation would) is refused alone:
    /// the other device's batch of the same group commit is stored and acknowledged.
    @Test func aFailingDeviceDoesNotRefuseTheOtherDevicesOfItsGroup() throws {
        let fixture = try PlatformFixture()
        let (good, goodPK) = try fixture.bound(to: "alpha")
        let (bad, badPK) = try fixture.bound(to: "alpha")
        let project = try fixture.projects.resolve("alpha", for: fixture.caller("alice"), access: .read)
        let bus = PlatformBus()
        bus.subscribe(TelemetryStored.self, inTransaction: { event, _ in
            if event.batches.contains(where: { $0.devicePK == badPK }) { throw Refused() }
        })
        let metrics = MetricsRegistry()
        let ingestor = TelemetryIngestor(db: fixture.db, bus: bus, logger: Logger(level: .error), metrics: metrics)
        defer { ingestor.stop() }
        func batch(_ pk: Int64, _ agriID: String, _ t: Int64) -> TelemetryIngestor.Batch {
            TelemetryIngestor.Batch(devicePK: pk, projectPK: project.pk, projectID: "alpha", organizationID: project.organizationID, theType: "m",
                                    points: [TelemetryPoint(agriID: agriID + "-01", value: Double(t), t: t),
                                             TelemetryPoint(agriID: agriID + "-02", value: Double(t), t: t)], connectTime: t)
        }
        let outcomes = Mutex<[String: String]>([:])
        let answered = DispatchGroup()
        func send(_ name: String, _ batch: TelemetryIngestor.Batch) throws {
            answered.enter()
            try ingestor.ingest(batch) { error in
                outcomes.withLock { $0[name] = error.map { ($0 as? any PlatformError)?.code ?? "\($0)" } ?? "ok" }
                answered.leave()
            }
        }
        // The writer is held while both devices' batches queue up, so that the committer takes them as one group.
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            _ = try? fixture.db.write { _ in
                holding.signal()
                release.wait()
            }
        }
        holder.start()
        holding.wait()
        try send("first", batch(goodPK, good.agriID, 100))   // taken alone; the committer then waits for the writer
        var waited = 0
        while ingestor.queuedPoints > 0, waited < 10_000 {
            Thread.sleep(forTimeInterval: 0.001)
            waited += 1
        }
        try send("bad", batch(badPK, bad.agriID, 200))
        try send("good", batch(goodPK, good.agriID, 200))
        #expect(ingestor.queuedPoints == 4)
        release.signal()
        answered.wait()
        #expect(outcomes.withLock { $0 } == ["first": "ok", "good": "ok", "bad": "UNAVAILABLE"])
        let latest = try fixture.db.read { db in
            (try TelemetryStore(db: db).latest(devicePK: goodPK).map(\.t), try TelemetryStore(db: db).latest(devicePK: badPK).map(\.t))
        }
        #expect(latest.0 == [200, 200])
        #expect(latest.1.isEmpty)
        #expect(metrics.counterValue("telemetry_points_committed_total") == 4)
    }
}
