import Core
import Devices
import Foundation
import Persistence
import Projects

/// The scheduler's side of exports: claims tasks with a lease, streams their rows through a writer into a temporary file
/// (fsync, then rename: a `succeeded` task always has a whole file), reports progress and renews the lease at every
/// heartbeat (at least once a second), stops when a heartbeat finds the task cancelled, deleted or taken over; expires old
/// files; and turns due schedules into tasks, once per period.
public final class ExportRunner: Sendable {
    let service: ExportService
    /// Who holds the leases this runner takes (`host:pid:random`).
    public let owner: String
    /// Seconds between heartbeats.
    let heartbeatInterval: Double
    /// Called at every heartbeat with the rows written so far (tests).
    let onHeartbeat: (@Sendable (Int64) -> Void)?

    public init(service: ExportService, owner: String? = nil, heartbeatInterval: Double = 0.5, onHeartbeat: (@Sendable (Int64) -> Void)? = nil) {
        self.service = service
        self.owner = owner ?? "\(ProcessInfo.processInfo.hostName):\(getpid()):\(RandomID.make(length: 6))"
        self.heartbeatInterval = heartbeatInterval
        self.onHeartbeat = onHeartbeat
    }

    /// What one pass did.
    public struct Pass: Sendable, Equatable {
        public var expired = 0
        public var scheduled = 0
        public var succeeded = 0
        public var failed = 0
        public var stopped = 0
    }

    /// One scheduler pass: expire, create due schedule tasks, then run claimable tasks until none is left.
    @discardableResult
    public func runDue() throws -> Pass {
        var pass = Pass()
        pass.expired = try expire()
        pass.scheduled = try service.createScheduledTasks()
        while let task = try claim() {
            switch run(task) {
            case .succeeded: pass.succeeded += 1
            case .failed: pass.failed += 1
            case .stopped: pass.stopped += 1
            }
        }
        return pass
    }

    var db: DatabasePool { service.db }
    var settings: ExportSettings { service.settings }

    /// Claims and runs one task now, in this process (the demo seed); true when it succeeded.
    public func run(taskID: Int64) throws -> Bool {
        guard let task = try claim(only: taskID) else { return false }
        return run(task) == .succeeded
    }

    /// Claims the next task (failing first those whose schedulers died too often), or only task `only`.
    func claim(only: Int64? = nil) throws -> ExportTask? {
        let now = service.clock.unixSeconds()
        let time = service.now
        let settings = settings
        let bus = service.bus
        return try db.write { tx in
            let store = ExportTaskStore(db: tx)
            for task in try store.failAbandoned(now: now, maxAttempts: settings.maxAttempts, at: time) {
                try bus.publish(ExportFailed(taskID: task.id, projectPK: task.projectPK, error: "the scheduler running it stopped"), in: tx)
            }
            return try store.claim(owner: owner, now: now, lease: settings.lease, maxAttempts: settings.maxAttempts, at: time, only: only)
        }
    }

    enum Outcome { case succeeded, failed, stopped }

    /// Runs a claimed task to its end; never throws (a failure is recorded on the task).
    func run(_ task: ExportTask) -> Outcome {
        let final = service.absolutePath(task.filePath)
        let temporary = final + ".part\(task.attempts)"
        // Earlier tries of a killed scheduler left their partial files behind.
        for attempt in 0..<task.attempts { unlink(final + ".part\(attempt)") }
        do {
            guard let written = try write(task, to: temporary) else {
                unlink(temporary)
                service.logger.info("export stopped", ["task": .int64(task.id)])
                return .stopped
            }
            guard rename(temporary, final) == 0 else { throw ExportIOError(operation: "rename \(temporary)", code: errno) }
            Self.syncDirectory(of: final)
            var info = stat()
            let size = stat(final, &info) == 0 ? Int64(info.st_size) : 0
            let time = service.now
            let expiresAt = service.clock.unixSeconds() + settings.retention
            let bus = service.bus
            let owner = owner
            let recorded = try db.write { tx -> Bool in
                guard try ExportTaskStore(db: tx).succeed(id: task.id, owner: owner, rowCount: written, fileSize: size, at: time,
                                                          expiresAt: expiresAt) else { return false }
                try bus.publish(ExportSucceeded(taskID: task.id, projectPK: task.projectPK, rowCount: written, fileSize: size), in: tx)
                return true
            }
            guard recorded else {
                // Cancelled or deleted while the file was being closed: nothing may serve it.
                unlink(final)
                return .stopped
            }
            service.logger.info("export succeeded", ["task": .int64(task.id), "rows": .int64(written), "bytes": .int64(size)])
            return .succeeded
        } catch {
            unlink(temporary)
            let message = Self.describe(error)
            service.logger.error("export failed", ["task": .int64(task.id), "error": .string(message)])
            let time = service.now
            let bus = service.bus
            let owner = owner
            do {
                try db.write { tx in
                    if try ExportTaskStore(db: tx).fail(id: task.id, owner: owner, error: message, at: time) {
                        try bus.publish(ExportFailed(taskID: task.id, projectPK: task.projectPK, error: message), in: tx)
                    }
                }
            } catch {
                service.logger.error("export failure not recorded", ["task": .int64(task.id), "error": .string(String(describing: error))])
            }
            return .failed
        }
    }

