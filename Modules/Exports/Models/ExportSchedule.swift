import Core
import Devices

/// A recurring data-download: each whole day (or ISO week) in UTC is exported once, after `hour` of the next one.
public struct ExportSchedule: Sendable, Equatable {
    public enum Period: String, Sendable, CaseIterable { case daily, weekly }

    public let id: Int64
    public let organizationID: Int64
    public let organizationSlug: String
    public let projectPK: Int64
    public var name: String
    public var devicePK: Int64?
    public var factors: [String]
    public var format: ExportFormat
    /// The tasks' buckets (nil = raw points).
    public var aggregation: AggregationRequest?
    public var period: Period
    /// 0–23, UTC.
    public var hour: Int64
    /// 1–7, ISO (1 = Monday); used by weekly schedules.
    public var weekday: Int64
    public var enabled: Bool
    public var lastRunAt: String?
    /// Start of the last period a task was created for (Unix seconds).
    public var lastPeriodStart: Int64?
    public let createdAt: String
    public var updatedAt: String

    /// The last whole period due at `now`: `[start, end)` of the latest period whose end + `hour` (and weekday for weekly)
    /// is not after `now`. A scheduler that was down for days catches up this one period only.
    public func duePeriod(now: Int64) -> (start: Int64, end: Int64) {
        let day: Int64 = 86_400
        let today = Self.floorDiv(now, day) * day
        switch period {
        case .daily:
            // Period [d - 1 day, d) is due from d + hour.
            let end = now >= today + hour * 3_600 ? today : today - day
            return (end - day, end)
        case .weekly:
            // 1970-01-01 was a Thursday: ISO weekday of a day number n is ((n + 3) mod 7) + 1.
            let dayNumber = Self.floorDiv(now, day)
            let isoWeekday = Self.floorMod(dayNumber + 3, 7) + 1
            let monday = (dayNumber - (isoWeekday - 1)) * day
            // The run moment of this week: its `weekday` at `hour`; the week exported is the one before that moment's week.
            let runThisWeek = monday + (weekday - 1) * day + hour * 3_600
            let end = now >= runThisWeek ? monday : monday - 7 * day
            return (end - 7 * day, end)
        }
    }

    /// When the next period becomes due after the one due at `now` (Unix seconds).
    public func nextRun(now: Int64) -> Int64 {
        let (_, end) = duePeriod(now: now)
        let length: Int64 = period == .daily ? 86_400 : 7 * 86_400
        let next = end + length
        return period == .daily ? next + hour * 3_600 : next + (weekday - 1) * 86_400 + hour * 3_600
    }

    /// The API object; `nextRunAt` computed by the caller from its clock.
    public func json(now: Int64) -> JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append("name", .string(name))
        object.append("device_id", devicePK.map { .int64($0) } ?? .null)
        object.append("factors", .array(factors.map(JSON.string)))
        object.append("format", .string(format.rawValue))
        ExportTask.appendAggregation(aggregation, to: &object)
        object.append("period", .string(period.rawValue))
        object.append("hour", .int64(hour))
        object.append("weekday", .int64(weekday))
        object.append("enabled", .bool(enabled))
        object.append("last_run_at", .optional(lastRunAt))
        object.append("next_run_at", enabled ? .string(Timestamp.format(unixSeconds: nextRunAfterLast(now: now))) : .null)
        object.append("created_at", .string(createdAt))
        object.append("updated_at", .string(updatedAt))
        return .object(object)
    }

    /// The next moment a task will be created: now when a period is due and not yet exported, else the next period's.
    public func nextRunAfterLast(now: Int64) -> Int64 {
        let due = duePeriod(now: now)
        if lastPeriodStart.map({ $0 < due.start }) ?? true { return now }
        return nextRun(now: now)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
}

/// The writable fields of a schedule; nil = unchanged (PATCH) or default (create).
public struct ScheduleInput: Sendable, Equatable {
    public var name: String?
    public var devicePK: Int64??
    public var factors: [String]?
    public var format: ExportFormat?
    public var period: ExportSchedule.Period?
    public var hour: Int64?
    public var weekday: Int64?
    public var enabled: Bool?
    /// `interval`: nil = unchanged, `.some(nil)` = no aggregation (null), else seconds.
    public var interval: Int64??
    /// `agg` (with `count` first) and `tz` (seconds east of UTC); nil = unchanged (or the default when new).
    public var aggregates: [AggregationRequest.Aggregate]?
    public var offset: Int64?
    public init() {}
}
