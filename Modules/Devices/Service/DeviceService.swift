import Auth
import Core
import Persistence
import Platform
import Projects
import Synchronization

/// Devices' domain API: provisioning, bind/unbind, lists, metadata, set-project, and the project
/// device counts (it implements Projects' `ProjectDeviceCounter`). Telemetry is in `DeviceService+Telemetry`.
public final class DeviceService: Sendable, ProjectDeviceCounter, PlatformService {
    package let context: PlatformContext
    let auth: AuthService
    let projects: ProjectService
    let ingestor: TelemetryIngestor
    /// Seconds without contact after which a device is offline (`devices.offline_after`, default 10m).
    public let offlineAfter: Int64
    let maxPointsPerRequest: Int
    /// Seconds a queued command may wait for the device before it expires (`devices.command_ttl`, default 10m).
    let commandLifetime: Int64
    /// Seconds of telemetry the daily retention job keeps (`devices.telemetry_retention`; 0 = forever).
    public let telemetryRetention: Double
    let bindLimiter: any AttemptLimiter
    /// Device lists and details by organization (60 s, seed 001), invalidated on every device change.
    let viewCache: ScopedCache<String, CachedList>
    /// Latest values by device (120 s, seed 001), invalidated on every commit of the device's telemetry.
    let dataCache: ScopedCache<Int64, [(agriID: String, value: Double, t: Int64)]>
    /// A cached list answer: one page (or the flat list) and the total count.
    /// Last contact per device recorded since the lists were cached (Unix seconds), overlaid on cached views.
    let contacts = Mutex<[Int64: Int64]>([:])
    /// Each project's devices and their last contact as read (`devices.count_cache_ttl`, 5 s), per thread; dropped on
    /// every bind, unbind, move, transfer, delete, restore or purge. `offline` is computed from it at each request
    /// with the contacts recorded since, so the counts stay exact without a query per request.
    let countCache: ThreadLocalCache<Int64, [(pk: Int64, connectTime: Int64?)]>
    /// Devices as the ingest path checks them (project, organization, `allow`, prefix), per thread for `devices.cache_ttl`;
    /// dropped on every device change here and on other processes' announcements.
    let placementCache: ThreadLocalCache<Int64, Device>

    struct CachedList: Sendable {
        let count: Int64
        let views: [DeviceView]
    }

    private let factorInfo = Mutex<(any DeviceFactorInfo)?>(nil)

    public init(context: PlatformContext, auth: AuthService, projects: ProjectService) {
        self.context = context
        self.auth = auth
        self.projects = projects
        let config = context.config
        offlineAfter = Int64(config.seconds(DeviceKeys.offlineAfter))
        maxPointsPerRequest = max(1, config.int(DeviceKeys.maxPointsPerRequest))
        commandLifetime = max(1, Int64(config.seconds(DeviceKeys.commandTTL)))
        telemetryRetention = config.seconds(DeviceKeys.telemetryRetention)
        bindLimiter = context.attemptLimiter("devices.bind", maxFailures: config.int(DeviceKeys.bindMaxFailures), window: config.seconds(DeviceKeys.bindWindow))
        viewCache = ScopedCache(ttl: config.seconds(DeviceKeys.cacheTTL))
        dataCache = ScopedCache(ttl: config.seconds(DeviceKeys.dataCacheTTL))
        countCache = ThreadLocalCache(ttl: config.seconds(DeviceKeys.countCacheTTL))
        placementCache = ThreadLocalCache(ttl: config.seconds(DeviceKeys.cacheTTL))
        ingestor = TelemetryIngestor(db: context.db, bus: context.bus, clock: context.clock, logger: context.logger, metrics: context.metrics,
                                     maxPointsPerCommit: max(100, config.int(DeviceKeys.maxPointsPerCommit)))
        listenForChanges(context.db.changes)
    }

    /// Wires the Factors implementation (done by the app at composition).
    public func setFactorInfo(_ info: any DeviceFactorInfo) {
        factorInfo.withLock { $0 = info }
        context.db.changes.subscribe(info.changesTopic, organizationChanged)
    }

    var factors: (any DeviceFactorInfo)? { factorInfo.withLock { $0 } }

    var now: String { Timestamp.format(clock.now()) }

    // MARK: - Provisioning

