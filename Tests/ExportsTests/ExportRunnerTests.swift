import Core
import Devices
import DomainTestSupport
@testable import Exports
import Foundation
import Synchronization
import Testing
import TestSupport

/// The scheduler's side of exports on the composed platform with a manual clock: claim and lease, whole runs,
/// progress and cancel through heartbeats, expiry, failures that leave the runner going, and schedules exactly once.
@Suite struct ExportRunnerTests {
    /// A fixture with a device in `alpha` holding `count` points per series of two factors (`-01` temp, `-02` 湿度).
    static func fixture(points count: Int = 10, config: [String: String] = [:]) throws -> (PlatformFixture, Int64, String) {
        let fixture = try PlatformFixture(config: config)
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice,
                                       body: PlatformFixture.body(device.agriID + "-01", name: "temp", register: 0, [("unit", .string("°C"))]))
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice,
                                       body: PlatformFixture.body(device.agriID + "-02", name: "湿度", register: 1, [("unit", .string("%"))]))
        var batch: [(String, Double, Int64?)] = []
        for i in 0..<count {
            batch.append((device.agriID + "-01", Double(i) / 10, 1_000 + Int64(i)))
            batch.append((device.agriID + "-02", Double(i), 1_000 + Int64(i)))
            if batch.count >= 5_000 {
                _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points(batch))
                batch.removeAll()
            }
        }
        if !batch.isEmpty { _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points(batch)) }
        return (fixture, pk, device.agriID)
    }

    static func task(_ fixture: PlatformFixture, _ pk: Int64?, format: ExportFormat = .csv, factors: [String] = []) throws -> ExportTask {
        try fixture.exports.create(projectID: "alpha", caller: fixture.caller("bob"),
                                   ExportRequest(devicePK: pk, factors: factors, startTime: 0, endTime: 100_000, format: format)).1
    }

    static func reload(_ fixture: PlatformFixture, _ id: Int64) throws -> ExportTask {
        try fixture.exports.task(projectID: "alpha", id: id, caller: fixture.caller("alice")).1
    }

    @Test func aClaimIsExclusiveUntilItsLeaseRunsOutAndATaskFailsAfterThreeTries() throws {
        let (fixture, pk, _) = try Self.fixture(config: ["exports.lease": "60s"])
        let created = try Self.task(fixture, pk)
        let first = ExportRunner(service: fixture.exports, owner: "a")
        let second = ExportRunner(service: fixture.exports, owner: "b")
        #expect(try first.claim()?.id == created.id)
        #expect(try second.claim() == nil)
        fixture.clock.advance(by: 59)
        #expect(try second.claim() == nil)
        fixture.clock.advance(by: 2)
        let retaken = try second.claim()
        #expect(retaken?.id == created.id)
        #expect(retaken?.attempts == 2)
        fixture.clock.advance(by: 61)
        #expect(try first.claim()?.attempts == 3)
        fixture.clock.advance(by: 61)
        #expect(try second.claim() == nil)
        let failed = try Self.reload(fixture, created.id)
        #expect(failed.status == .failed)
        #expect(failed.error?.contains("stopped 3 times") == true)
    }

    @Test func aRunWritesTheWholeFileThenSucceeds() throws {
        let (fixture, pk, agriID) = try Self.fixture(points: 3)
        let created = try Self.task(fixture, pk)
        #expect(created.status == .pending)
        #expect(created.filePath.hasPrefix("acme/\(created.id)-"))
        let pass = try ExportRunner(service: fixture.exports).runDue()
        #expect(pass.succeeded == 1)
        let done = try Self.reload(fixture, created.id)
        #expect(done.status == .succeeded)
        #expect(done.progress == 100)
        #expect(done.rowCount == 6)
        let path = fixture.exports.absolutePath(done.filePath)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\r\n").map(String.init)
        #expect(lines.count == 7)
        #expect(lines[0].hasSuffix("time,device_id,device_name,agri_id,factor,unit,value"))
        #expect(lines[1].contains("\(agriID)-01,temp,°C,0"))
        #expect(lines[4].contains("\(agriID)-02,湿度,%,0"))
        #expect(done.fileSize == Int64(try Data(contentsOf: URL(fileURLWithPath: path)).count))   // with the BOM
        let folder = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".part") }.isEmpty)
    }

    @Test func factorsNarrowTheSeries() throws {
        let (fixture, pk, agriID) = try Self.fixture(points: 4)
        let created = try Self.task(fixture, pk, format: .ndjson, factors: [agriID + "-02"])
        try ExportRunner(service: fixture.exports).runDue()
        let done = try Self.reload(fixture, created.id)
        #expect(done.rowCount == 4)
        let lines = try String(contentsOfFile: fixture.exports.absolutePath(done.filePath), encoding: .utf8).split(separator: "\n")
        #expect(lines.allSatisfy { $0.contains("\"agri_id\":\"\(agriID)-02\"") })
    }

    @Test func progressIsReportedAndACancelStopsTheRunAtTheNextHeartbeat() throws {
        let (fixture, pk, _) = try Self.fixture(points: 3_000)
        let created = try Self.task(fixture, pk)
        let seen = Mutex<[Int64]>([])
        let exports = fixture.exports
        let runner = ExportRunner(service: exports, heartbeatInterval: 0) { written in
            seen.withLock { $0.append(written) }
            if written >= 2_048 { _ = try? exports.cancel(id: created.id) }
        }
        let pass = try runner.runDue()
        #expect(pass.stopped == 1)
        #expect(seen.withLock { $0 } == [0, 1_024, 2_048])
        let task = try Self.reload(fixture, created.id)
        #expect(task.status == .cancelled)
        #expect(task.rowCount == 1_024)   // the last heartbeat that found it running
        let folder = (fixture.exports.absolutePath(task.filePath) as NSString).deletingLastPathComponent
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).isEmpty)
    }

    @Test func succeededFilesExpireAfterTheRetention() throws {
        let (fixture, pk, _) = try Self.fixture(points: 2, config: ["exports.retention": "1h"])
        let created = try Self.task(fixture, pk)
        let runner = ExportRunner(service: fixture.exports)
        try runner.runDue()
        let path = fixture.exports.absolutePath(created.filePath)
        #expect(FileManager.default.fileExists(atPath: path))
        fixture.clock.advance(by: 3_599)
        #expect(try runner.runDue().expired == 0)
        fixture.clock.advance(by: 1)
        #expect(try runner.runDue().expired == 1)
        #expect(try Self.reload(fixture, created.id).status == .expired)
        #expect(!FileManager.default.existsAtPath(path))
    }

    @Test func anUnwritableDirectoryFailsTheTaskAndTheRunnerGoesOn() throws {
        let (fixture, pk, _) = try Self.fixture(points: 2, config: ["exports.dir": "/proc/no-exports-here"])
        let first = try Self.task(fixture, pk)
        let second = try Self.task(fixture, pk)
        let pass = try ExportRunner(service: fixture.exports).runDue()
        #expect(pass.failed == 2)
        for id in [first.id, second.id] {
            let task = try Self.reload(fixture, id)
            #expect(task.status == .failed)
            #expect(task.error?.contains("/proc/no-exports-here") == true)
        }
    }

    @Test func aTaskWhoseDeviceLeftTheProjectFails() throws {
        let (fixture, pk, _) = try Self.fixture(points: 2)
        let created = try Self.task(fixture, pk)
        try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: fixture.caller("alice"))
        try ExportRunner(service: fixture.exports).runDue()
        let task = try Self.reload(fixture, created.id)
        #expect(task.status == .failed)
        #expect(task.error?.contains("no longer") == true)
    }

    @Test func aHardDeletedProjectTakesItsTasksAndFilesWithIt() throws {
        let (fixture, pk, _) = try Self.fixture(points: 2)
        let created = try Self.task(fixture, pk)
        try ExportRunner(service: fixture.exports).runDue()
        let path = fixture.exports.absolutePath(created.filePath)
        #expect(FileManager.default.existsAtPath(path))
        _ = try fixture.projects.delete("alpha", hard: true, by: fixture.caller("alice"))
        #expect(!FileManager.default.existsAtPath(path))
        #expect(try fixture.exports.allTasks().isEmpty)
    }

    @Test func theCheckNamesASucceededTaskWhoseFileIsGone() throws {
        let (fixture, pk, _) = try Self.fixture(points: 2)
        let created = try Self.task(fixture, pk)
        try ExportRunner(service: fixture.exports).runDue()
        let module = fixture.exportsModule
        #expect(try fixture.db.read { try module.invariantViolations($0) }.isEmpty)
        unlink(fixture.exports.absolutePath(created.filePath))
        let violations = try fixture.db.read { try module.invariantViolations($0) }
        #expect(violations == ["export task \(created.id) succeeded but its file \(created.filePath) is missing"])
    }

    // MARK: - Schedules

    static func schedule(period: ExportSchedule.Period, hour: Int64, weekday: Int64 = 1) -> ExportSchedule {
        ExportSchedule(id: 1, organizationID: 1, organizationSlug: "acme", projectPK: 1, name: "s", devicePK: nil, factors: [], format: .csv,
                       period: period, hour: hour, weekday: weekday, enabled: true, lastRunAt: nil, lastPeriodStart: nil, createdAt: "",
                       updatedAt: "")
    }

    static func seconds(_ text: String) -> Int64 { Int64(Timestamp.parse(text)!) }

    /// Midnight UTC of `date` (`2024-02-01`), Unix seconds.
    static func day(_ date: String) -> Int64 { seconds(date + "T00:00:00Z") }

    @Test func theDuePeriodIsTheLastWholeDayOrWeek() {
        let daily = Self.schedule(period: .daily, hour: 2)
        #expect(daily.duePeriod(now: Self.seconds("2024-02-03T01:59:59Z")) == (Self.day("2024-02-01"), Self.day("2024-02-02")))
        #expect(daily.duePeriod(now: Self.seconds("2024-02-03T02:00:00Z")) == (Self.day("2024-02-02"), Self.day("2024-02-03")))
        #expect(daily.nextRun(now: Self.seconds("2024-02-03T02:00:00Z")) == Self.seconds("2024-02-04T02:00:00Z"))
        // Weekly on Wednesday (3) at 06:00: on Wed 2024-02-07 05:00 the week due is the one before last.
        let weekly = Self.schedule(period: .weekly, hour: 6, weekday: 3)
        #expect(weekly.duePeriod(now: Self.seconds("2024-02-07T05:00:00Z")) == (Self.day("2024-01-22"), Self.day("2024-01-29")))
        #expect(weekly.duePeriod(now: Self.seconds("2024-02-07T06:00:00Z")) == (Self.day("2024-01-29"), Self.day("2024-02-05")))
        #expect(weekly.duePeriod(now: Self.seconds("2024-02-11T23:00:00Z")) == (Self.day("2024-01-29"), Self.day("2024-02-05")))
        #expect(weekly.nextRun(now: Self.seconds("2024-02-07T06:00:00Z")) == Self.seconds("2024-02-14T06:00:00Z"))
    }

    @Test func aScheduleMakesOneTaskPerPeriodEvenWithConcurrentSchedulersAndAfterDowntime() throws {
        let (fixture, pk, _) = try Self.fixture(points: 2)
        fixture.clock.set(Date(timeIntervalSince1970: TimeInterval(Self.seconds("2024-02-03T03:00:00Z"))))
        var input = ScheduleInput()
        input.devicePK = .some(pk)
        input.period = .daily
        input.hour = 2
        let schedule = try fixture.exports.createSchedule(projectID: "alpha", caller: fixture.caller("bob"), input)
        let created = Atomic<Int>(0)
        let group = DispatchGroup()
        let exports = fixture.exports
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                if let count = try? exports.createScheduledTasks() { created.add(count, ordering: .relaxed) }
                group.leave()
            }
        }
        group.wait()
        #expect(created.load(ordering: .relaxed) == 1)
        #expect(try fixture.exports.createScheduledTasks() == 0)
        let tasks = try fixture.exports.tasks(projectID: "alpha", caller: fixture.caller("alice"), status: nil, page: PageRequest()).1.items
        #expect(tasks.count == 1)
        #expect(tasks[0].startTime == Self.day("2024-02-02"))
        #expect(tasks[0].endTime == Self.day("2024-02-03"))
        #expect(tasks[0].scheduleID == schedule.id)
        // Three days down: the latest whole day is caught up, once.
        fixture.clock.advance(by: 3 * 86_400)
        #expect(try fixture.exports.createScheduledTasks() == 1)
        #expect(try fixture.exports.createScheduledTasks() == 0)
        let after = try fixture.exports.tasks(projectID: "alpha", caller: fixture.caller("alice"), status: nil, page: PageRequest()).1.items
        #expect(after.map(\.startTime) == [Self.day("2024-02-05"), Self.day("2024-02-02")])
        let reloaded = try fixture.exports.schedule(projectID: "alpha", id: schedule.id, caller: fixture.caller("alice"))
        #expect(reloaded.lastPeriodStart == Self.day("2024-02-05"))
        #expect(reloaded.nextRunAfterLast(now: fixture.clock.unixSeconds()) == Self.seconds("2024-02-07T02:00:00Z"))
    }
}

extension FileManager {
    func existsAtPath(_ path: String) -> Bool { fileExists(atPath: path) }
}
