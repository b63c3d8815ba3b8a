@testable import Devices
import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Synchronization
import Testing
import TestSupport

/// Regression tests of the review hardening: bind limits per organization, the group commit's recheck of
/// each batch's device, history per current project, and cached series ids vs another process's writes.
@Suite struct DeviceBindLimitPerOrganizationTests {
    @Test func wrongCodesOfOneOrganizationDoNotLockAnotherOutOfTheDevice() throws {
        let fixture = try PlatformFixture()   // default: 5 failures per 15 minutes
        let device = try fixture.provision(1)[0]
        let alice = try fixture.caller("alice")
        for attempt in 1...5 {
            let error = apiError { _ = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: "ZZ99", caller: alice) }
            #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND", "attempt \(attempt)")
        }
        // Org A's 6th try is refused, even with the right code.
        let limited = apiError {
            _ = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: device.safeCode, caller: alice)
        }
        #expect(limited?.status == 429 && limited?.code == "RATE_LIMITED")
        // Within org A, another token is still limited on this device.
        #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: device.safeCode,
                                                      caller: fixture.caller("bob")) } == 429)
        // Org B, holding the right code, binds it.
        let gina = try fixture.caller("gina")
        let bound = try fixture.devices.bind(projectID: "gamma", deviceID: device.deviceID, safeCode: device.safeCode, caller: gina)
        #expect(bound.project?.projectID == "gamma")
    }
}

@Suite struct GroupCommitRecheckTests {
    final class Published: Sendable {
        let devices = Mutex<[Int64]>([])
    }

    struct Setup: Sendable {
        let fixture: PlatformFixture
        let ingestor: TelemetryIngestor
        let metrics: MetricsRegistry
        let published: Published
        let alice: Caller
        let alpha: ProjectRef
        let beta: ProjectRef
    }

    func setup() throws -> Setup {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let bus = PlatformBus()
        let published = Published()
        bus.subscribe(TelemetryStored.self, inTransaction: { event, _ in published.devices.withLock { $0.append(contentsOf: event.batches.map(\.devicePK)) } })
        let metrics = MetricsRegistry()
        let ingestor = TelemetryIngestor(db: fixture.db, bus: bus, logger: Logger(level: .error), metrics: metrics)
        return Setup(fixture: fixture, ingestor: ingestor, metrics: metrics, published: published, alice: alice,
                     alpha: try fixture.projects.resolve("alpha", for: alice, access: .read),
                     beta: try fixture.projects.resolve("beta", for: alice, access: .read))
    }

    func batch(_ pk: Int64, _ agriID: String, in project: ProjectRef, t: Int64) -> TelemetryIngestor.Batch {
        TelemetryIngestor.Batch(devicePK: pk, projectPK: project.pk, projectID: project.projectID, organizationID: project.organizationID,
                                theType: "m", points: [TelemetryPoint(agriID: "\(agriID)-01", value: Double(t), t: t)], connectTime: t)
    }

    func seriesCount(_ fixture: PlatformFixture, _ pk: Int64) throws -> Int64? {
        try fixture.db.read { try $0.queryOne("SELECT COUNT(*) FROM telemetry_series WHERE device_pk = ?", [pk])?.int(0) }
    }

    @Test func aBatchValidatedForAProjectTheDeviceLeftIsNotStoredAnd404() throws {
        let s = try setup()
        defer { s.ingestor.stop() }
        let (device, pk) = try s.fixture.bound(to: "alpha")
        // Validated while the device was in alpha; unbound before the committer got to it.
        let stale = batch(pk, device.agriID, in: s.alpha, t: 1_000)
        try s.fixture.devices.unbind(projectID: "alpha", pk: pk, caller: s.alice)
        let error = apiError { try s.ingestor.ingest(stale) }
        #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND")
        #expect(try seriesCount(s.fixture, pk) == 0)
        #expect(try s.fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 0)
        #expect(try s.fixture.db.read { try $0.queryOne("SELECT COUNT(*) FROM telemetry_latest WHERE device_pk = ?", [pk])?.int(0) } == 0)
        // No contact recorded, no event published, nothing counted as committed.
        #expect(try s.fixture.db.read { try DeviceStore(db: $0).device(pk: pk) }?.connectTime == nil)
        #expect(s.published.devices.withLock { $0 }.isEmpty)
        #expect(s.metrics.counterValue("telemetry_points_committed_total") == 0)
    }