    /// Creates devices from a manufacturing file, all or nothing; returns each device's gateway key (shown once).
    public func provision(_ devices: [ProvisionedDevice]) throws -> [(deviceID: String, deviceKey: String)] {
        // Within the file too, no agri_id may be a prefix of another (a prefix sorts right before the ids it starts).
        let sortedAgriIDs = devices.map(\.agriID).sorted()
        let nested = zip(sortedAgriIDs, sortedAgriIDs.dropFirst()).filter { $1.hasPrefix($0) }.map { "\($0) / \($1)" }
        if !nested.isEmpty {
            let pairs = nested.prefix(10).joined(separator: ", ")
            throw APIError.validation(field: "agri_id", "agri_ids in the file nest with each other: \(pairs); nothing was applied")
        }
        let keys = devices.map { _ in Secrets.token(prefix: "dk_") }
        let time = now
        try db.write { tx in
            let store = DeviceStore(db: tx)
            let existing = try store.existingDeviceIDs(devices.map(\.deviceID))
            if !existing.isEmpty {
                throw DeviceError.alreadyProvisioned(deviceIDs: existing)
            }
            let clashing = try store.clashingAgriIDs(devices.map(\.agriID))
            if !clashing.isEmpty { throw DeviceError.agriIDsTaken(clashing) }
            for (device, key) in zip(devices, keys) {
                _ = try store.insert(device, safeCodeHash: Self.safeCodeHash(deviceID: device.deviceID, safeCode: device.safeCode),
                                     deviceKeyHash: Secrets.sha256Hex(key), createTime: time)
            }
        }
        return zip(devices, keys).map { ($0.deviceID, $1) }
    }

    static func safeCodeHash(deviceID: String, safeCode: String) -> String {
        Secrets.sha256Hex("safe-code:\(deviceID):\(safeCode.uppercased())")
    }

    // MARK: - Views

    func views(_ devices: [Device]) throws -> [DeviceView] {
        let refs = try projects.projects(pks: Array(Set(devices.compactMap(\.projectPK))))
        let withThresholds = try factors?.devicesWithThresholds(devices.map(\.id)) ?? []
        let nowSeconds = clock.unixSeconds()
        return devices.map { device in
            DeviceView(device: device, project: device.projectPK.flatMap { refs[$0] },
                       online: device.isOnline(now: nowSeconds, offlineAfter: offlineAfter), hasThresholds: withThresholds.contains(device.id))
        }
    }

    /// The device `pk` if it is in `project`; 404 `DEVICE_NOT_FOUND` otherwise.
    func device(_ pk: Int64, in project: ProjectRef) throws -> Device {
        // One statement: no snapshot to share (on PostgreSQL no BEGIN/COMMIT round trips on every ingest request).
        guard let device = try db.read(snapshot: false, { try DeviceStore(db: $0).device(pk: pk) }), device.projectPK == project.pk else {
            throw DeviceError.notFound(pk: pk, projectID: project.projectID)
        }
        return device
    }

    /// `device(_:in:)` for the ingest path, through `placementCache`: a device that reports every few seconds is read once
    /// a minute, not per request (on PostgreSQL that read was a round trip per POST). The group commit checks the
    /// device's project and organization again under its lock, so a stale entry can never store a point in the wrong place.
    func deviceForIngest(_ pk: Int64, in project: ProjectRef) throws -> Device {
        if let cached = placementCache.value(for: pk), cached.projectPK == project.pk { return cached }
        let generation = placementCache.generation
        let device = try device(pk, in: project)
        placementCache.store(device, for: pk, generation: generation)
        return device
    }

    func invalidate(organizationID: Int64?) {
        if let organizationID { viewCache.invalidate(scope: organizationID) }
        placementCache.invalidateAll()
    }

    /// The change-feed topic of device writes, scoped by organization id (lists, details, project counts).
    public static let changesTopic = "devices"
    /// The change-feed topic of telemetry commits and bindings, scoped by device pk (latest values, last contact).
    public static let dataTopic = "devices.data"

    /// Tells the other processes, with `tx`'s commit, that the organization's devices (and `devicePK`'s data) changed.
    func announce(_ tx: Database, organizationID: Int64?, devicePK: Int64? = nil) {
        if let organizationID { tx.announce(Self.changesTopic, scope: organizationID) }
        if let devicePK { tx.announce(Self.dataTopic, scope: devicePK) }
    }

    /// Drops the cached lists of an organization (all when nil) and the project counts.
    var organizationChanged: @Sendable (Int64?) -> Void {
        { [viewCache, countCache, placementCache] organizationID in
            if let organizationID { viewCache.invalidate(scope: organizationID) } else { viewCache.invalidateAll() }
            countCache.invalidateAll()
            placementCache.invalidateAll()
        }
    }

