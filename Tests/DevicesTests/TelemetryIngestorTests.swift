@testable import Devices
import Core
import DomainTestSupport
import Foundation
import Persistence
import Synchronization
import Testing
import TestSupport

@Suite struct TelemetryIngestorTests {
    /// What an in-transaction subscriber saw of each `TelemetryStored` batch: its first `t`, and whether its points
    /// were already written in that transaction when the event arrived.
    final class Received: Sendable {
        let events = Mutex<[(devicePK: Int64, firstT: Int64, count: Int, visible: Bool)]>([])
    }

    @Test func concurrentRequestsAllLandAndEachBatchIsPublishedOnceAfterCommit() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let bound = try (0..<4).map { _ in try fixture.bound(to: "alpha") }
        let received = Received()
        fixture.bus.subscribe(TelemetryStored.self, inTransaction: { event, tx in
            for batch in event.batches {
                let first = batch.points[0]
                let visible = try tx.queryOne("""
                    SELECT 1 FROM \(storedChunks) c JOIN telemetry_series s ON s.id = c.series_id
                    WHERE s.device_pk = ? AND s.agri_id = ? AND c.t_first <= ? AND c.t_last >= ?
                    """, [batch.devicePK, first.agriID, first.t, first.t]) != nil
                received.events.withLock { $0.append((batch.devicePK, first.t, batch.points.count, visible)) }
            }
        })
        let threads = 12
        let batchesPerThread = 15
        let pointsPerBatch = 25
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let (device, pk) = bound[thread % bound.count]
            for batch in 0..<batchesPerThread {
                let t = Int64(1_000_000 + thread * 10_000 + batch * 100)
                let items = (0..<pointsPerBatch).map { ("\(device.agriID)-\(String(format: "%02d", $0))", Double(batch), Optional(t)) }
                do {
                    let result = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points(items))
                    if result != IngestResult(accepted: pointsPerBatch, dropped: 0) { failures.withLock { $0.append("result \(result)") } }
                    // The answer comes after the commit whose transaction published the batch.
                    let seen = received.events.withLock { events in events.contains { $0.devicePK == pk && $0.firstT == t } }
                    if !seen { failures.withLock { $0.append("batch \(thread)/\(batch) answered before its event") } }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
        let total = threads * batchesPerThread * pointsPerBatch
        #expect(try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == Int64(total))
        let events = received.events.withLock { $0 }
        #expect(events.count == threads * batchesPerThread)
        #expect(Set(events.map { "\($0.devicePK)@\($0.firstT)" }).count == threads * batchesPerThread)
        #expect(events.allSatisfy { $0.visible && $0.count == pointsPerBatch })
        let commits = fixture.test.context.metrics.counterValue("telemetry_commits_total")
        #expect(commits >= 1 && commits <= Double(threads * batchesPerThread))
        #expect(fixture.test.context.metrics.counterValue("telemetry_points_committed_total") == Double(total))
        // connect_time is set on every device that sent something.
        for (_, pk) in bound {
            #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).device.connectTime == fixture.clock.unixSeconds())
        }
    }

    @Test func groupsSpanManyRequestsButRespectTheCommitBound() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha")
        let project = try fixture.projects.resolve("alpha", for: fixture.caller("alice"), access: .read)
        let metrics = MetricsRegistry()
        let ingestor = TelemetryIngestor(db: fixture.db, bus: PlatformBus(), logger: Logger(level: .error), metrics: metrics, maxPointsPerCommit: 100)
        defer { ingestor.stop() }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for batch in 0..<5 {
                let t = Int64(thread * 1000 + batch * 10)
                let points = (0..<40).map { TelemetryPoint(agriID: "\(device.agriID)-\($0)", value: 1, t: t) }
                try? ingestor.ingest(TelemetryIngestor.Batch(devicePK: pk, projectPK: project.pk, projectID: "alpha", organizationID: project.organizationID,
                                                             theType: "m", points: points, connectTime: 5))
            }
        }
        #expect(metrics.counterValue("telemetry_points_committed_total") == 8 * 5 * 40)
        // 40-point batches under a 100-point bound: at most two per transaction.
        #expect(metrics.counterValue("telemetry_commits_total") >= 20)
        #expect(try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 8 * 5 * 40)
    }

    @Test func stopCommitsWhatIsPendingThenRefuses() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha")
        let project = try fixture.projects.resolve("alpha", for: fixture.caller("alice"), access: .read)
        let ingestor = TelemetryIngestor(db: fixture.db, bus: PlatformBus(), logger: Logger(level: .error), metrics: MetricsRegistry())
        func batch(_ t: Int64) -> TelemetryIngestor.Batch {
            TelemetryIngestor.Batch(devicePK: pk, projectPK: project.pk, projectID: "alpha", organizationID: project.organizationID, theType: "m",
                                    points: [TelemetryPoint(agriID: device.agriID, value: 1, t: t)], connectTime: t)
        }
        try ingestor.ingest(batch(1))
        ingestor.stop()
        let refused = apiError { try ingestor.ingest(batch(2)) }
        #expect(refused?.status == 503)
        #expect(try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 1)
    }

    /// Issue 21 §6: programs that never ingest (admin-cli, the scheduler) never start the committer thread; the first
    /// batch starts it, and stopping an ingestor that never ran returns at once.
    @Test func theCommitterThreadStartsWithTheFirstBatch() throws {
        let fixture = try PlatformFixture()
        let idle = TelemetryIngestor(db: fixture.db, bus: PlatformBus(), logger: Logger(level: .error), metrics: MetricsRegistry())
        #expect(!idle.isRunning)
        idle.stop()
        #expect(!idle.isRunning)
        #expect(!fixture.devices.ingestor.isRunning)
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: try fixture.caller("alice"),
                                       body: PlatformFixture.points([("\(device.agriID)-01", 1, 1_000)]))
        #expect(fixture.devices.ingestor.isRunning)
    }
}