    @Test func aBatchValidatedBeforeAMoveIsRefusedAndOneForTheNewProjectIsStored() throws {
        let s = try setup()
        defer { s.ingestor.stop() }
        let (device, pk) = try s.fixture.bound(to: "alpha")
        let stale = batch(pk, device.agriID, in: s.alpha, t: 1_000)
        _ = try s.fixture.devices.setProject(projectID: "alpha", pk: pk, targetProjectID: "beta", caller: s.alice)
        #expect(apiError { try s.ingestor.ingest(stale) }?.code == "DEVICE_NOT_FOUND")
        try s.ingestor.ingest(batch(pk, device.agriID, in: s.beta, t: 2_000))
        let rows = try s.fixture.db.read {
            try $0.query("SELECT s.project_pk, c.t_first FROM \(storedChunks) c JOIN telemetry_series s ON s.id = c.series_id WHERE s.device_pk = ?", [pk])
                .map { "\($0.int(0))@\($0.int(1))" }
        }
        #expect(rows == ["\(s.beta.pk)@2000"])
        #expect(s.published.devices.withLock { $0 } == [pk])
        #expect(s.metrics.counterValue("telemetry_points_committed_total") == 1)
    }

    @Test func staleAndCurrentBatchesInTheSameGroupsAreSortedOutOneByOne() throws {
        let s = try setup()
        defer { s.ingestor.stop() }
        let (gone, gonePK) = try s.fixture.bound(to: "alpha")
        let (kept, keptPK) = try s.fixture.bound(to: "alpha")
        try s.fixture.devices.unbind(projectID: "alpha", pk: gonePK, caller: s.alice)
        let outcomes = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<10 {
                let t = Int64(10_000 + thread * 100 + index)
                let stale = thread % 2 == 0
                let error = apiError {
                    try s.ingestor.ingest(stale ? batch(gonePK, gone.agriID, in: s.alpha, t: t) : batch(keptPK, kept.agriID, in: s.alpha, t: t))
                }
                outcomes.withLock { $0.append("\(stale ? "stale" : "kept") \(error?.code ?? "OK")") }
            }
        }
        let counted = Dictionary(grouping: outcomes.withLock { $0 }, by: { $0 }).mapValues(\.count)
        #expect(counted == ["stale DEVICE_NOT_FOUND": 40, "kept OK": 40])
        #expect(try seriesCount(s.fixture, gonePK) == 0)
        #expect(try s.fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 40)
        #expect(Set(s.published.devices.withLock { $0 }) == [keptPK])
        #expect(s.published.devices.withLock { $0 }.count == 40)
        #expect(s.metrics.counterValue("telemetry_points_committed_total") == 40)
    }
}

@Suite struct HistoryPerCurrentProjectTests {
    @Test func historyThroughTheNewProjectLeavesOutPointsRecordedInTheOldOne() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let agri = "\(device.agriID)-01"
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 1, 100), (agri, 2, 101)]))
        #expect(try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: nil, start: 0, end: 10_000, cursor: nil,
                                            limit: 100).points.count == 2)
        _ = try fixture.devices.setProject(projectID: "alpha", pk: pk, targetProjectID: "beta", caller: alice)
        // Readers of beta (e.g. a token scoped to beta only) must not see what the device sent while in alpha.
        let betaOnly = try fixture.caller("bob", TokenRequest(projects: ["beta"]))
        #expect(try fixture.devices.history(projectID: "beta", pk: pk, caller: betaOnly, agriID: nil, start: 0, end: 10_000, cursor: nil,
                                            limit: 100).points.isEmpty)
        #expect(try fixture.devices.history(projectID: "beta", pk: pk, caller: betaOnly, agriID: agri, start: 0, end: 10_000, cursor: nil,
                                            limit: 100).points.isEmpty)
        _ = try fixture.devices.ingest(projectID: "beta", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 3, 200)]))
        let page = try fixture.devices.history(projectID: "beta", pk: pk, caller: betaOnly, agriID: nil, start: 0, end: 10_000, cursor: nil, limit: 100)
        #expect(page.points == [HistoryPage.Point(agriID: agri, value: 3, t: 200)])
    }
}

@Suite struct SeriesCacheAcrossProcessesTests {
    /// Deletes a device's series and points through a second pool on the same file, as `admin-cli` would.
    func deleteTelemetry(of pk: Int64, path: String, then extra: ((Database) throws -> Void)? = nil) throws {
        let other = try DatabasePool.open(location: path)
        defer { other.close() }
        try other.write { db in
            try db.execute("DELETE FROM telemetry_chunks WHERE series_id IN (SELECT id FROM telemetry_series WHERE device_pk = ?)", [pk])
            try db.execute("DELETE FROM telemetry_open_chunks WHERE series_id IN (SELECT id FROM telemetry_series WHERE device_pk = ?)", [pk])
            try db.execute("DELETE FROM telemetry_series WHERE device_pk = ?", [pk])
            try extra?(db)
        }
    }

    func history(_ fixture: PlatformFixture, _ pk: Int64, _ caller: Caller) throws -> [HistoryPage.Point] {
        try fixture.devices.history(projectID: "alpha", pk: pk, caller: caller, agriID: nil, start: 0, end: 100_000, cursor: nil, limit: 100).points
    }