    /// What other processes announce: their device, project and factor writes drop this process's cached lists and
    /// counts of the organization, their telemetry drops the device's latest values and counts as its contact.
    func listenForChanges(_ changes: ChangeFeed) {
        changes.subscribe(Self.changesTopic, organizationChanged)
        changes.subscribe(ProjectService.changesTopic, organizationChanged)
        changes.subscribe(Self.dataTopic) { [self] devicePK in
            guard let devicePK else {
                dataCache.invalidateAll()
                return
            }
            dataCache.invalidate(scope: devicePK)
            let now = clock.unixSeconds()
            contacts.withLock { $0[devicePK] = max($0[devicePK] ?? 0, now) }
        }
    }

    // MARK: - Bind / unbind

    /// Binds a provisioned device to a project by `device_id` + `safe_code` (compared in constant time).
    /// Unknown id and wrong code answer the same 404; wrong codes are rate-limited per device and per token.
    public func bind(projectID: String, deviceID: String, safeCode: String, caller: Caller) throws -> DeviceView {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        // Counted before the comparison (parallel guesses cannot exceed the limit), per device *within the caller's
        // organization* (another tenant cannot lock a device out of binding) and per token.
        let keys = ["device:\(deviceID):org:\(caller.organizationID)", "token:\(caller.tokenID)"]
        try bindLimiter.attempt(keys)
        let found = try db.read { try DeviceStore(db: $0).deviceForBind(deviceID: deviceID) }
        let presented = Self.safeCodeHash(deviceID: deviceID, safeCode: safeCode)
        // The comparison runs for unknown ids too, so timing does not tell them apart.
        let matches = Secrets.constantTimeEquals(presented, found?.safeCodeHash ?? Self.safeCodeHash(deviceID: "", safeCode: "????"))
        guard let (device, _) = found, matches else {
            logger.warning("device bind failed", ["project_id": .string(projectID), "token_id": .int64(caller.tokenID)])
            throw DeviceError.bindMismatch
        }
        bindLimiter.forgive(keys)
        let time = now
        let bound = try db.write { tx -> Device in
            let store = DeviceStore(db: tx)
            guard var current = try store.device(pk: device.id) else { throw DeviceError.bindMismatch }
            if current.projectPK == project.pk { return current }   // idempotent re-bind
            if current.projectPK != nil { throw DeviceError.alreadyBound(deviceID: deviceID) }
            // The project was checked before the transaction; a racing trash, purge or transfer wins.
            try projects.ensureActive(project, in: tx)
            try store.bind(pk: current.id, projectPK: project.pk, organizationID: project.organizationID, at: time)
            try TelemetryStore(db: tx).deleteLatest(devicePK: current.id)
            try CommandStore(db: tx).deleteAll(devicePK: current.id)
            current.projectPK = project.pk
            current.organizationID = project.organizationID
            current.bindTime = time
            try bus.publish(DeviceBound(devicePK: current.id, projectPK: project.pk, organizationID: project.organizationID), in: tx)
            let organizationID = project.organizationID
            let devicePK = current.id
            tx.onCommit { [self] in
                invalidate(organizationID: organizationID)
                dataCache.invalidate(scope: devicePK)
            }
            announce(tx, organizationID: organizationID, devicePK: devicePK)
            return current
        }
        return try views([bound])[0]
    }

    /// Unbinds a device: it returns to the unassigned pool (no organization, no project); its latest
    /// values are forgotten so the next owner never sees them.
    public func unbind(projectID: String, pk: Int64, caller: Caller) throws {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        try db.write { tx in
            let store = DeviceStore(db: tx)
            guard let device = try store.device(pk: pk), device.projectPK == project.pk else {
                throw DeviceError.notFound(pk: pk, projectID: project.projectID)
            }
            try unbind(device, tx)
        }
    }

    func unbind(_ device: Device, _ tx: Database) throws {
        guard let projectPK = device.projectPK, let organizationID = device.organizationID else { return }
        try DeviceStore(db: tx).unbind(pk: device.id)
        try TelemetryStore(db: tx).deleteLatest(devicePK: device.id)
        try CommandStore(db: tx).deleteAll(devicePK: device.id)
        try bus.publish(DeviceUnbound(devicePK: device.id, projectPK: projectPK, organizationID: organizationID), in: tx)
        tx.onCommit { [self] in
            invalidate(organizationID: organizationID)
            dataCache.invalidate(scope: device.id)
        }
        announce(tx, organizationID: organizationID, devicePK: device.id)
    }

    // MARK: - Lists and detail

