import Auth
import Core
import Devices
import Factors
import Foundation
import Persistence
import Platform
import Projects
import Synchronization

/// Exports' domain API (DESIGN §5.5): data-download tasks, their pre-signed downloads and recurring schedules. The
/// scheduler's side (claiming and writing files) is `ExportRunner`.
///
/// ```swift
/// let (_, task) = try exports.create(projectID: "greenhouse", caller: caller, ExportRequest(devicePK: 7, startTime: t0, format: .xlsx))
/// ```
public final class ExportService: Sendable, PlatformService {
    package let context: PlatformContext
    let projects: ProjectService
    let devices: DeviceService
    let factors: FactorService
    public let settings: ExportSettings
    private let signerCache = Mutex<DownloadSigner?>(nil)

    public init(context: PlatformContext, projects: ProjectService, devices: DeviceService, factors: FactorService) {
        self.context = context
        self.projects = projects
        self.devices = devices
        self.factors = factors
        settings = ExportSettings(config: context.config)
    }

    var now: String { Timestamp.format(clock.now()) }

    // MARK: - Tasks

    /// Creates a pending task (201): the device and factors checked against the project, the organization's cap of
    /// unfinished tasks enforced in the same transaction as the insert (429).
    public func create(projectID: String, caller: Caller, _ request: ExportRequest) throws -> (ProjectRef, ExportTask) {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let endTime = request.endTime ?? clock.unixSeconds()
        if endTime <= request.startTime {
            throw APIError.validation(field: request.endTime == nil ? "start_time" : "end_time", "end_time must be after start_time")
        }
        if let aggregation = request.aggregation, aggregation.exceedsBucketLimit(start: request.startTime, end: endTime) {
            throw APIError.validation(field: "interval", AggregationRequest.Problem.tooManyBuckets)
        }
        let chosen = try chosenDevices(request.devicePK, factors: request.factors, in: project)
        let name = request.name ?? Self.generatedName(chosen: request.devicePK == nil ? nil : chosen.first, start: request.startTime, end: endTime)
        let new = ExportTaskStore.NewTask(organizationID: project.organizationID, projectPK: project.pk, name: name, devicePK: request.devicePK,
                                          factors: request.factors, startTime: request.startTime, endTime: endTime, format: request.format,
                                          aggregation: request.aggregation, scheduleID: nil, periodStart: nil, createdBy: caller.username)
        let slug = caller.organizationSlug
        let limit = settings.maxUnfinishedPerOrganization
        let time = now
        let task = try db.write { tx -> ExportTask in
            try projects.ensureActive(project, in: tx)
            let store = ExportTaskStore(db: tx)
            if try store.unfinishedCount(organizationID: project.organizationID) >= limit { throw ExportError.tooManyUnfinished(limit: limit) }
            return try store.insert(new, at: time) { Self.filePath(organizationSlug: slug, id: $0, name: name, format: request.format) }!
        }
        return (project, task)
    }

    /// A project's tasks, newest first, optionally of one status.
    public func tasks(projectID: String, caller: Caller, status: ExportTask.Status?,
                      page: PageRequest) throws -> (ProjectRef, PageResult<ExportTask>) {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return (project, try db.read { try ExportTaskStore(db: $0).tasks(projectPK: project.pk, status: status, page: page) })
    }

    public func task(projectID: String, id: Int64, caller: Caller) throws -> (ProjectRef, ExportTask) {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        guard let task = try db.read({ try ExportTaskStore(db: $0).task(id: id, projectPK: project.pk) }) else {
            throw ExportError.taskNotFound(id: id)
        }
        return (project, task)
    }

    /// pending/running → cancelled (a running export notices within a second); 400 `INVALID_TASK_STATE` otherwise.
    public func cancel(projectID: String, id: Int64, caller: Caller) throws -> (ProjectRef, ExportTask) {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        let task = try db.write { tx -> ExportTask in
            let store = ExportTaskStore(db: tx)
            guard let task = try store.task(id: id, projectPK: project.pk) else { throw ExportError.taskNotFound(id: id) }
            guard try store.cancel(id: id, at: time) else { throw ExportError.notCancellable(id: id, status: task.status.rawValue) }
            return try store.task(id: id)!
        }
        return (project, task)
    }

    /// Removes a task and its file; a running one is cancelled first (its scheduler stops and removes its partial file).
    public func delete(projectID: String, id: Int64, caller: Caller) throws {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        let path = try db.write { tx -> String in
            let store = ExportTaskStore(db: tx)
            guard let task = try store.task(id: id, projectPK: project.pk) else { throw ExportError.taskNotFound(id: id) }
            _ = try store.cancel(id: id, at: time)
            try store.delete(id: id)
            return task.filePath
        }
        removeFile(path)
    }

    // MARK: - Downloads