    /// Streams the task's rows into `path`; the row count, or nil when a heartbeat found the task no longer ours.
    func write(_ task: ExportTask, to path: String) throws -> Int64? {
        let devices = try service.devices(of: task)
        let directory = (path as NSString).deletingLastPathComponent
        try Self.makeDirectory(directory)
        let aggregates = task.aggregation?.aggregates.filter { $0 != .count } ?? []
        let layout = task.aggregation == nil ? ExportLayout.points : .buckets(aggregates: aggregates.map(\.rawValue))
        let writer = try ExportFormat.makeWriter(format: task.format, path: path, layout: layout)
        let filter = task.factors.isEmpty ? nil : Set(task.factors)
        var total: Int64 = 0
        for device in devices {
            total += try service.devices.countPoints(devicePK: device.id, agriIDs: filter, start: task.startTime, end: task.endTime)
        }
        var written: Int64 = 0
        // Points covered so far: the rows written, or the points of the buckets written (progress).
        var covered: Int64 = 0
        var stopped = false
        let started = Self.monotonic()
        let rate = Double(settings.maxRowsPerSecond)
        var nextBeat = started + heartbeatInterval
        let beat: () throws -> Bool = { [self] in
            onHeartbeat?(written)
            let progress = total > 0 ? min(99, covered * 100 / total) : 0
            let leaseUntil = service.clock.unixSeconds() + settings.lease
            let owner = owner
            return try db.write { try ExportTaskStore(db: $0).heartbeat(id: task.id, owner: owner, progress: progress, rowCount: written,
                                                                        leaseUntil: leaseUntil) }
        }
        /// After each row: the rate limit, and a heartbeat when one is due (false: stop).
        func paced() throws -> Bool {
            if written & 1_023 == 0, rate > 0 {
                let due = started + Double(written) / rate
                let now = Self.monotonic()
                if due > now { usleep(UInt32(min(0.5, due - now) * 1e6)) }
            }
            // Bucket rows are few and each may stand for many points: the clock is read after every one.
            if written & 1_023 == 0 || task.aggregation != nil, Self.monotonic() >= nextBeat {
                guard try beat() else {
                    stopped = true
                    return false
                }
                nextBeat = Self.monotonic() + heartbeatInterval
            }
            return true
        }
        // A first heartbeat before any row: a task cancelled right after its claim stops at once.
        guard try beat() else { return nil }
        for device in devices where !stopped {
            let names = try service.factorNames(devicePK: device.id)
            let deviceName = device.deviceName
            var row = ExportRow(t: 0, deviceID: device.deviceID, deviceName: deviceName, agriID: "", factor: "", unit: "", value: 0)
            var currentAgriID = ""
            func label(_ agriID: String) {
                guard agriID != currentAgriID else { return }
                currentAgriID = agriID
                let info = names[agriID]
                row.agriID = agriID
                row.factor = info?.name ?? ""
                row.unit = info?.unit ?? ""
            }
            if let aggregation = task.aggregation {
                row.aggregates = Array(repeating: 0, count: aggregates.count)
                try service.devices.forEachBucket(devicePK: device.id, agriIDs: filter, start: task.startTime, end: task.endTime,
                                                  request: aggregation) { agriID, bucket in
                    label(agriID)
                    row.t = bucket.start
                    row.count = bucket.count
                    for (index, aggregate) in aggregates.enumerated() { row.aggregates[index] = bucket.number(aggregate) }
                    try writer.write(row)
                    written += 1
                    covered += bucket.count
                    return try paced()
                }
                continue
            }
            try service.devices.forEachPoint(devicePK: device.id, agriIDs: filter, start: task.startTime, end: task.endTime) { agriID, t, value in
                label(agriID)
                row.t = t
                row.value = value
                try writer.write(row)
                written += 1
                covered += 1
                return try paced()
            }
        }
        if !stopped, try !beat() { stopped = true }
        if stopped { return nil }
        try writer.finish()
        return written
    }

    /// Succeeded tasks past `exports.retention`: status `expired`, file removed. Returns how many.
    func expire() throws -> Int {
        let now = service.clock.unixSeconds()
        let tasks = try db.read { try ExportTaskStore(db: $0).expired(now: now, limit: 500) }
        for task in tasks {
            try db.write { try ExportTaskStore(db: $0).markExpired(id: task.id) }
            service.removeFile(task.filePath)
        }
        return tasks.count
    }

    static func monotonic() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// `mkdir -p`, with a clear error when it cannot be made.
    static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ExportIOError(operation: "create directory \(path)", code: errno == 0 ? EACCES : errno)
        }
    }

    /// Makes a rename durable.
    static func syncDirectory(of path: String) {
        let fd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? any PlatformError { return error.detail }
        return String(describing: error)
    }
}