    /// The organization-wide flat list (`GET /api/v2/devices/`), only devices of projects the token sees.
    public func list(caller: Caller, search: String?, projectID: String?) throws -> [DeviceView] {
        let scope = caller.allProjects ? "*" : caller.projects.joined(separator: ",")
        let key = "org|\(caller.organizationID)|\(scope)|\(projectID ?? "")|\(search ?? "")"
        var scopePKs: [Int64]?
        if let projectID {
            scopePKs = [try projects.resolve(projectID, for: caller, access: .read).pk]
        }
        return try viewCache.value(for: key, scope: caller.organizationID) {
            var devices = try db.read {
                try DeviceStore(db: $0).devices(organizationID: caller.organizationID, projectPKs: scopePKs, search: search,
                                                limit: 100_000, offset: 0)
            }
            if !caller.allProjects {
                let refs = try projects.projects(pks: Array(Set(devices.compactMap(\.projectPK))))
                devices = devices.filter { device in device.projectPK.flatMap { refs[$0] }.map { caller.canSee(projectID: $0.projectID) } ?? false }
            }
            return CachedList(count: Int64(devices.count), views: try views(devices))
        }.views.map(withCurrentContact)
    }

    /// A cached view with `connect_time` and `online` as of now: contacts are recorded after each commit
    /// (`DeviceContacted`) instead of dropping the organization's cached lists on every telemetry POST.
    func withCurrentContact(_ view: DeviceView) -> DeviceView {
        var device = view.device
        if let contact = contacts.withLock({ $0[device.id] }), contact > (device.connectTime ?? Int64.min) { device.connectTime = contact }
        return DeviceView(device: device, project: view.project, online: device.isOnline(now: clock.unixSeconds(), offlineAfter: offlineAfter),
                          hasThresholds: view.hasThresholds)
    }

    /// One page of a project's devices, with `search`.
    public func list(projectID: String, caller: Caller, search: String?, page: PageRequest) throws -> PageResult<DeviceView> {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        let key = "project|\(project.pk)|\(page.page)|\(page.pageSize)|\(search ?? "")"
        let cached = try viewCache.value(for: key, scope: project.organizationID) {
            let (count, devices) = try db.read { db in
                let store = DeviceStore(db: db)
                return (try store.count(organizationID: project.organizationID, projectPKs: [project.pk], search: search),
                        try store.devices(organizationID: project.organizationID, projectPKs: [project.pk], search: search,
                                          limit: page.limit, offset: page.offset))
            }
            return CachedList(count: count, views: try views(devices))
        }
        return PageResult(count: cached.count, items: cached.views.map(withCurrentContact))
    }

    public func detail(projectID: String, pk: Int64, caller: Caller) throws -> DeviceView {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try views([device(pk, in: project)])[0]
    }

    /// Changes `device_name`, `info`, `allow` (nil = unchanged).
    public func update(projectID: String, pk: Int64, caller: Caller, deviceName: String?, info: String?, allow: Bool?) throws -> DeviceView {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let updated = try db.write { tx -> Device in
            let store = DeviceStore(db: tx)
            guard var device = try store.device(pk: pk), device.projectPK == project.pk else {
                throw DeviceError.notFound(pk: pk, projectID: project.projectID)
            }
            if let deviceName { device.deviceName = deviceName }
            if let info { device.info = info }
            if let allow { device.allow = allow }
            try store.update(device)
            try bus.publish(DeviceUpdated(devicePK: device.id, projectPK: device.projectPK, organizationID: device.organizationID), in: tx)
            let organizationID = project.organizationID
            tx.onCommit { [self] in invalidate(organizationID: organizationID) }
            announce(tx, organizationID: organizationID)
            return device
        }
        return try views([updated])[0]
    }

    /// Moves a device to another project of the same organization, within the token's scope.
    public func setProject(projectID: String, pk: Int64, targetProjectID: String, caller: Caller) throws -> DeviceView {
        let source = try projects.resolve(projectID, for: caller, access: .write)
        let target = try projects.resolve(targetProjectID, for: caller, access: .write)
        let moved = try db.write { tx -> Device in
            let store = DeviceStore(db: tx)
            guard var device = try store.device(pk: pk), device.projectPK == source.pk, device.organizationID == source.organizationID else {
                throw DeviceError.notFound(pk: pk, projectID: source.projectID)
            }
            if source.pk == target.pk { return device }
            // Both projects were checked before the transaction: a racing transfer, trash or purge of either wins, so the
            // device never lands in a project of another organization or in the trash.
            for project in [source, target] {
                guard let still = try projects.project(pk: project.pk, in: tx), still.organizationID == source.organizationID,
                      still.organizationID == caller.organizationID else {
                    throw ProjectError.notFound(projectID: project.projectID)
                }
            }
            try store.move(pk: device.id, toProjectPK: target.pk)
            device.projectPK = target.pk
            try bus.publish(DeviceMoved(devicePK: device.id, fromProjectPK: source.pk, toProjectPK: target.pk,
                                        organizationID: source.organizationID), in: tx)
            let organizationID = source.organizationID
            tx.onCommit { [self] in invalidate(organizationID: organizationID) }
            announce(tx, organizationID: organizationID)
            return device
        }
        return try views([moved])[0]
    }