    @Test func pointsAfterAnotherProcessDeletedTheSeriesAreStoredInANewOne() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let agri = "\(device.agriID)-01"
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 1, 100)]))
        #expect(try history(fixture, pk, alice).count == 1)   // the series id is cached now
        try deleteTelemetry(of: pk, path: fixture.test.location)
        #expect(try history(fixture, pk, alice).isEmpty)
        let result = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 2, 200)]))
        #expect(result == IngestResult(accepted: 1, dropped: 0))
        #expect(try history(fixture, pk, alice) == [HistoryPage.Point(agriID: agri, value: 2, t: 200)])
        #expect(try fixture.db.read { try $0.queryOne("SELECT COUNT(*) FROM telemetry_series WHERE device_pk = ?", [pk])?.int(0) } == 1)
        // And the cache keeps working for the following requests.
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 3, 300)]))
        #expect(try history(fixture, pk, alice).map(\.t) == [200, 300])
    }

    @Test func aReusedSeriesIDNeverSendsOneDevicesPointsToAnother() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let (other, otherPK) = try fixture.bound(to: "alpha")
        let alpha = try fixture.projects.resolve("alpha", for: alice, access: .read)
        let agri = "\(device.agriID)-01"
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 1, 100)]))
        let cachedID = try #require(try fixture.db.read { try $0.queryOne("SELECT MAX(id) FROM telemetry_series")?.int(0) })
        // The other process deletes the series, then creates one for another device: SQLite hands out the same id.
        try deleteTelemetry(of: pk, path: fixture.test.location) { db in
            try db.execute("INSERT INTO telemetry_series (device_pk, agri_id, project_pk, organization_id, the_type) VALUES (?, ?, ?, ?, ?)",
                           [otherPK, "\(other.agriID)-01", alpha.pk, alpha.organizationID, "DTU"])
        }
        let reused = try fixture.db.read { try $0.queryOne("SELECT id FROM telemetry_series WHERE device_pk = ?", [otherPK])?.int(0) }
        // SQLite hands the deleted id out again (the hazard this test is about); PostgreSQL's identity never does, and the
        // points must land right either way.
        #expect(fixture.db.isPostgreSQL ? reused != cachedID : reused == cachedID)
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 2, 200)]))
        #expect(try history(fixture, otherPK, alice).isEmpty)
        #expect(try history(fixture, pk, alice) == [HistoryPage.Point(agriID: agri, value: 2, t: 200)])
    }
}

@Suite struct IngestDeadlockGuardTests {
    /// The committer needs the writer: a batch handed to the ingestor from inside a write would wait forever.
    /// It is refused at once.
    @Test func ingestingFromInsideAWriteIsRefusedNotDeadlocked() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha")
        let project = try fixture.projects.resolve("alpha", for: fixture.caller("alice"), access: .read)
        let ingestor = TelemetryIngestor(db: fixture.db, bus: PlatformBus(), logger: Logger(level: .error), metrics: MetricsRegistry())
        defer { ingestor.stop() }
        let batch = TelemetryIngestor.Batch(devicePK: pk, projectPK: project.pk, projectID: "alpha", organizationID: project.organizationID,
                                            theType: "m", points: [TelemetryPoint(agriID: device.agriID + "-01", value: 1, t: 5)],
                                            connectTime: 5)
        let failure = apiError { try fixture.db.write { _ in try ingestor.ingest(batch) } }
        #expect(failure?.status == 500)
        // Outside a write the same batch goes through.
        try ingestor.ingest(batch)
        #expect(try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 1)
    }
}

@Suite struct DeviceListContactTests {
    /// Telemetry changes `connect_time` and `online` only: cached device lists show them at once without being dropped
    /// (a row changed behind the service's back stays invisible until the cache expires, proving it was kept).
    @Test func telemetryUpdatesCachedListsWithoutFlushingThem() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let before = try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).items
        #expect(before.first?.online == false && before.first?.device.connectTime == nil)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: "alpha").count == 1)   // cached too
        try fixture.db.write { tx in try tx.execute("UPDATE devices SET device_name = 'renamed behind the cache' WHERE id = ?", [pk]) }
        fixture.clock.advance(by: 5)
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(device.agriID + "-01", 1, nil)]))
        for view in [try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).items.first,
                     try fixture.devices.list(caller: alice, search: nil, projectID: "alpha").first] {
            #expect(view?.device.connectTime == fixture.clock.unixSeconds())
            #expect(view?.online == true)
            #expect(view?.device.deviceName != "renamed behind the cache")
        }
    }
}

@Suite struct DeviceSearchEscapingTests {
    /// LIKE's wildcards are escaped scalar by scalar: `%` followed by a combining mark stays a literal `%`.
    @Test func wildcardsFollowedByCombiningMarksStayLiteral() {
        #expect(DeviceStore.escapeLike("50%\u{301}_x\\") == "50\\%\u{301}\\_x\\\\")
        #expect(DeviceStore.escapeLike("plain") == "plain")
    }
}