    /// A pre-signed link to a succeeded task's file: `(path, expires_at)`; 409 before success, 410 when cancelled/failed/expired.
    public func downloadLink(projectID: String, id: Int64, caller: Caller) throws -> (url: String, expiresAt: Int64) {
        let (_, task) = try self.task(projectID: projectID, id: id, caller: caller)
        switch task.status {
        case .pending, .running: throw ExportError.notReady(id: id, status: task.status.rawValue)
        case .cancelled, .failed, .expired: throw ExportError.gone(id: id, status: task.status.rawValue)
        case .succeeded: break
        }
        let expiresAt = clock.unixSeconds() + settings.linkLifetime
        return ("/api/v2/downloads/" + (try signer()).token(taskID: id, expiresAt: expiresAt), expiresAt)
    }

    /// The task and absolute file path a pre-signed token grants: 403 tampered or expired, 404 deleted task or a project
    /// in the trash (like the task itself), 410 gone.
    public func resolveDownload(token: String) throws -> (task: ExportTask, path: String) {
        switch try signer().verify(token, now: clock.unixSeconds()) {
        case .invalid: throw ExportError.linkInvalid
        case .expired: throw ExportError.linkExpired
        case .valid(let id):
            guard let task = try db.read({ try ExportTaskStore(db: $0).task(id: id) }) else { throw ExportError.linkTargetDeleted }
            // A project in the trash hides its tasks (404), and so its links.
            guard try projects.project(pk: task.projectPK) != nil else { throw ExportError.linkTargetDeleted }
            guard task.status == .succeeded else { throw ExportError.gone(id: id, status: task.status.rawValue) }
            return (task, absolutePath(task.filePath))
        }
    }

    /// The URL signer over the database's secret (generated once, by whichever process needs it first).
    func signer() throws -> DownloadSigner {
        if let signer = signerCache.withLock({ $0 }) { return signer }
        let candidate = Secrets.hex(Secrets.randomBytes(32))
        let time = now
        let secret = try db.write { try ExportTaskStore(db: $0).secret(name: "download-signing", candidate: candidate, at: time) }
        let signer = DownloadSigner(secret: Array(secret.utf8))
        signerCache.withLock { $0 = signer }
        return signer
    }

    // MARK: - Admin

    /// Every task, newest first (`admin-cli exports list`).
    public func allTasks(status: ExportTask.Status? = nil, limit: Int = 1_000) throws -> [ExportTask] {
        try db.read { try ExportTaskStore(db: $0).all(status: status, limit: limit) }
    }

    /// Cancels a task by id (`admin-cli exports cancel ID`).
    public func cancel(id: Int64) throws -> ExportTask {
        let time = now
        return try db.write { tx in
            let store = ExportTaskStore(db: tx)
            guard let task = try store.task(id: id) else { throw ExportError.taskNotFound(id: id) }
            guard try store.cancel(id: id, at: time) else { throw ExportError.notCancellable(id: id, status: task.status.rawValue) }
            return try store.task(id: id)!
        }
    }

    // MARK: - Helpers

    /// The devices a task or schedule covers, checking `device_id` and `factors` (400 naming the field).
    func chosenDevices(_ devicePK: Int64?, factors: [String], in project: ProjectRef) throws -> [Device] {
        let chosen: [Device]
        if let devicePK {
            guard let device = try devices.device(pk: devicePK), device.projectPK == project.pk else {
                throw APIError.validation(field: "device_id", "device \(devicePK) is not in project \(project.projectID)")
            }
            chosen = [device]
        } else {
            chosen = try devices.devices(inProject: project.pk)
        }
        for agriID in factors where !chosen.contains(where: { agriID.hasPrefix($0.agriID) }) {
            let owner = devicePK.map { "device \($0)" } ?? "any device of project \(project.projectID)"
            throw APIError.validation(field: "factors", "\(agriID) is not under \(owner)")
        }
        return chosen
    }

    /// `<device name> 2024-02-01–2024-02-03` (the last day included), or `All devices …`.
    static func generatedName(chosen device: Device?, start: Int64, end: Int64) -> String {
        let label = device.map { $0.deviceName.isEmpty ? $0.deviceID : $0.deviceName } ?? "All devices"
        let first = String(Timestamp.format(unixSeconds: start).prefix(10))
        let last = String(Timestamp.format(unixSeconds: max(start, end - 1)).prefix(10))
        return String((first == last ? "\(label) \(first)" : "\(label) \(first)–\(last)").unicodeScalars.prefix(200))
    }

    /// `acme/15-greenhouse-2024-02-01.csv`: the organization, the id, and an ASCII slug of the name.
    static func filePath(organizationSlug: String, id: Int64, name: String, format: ExportFormat) -> String {
        var slug = ""
        for scalar in name.lowercased().unicodeScalars {
            if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) {
                slug.unicodeScalars.append(scalar)
            } else if !slug.isEmpty, !slug.hasSuffix("-") {
                slug += "-"
            }
            if slug.count >= 60 { break }
        }
        while slug.hasSuffix("-") { slug.removeLast() }
        let folder = organizationSlug.isEmpty ? "org" : organizationSlug
        return "\(folder)/\(id)\(slug.isEmpty ? "" : "-" + slug).\(format.fileExtension)"
    }

    /// `exports.dir` + the task's relative path.
    public func absolutePath(_ relative: String) -> String { settings.directory + "/" + relative }

    func removeFile(_ relative: String) {
        guard !relative.isEmpty else { return }
        unlink(absolutePath(relative))
    }
}
