import Auth
import Core
import Devices
import Persistence
import Projects

extension ExportService {
    // MARK: - Schedules

    public func schedules(projectID: String, caller: Caller) throws -> [ExportSchedule] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try db.read { try ExportScheduleStore(db: $0).schedules(projectPK: project.pk) }
    }

    public func schedule(projectID: String, id: Int64, caller: Caller) throws -> ExportSchedule {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try schedule(id, in: project)
    }

    func schedule(_ id: Int64, in project: ProjectRef) throws -> ExportSchedule {
        guard let schedule = try db.read({ try ExportScheduleStore(db: $0).schedule(id: id) }), schedule.projectPK == project.pk else {
            throw ExportError.scheduleNotFound(id: id)
        }
        return schedule
    }

    /// Creates a schedule (defaults: csv, daily, 01:00 UTC, Monday, enabled; name generated from the device).
    public func createSchedule(projectID: String, caller: Caller, _ input: ScheduleInput) throws -> ExportSchedule {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let devicePK = input.devicePK ?? nil
        let factors = input.factors ?? []
        let chosen = try chosenDevices(devicePK, factors: factors, in: project)
        let period = input.period ?? .daily
        let aggregation = try Self.aggregation(input, merging: nil, period: period)
        let label = devicePK == nil ? "All devices" : chosen.first.map { $0.deviceName.isEmpty ? $0.deviceID : $0.deviceName } ?? "Export"
        let name = input.name ?? "\(label) \(period.rawValue)"
        let time = now
        return try db.write { tx in
            try projects.ensureActive(project, in: tx)
            return try ExportScheduleStore(db: tx).insert(
                organizationID: project.organizationID, organizationSlug: caller.organizationSlug, projectPK: project.pk, name: name,
                devicePK: devicePK, factors: factors, format: input.format ?? .csv, aggregation: aggregation, period: period, hour: input.hour ?? 1,
                weekday: input.weekday ?? 1, enabled: input.enabled ?? true, createdBy: caller.username, at: time)
        }
    }

    /// Changes a schedule (PUT and PATCH: the given fields).
    public func updateSchedule(projectID: String, id: Int64, caller: Caller, _ input: ScheduleInput) throws -> ExportSchedule {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        var schedule = try schedule(id, in: project)
        if let name = input.name { schedule.name = name }
        if let devicePK = input.devicePK { schedule.devicePK = devicePK }
        if let factors = input.factors { schedule.factors = factors }
        if let format = input.format { schedule.format = format }
        if let period = input.period { schedule.period = period }
        if let hour = input.hour { schedule.hour = hour }
        if let weekday = input.weekday { schedule.weekday = weekday }
        if let enabled = input.enabled { schedule.enabled = enabled }
        schedule.aggregation = try Self.aggregation(input, merging: schedule.aggregation, period: schedule.period)
        _ = try chosenDevices(schedule.devicePK, factors: schedule.factors, in: project)
        schedule.updatedAt = max(now, schedule.updatedAt)
        try db.write { tx in
            guard try ExportScheduleStore(db: tx).schedule(id: id)?.projectPK == project.pk else { throw ExportError.scheduleNotFound(id: id) }
            try ExportScheduleStore(db: tx).save(schedule)
        }
        return schedule
    }

    /// The schedule's aggregation after `input`: `interval: null` removes it; otherwise the fields given replace those of
    /// `current`; `agg` or `tz` without an interval → 400 naming `interval`; a period that would hold more than
    /// 10 000 buckets (however its start falls against the buckets) → 400 naming `interval`.
    static func aggregation(_ input: ScheduleInput, merging current: AggregationRequest?,
                            period: ExportSchedule.Period) throws -> AggregationRequest? {
        let interval: Int64?
        switch input.interval {
        case .some(.none): return nil
        case .some(.some(let seconds)): interval = seconds
        case .none: interval = current?.interval
        }
        guard let interval else {
            if input.aggregates != nil || input.offset != nil {
                throw APIError.validation(field: "interval", AggregationRequest.Problem.intervalRequired)
            }
            return nil
        }
        let aggregation = AggregationRequest(interval: interval, offset: input.offset ?? current?.offset ?? 0,
                                             aggregates: input.aggregates ?? current?.aggregates ?? [.count])
        let length = period == .daily ? Int64(86_400) : 7 * 86_400
        // The most buckets a period of `length` seconds can touch, wherever it starts.
        if (length - 1) / interval + 2 > AggregationRequest.maxBuckets {
            throw APIError.validation(field: "interval", AggregationRequest.Problem.tooManyBuckets)
        }
        return aggregation
    }

    /// Removes a schedule (the tasks it made stay).
    public func deleteSchedule(projectID: String, id: Int64, caller: Caller) throws {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        try db.write { tx in
            guard try ExportScheduleStore(db: tx).schedule(id: id)?.projectPK == project.pk else { throw ExportError.scheduleNotFound(id: id) }
            try ExportScheduleStore(db: tx).delete(id: id)
        }
    }

    /// For every enabled schedule with a due period not yet exported, creates that period's task. The task's unique
    /// `(schedule_id, period_start)` makes this exactly once per period whatever the number of schedulers; after
    /// downtime only the latest whole period is due, so a missed stretch is caught up once. Returns tasks created.
    public func createScheduledTasks() throws -> Int {
        let nowSeconds = clock.unixSeconds()
        let schedules = try db.read { try ExportScheduleStore(db: $0).enabled() }
        var created = 0
        let time = now
        let limit = settings.maxUnfinishedPerOrganization
        for schedule in schedules {
            let due = schedule.duePeriod(now: nowSeconds)
            if let last = schedule.lastPeriodStart, last >= due.start { continue }
            let first = String(Timestamp.format(unixSeconds: due.start).prefix(10))
            let label = schedule.period == .daily ? "\(schedule.name) \(first)" : "\(schedule.name) week of \(first)"
            let name = String(label.unicodeScalars.prefix(200))
            let new = ExportTaskStore.NewTask(organizationID: schedule.organizationID, projectPK: schedule.projectPK, name: name,
                                              devicePK: schedule.devicePK, factors: schedule.factors, startTime: due.start, endTime: due.end,
                                              format: schedule.format, aggregation: schedule.aggregation, scheduleID: schedule.id, periodStart: due.start,
                                              createdBy: "schedule \(schedule.id)")
            let made = try db.write { tx -> Bool in
                guard try projects.project(pk: schedule.projectPK, in: tx) != nil else { return false }
                let store = ExportTaskStore(db: tx)
                // Over the cap: the period is created on a later pass, still once.
                if try store.unfinishedCount(organizationID: schedule.organizationID) >= limit { return false }
                let task = try store.insert(new, at: time) {
                    Self.filePath(organizationSlug: schedule.organizationSlug, id: $0, name: name, format: schedule.format)
                }
                try ExportScheduleStore(db: tx).markRun(id: schedule.id, periodStart: due.start, at: time)
                return task != nil
            }
            if made { created += 1 }
        }
        return created
    }

    // MARK: - For the runner

    /// The devices a task covers now; fails when its device left the project.
    func devices(of task: ExportTask) throws -> [Device] {
        if let devicePK = task.devicePK {
            guard let device = try devices.device(pk: devicePK), device.projectPK == task.projectPK else {
                throw ExportRunFailure("device \(devicePK) is no longer in the task's project")
            }
            return [device]
        }
        return try devices.devices(inProject: task.projectPK)
    }

    /// Factor name and unit by agri_id, through Factors' public API.
    func factorNames(devicePK: Int64) throws -> [String: (name: String, unit: String)] {
        var names: [String: (name: String, unit: String)] = [:]
        for factor in try factors.factors(devicePK: devicePK) { names[factor.spec.agriID] = (factor.spec.name, factor.spec.unit) }
        return names
    }
}

/// Why a run failed, recorded in the task's `error`.
struct ExportRunFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