    // MARK: - ProjectDeviceCounter

    public func deviceCounts(projectPKs: [Int64]) throws -> [Int64: DeviceCounts] {
        var members: [Int64: [(pk: Int64, connectTime: Int64?)]] = [:]
        var missing: [Int64] = []
        for pk in projectPKs {
            if let cached = countCache.value(for: pk) { members[pk] = cached } else { missing.append(pk) }
        }
        if !missing.isEmpty {
            let generation = countCache.generation
            let rows = try db.read { try DeviceStore(db: $0).members(projectPKs: missing) }
            for pk in missing {
                let list = rows[pk] ?? []
                countCache.store(list, for: pk, generation: generation)
                members[pk] = list
            }
        }
        let since = clock.unixSeconds() - offlineAfter
        let anyDevice = members.values.contains { !$0.isEmpty }
        guard anyDevice else { return [:] }
        return contacts.withLock { contacts in
            var result: [Int64: DeviceCounts] = [:]
            for (projectPK, list) in members where !list.isEmpty {
                var offline = 0
                for device in list {
                    let contact = max(device.connectTime ?? Int64.min, contacts[device.pk] ?? Int64.min)
                    if contact == Int64.min || contact < since { offline += 1 }
                }
                result[projectPK] = DeviceCounts(total: list.count, offline: offline)
            }
            return result
        }
    }

    // MARK: - Reactions to Projects' events

    func subscribe(to bus: PlatformBus) {
        // Project membership changes drop the cached device lists behind the project counts.
        bus.subscribe(DeviceBound.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        bus.subscribe(DeviceUnbound.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        bus.subscribe(DeviceMoved.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        bus.subscribe(ProjectTransferred.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        bus.subscribe(ProjectDeleted.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        bus.subscribe(ProjectRestored.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        bus.subscribe(ProjectPurged.self, afterCommit: { [countCache] _ in countCache.invalidateAll() })
        // In the project's transaction: the project leaves the org's view and its devices unbind atomically.
        bus.subscribe(ProjectDeleted.self, inTransaction: { [self] event, tx in
            for device in try DeviceStore(db: tx).devices(projectPK: event.project.pk) { try unbind(device, tx) }
        })
        bus.subscribe(ProjectTransferred.self, inTransaction: { [self] event, tx in
            try DeviceStore(db: tx).moveProject(projectPK: event.project.pk, toOrganizationID: event.toOrganizationID)
            try TelemetryStore(db: tx).moveProject(projectPK: event.project.pk, toOrganizationID: event.toOrganizationID)
            tx.onCommit { [self] in
                invalidate(organizationID: event.fromOrganizationID)
                invalidate(organizationID: event.toOrganizationID)
            }
            announce(tx, organizationID: event.fromOrganizationID)
            announce(tx, organizationID: event.toOrganizationID)
        })
        // Cached device lists show the project's name: refresh them when it changes.
        bus.subscribe(ProjectUpdated.self, afterCommit: { [self] event in invalidate(organizationID: event.project.organizationID) })
        bus.subscribe(ProjectPurged.self, inTransaction: { [self] event, tx in
            for device in try DeviceStore(db: tx).devices(projectPK: event.project.pk) { try unbind(device, tx) }
            try TelemetryStore(db: tx).purge(projectPK: event.project.pk)
            // Inside the transaction (under the writer lock): no group commit can reuse a purged series id.
            ingestor.forgetSeries()
        })
        // Cached device lists carry `has_thresholds`: drop the organization's lists once factors changed.
        bus.subscribe(FactorsChanged.self, afterCommit: { [self] event in invalidate(organizationID: event.organizationID) })
        // Contacts change connect_time and online only: recorded for the cached lists, which stay cached.
        bus.subscribe(DeviceContacted.self, afterCommit: { [self] event in
            contacts.withLock { map in for pk in event.devicePKs { map[pk] = max(map[pk] ?? 0, event.now) } }
        })
    }

    /// Commits pending telemetry and stops the committer (graceful shutdown).
    func shutdown() { ingestor.stop() }
}
