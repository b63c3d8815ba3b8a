import Core
import Devices

/// The declarations the Exports routes parse and answer with; the OpenAPI document renders these same values.
public enum ExportSchemas {
    static let format = Schema.oneOf(ExportFormat.allCases.map(\.rawValue))
    /// Unix seconds (a number or a numeric string) or RFC 3339.
    static let time = Schema.oneOf([.number(0...99_999_999_999), .string(1...64)])

    static let aggregateName = Schema.oneOf(AggregationRequest.Aggregate.allCases.map(\.rawValue))
    /// `interval`, `agg`, `tz` of a task or schedule request: DESIGN §5.2's rules.
    static let aggregationInput: [Schema.Property] = [
        .optional("interval", Schema.oneOf([.integer(1...AggregationRequest.maxInterval), .string(1...16)]).orNull
            .described("Rows become buckets of this length: Ns, Nm, Nh, Nd or seconds (1 s … 366 d); at most 10 000 per series")),
        .optional("agg", Schema.oneOf([.array(aggregateName, maxItems: 7), .string(1...64)]).orNull
            .described("Aggregates, a list or comma-separated: count, min, max, avg, sum, first, last (count always); needs interval")),
        .optional("tz", Schema.string(1...8).orNull.described("Fixed offset the buckets align to, e.g. +08:00 (default +00:00); needs interval")),
    ]
    /// `interval`, `agg`, `tz` as tasks and schedules answer them (three nulls for raw points).
    static let aggregationOutput: [Schema.Property] = [
        .required("interval", Schema.integer(1...AggregationRequest.maxInterval).orNull),
        .required("agg", Schema.array(aggregateName).orNull),
        .required("tz", Schema.string().orNull),
    ]

    /// `POST …/data-download-tasks/` (the task record's read-only fields may be sent back and are ignored).
    public static let taskRequest = Schema.object([
        .optional("name", Schema.string(1...200).orNull),
        .optional("device_id", Schema.integer(from: 1).orNull),
        .optional("factors", Schema.array(.string(1...200), maxItems: 1_000).orNull),
        .required("start_time", time.described("Unix seconds or RFC 3339")),
        .optional("end_time", time.orNull.described("Unix seconds or RFC 3339; after start_time; default now")),
        .optional("format", format),
    ] + aggregationInput).named("ExportTaskRequest")

    /// A data-download task.
    public static let task = Schema.object([
        .required("id", .integer(from: 1)),
        .required("name", .string()),
        .required("device_id", Schema.integer(from: 1).orNull),
        .required("factors", .array(.string())),
        .required("start_time", .integer(from: 0)),
        .required("end_time", .integer(from: 0)),
        .required("format", format),
    ] + aggregationOutput + [
        .required("status", .oneOf(ExportTask.Status.allCases.map(\.rawValue))),
        .required("progress", .integer(0...100)),
        .required("row_count", .integer(from: 0)),
        .required("file_size", Schema.integer(from: 0).orNull),
        .required("file_path", .string()),
        .required("error", Schema.string().orNull),
        .required("schedule_id", Schema.integer(from: 1).orNull),
        .required("create_time", .dateTime),
        .required("started_at", Schema.dateTime.orNull),
        .required("finished_at", Schema.dateTime.orNull),
        .required("expires_at", Schema.dateTime.orNull),
        .required("download_url", Schema.string().orNull),
    ]).named("ExportTask")

    /// The pre-signed link of a finished task (`?redirect=false`, and the body of the 302).
    public static let downloadLink = Schema.object([
        .required("url", .string()),
        .required("expires_at", .dateTime),
    ]).named("DownloadLink")

    /// `POST …/data-download-schedules/` (PUT and PATCH: any subset).
    public static let scheduleInput = Schema.object([
        .optional("name", .string(1...200)),
        .optional("device_id", Schema.integer(from: 1).orNull),
        .optional("factors", Schema.array(.string(1...200), maxItems: 1_000).orNull),
        .optional("format", format),
        .required("period", .oneOf(ExportSchedule.Period.allCases.map(\.rawValue))),
        .optional("hour", .integer(0...23)),
        .optional("weekday", Schema.integer(1...7).described("1 = Monday")),
        .optional("enabled", .boolean),
    ] + aggregationInput).named("ExportScheduleInput")

    /// A recurring export.
    public static let schedule = Schema.object([
        .required("id", .integer(from: 1)),
        .required("name", .string()),
        .required("device_id", Schema.integer(from: 1).orNull),
        .required("factors", .array(.string())),
        .required("format", format),
    ] + aggregationOutput + [
        .required("period", .oneOf(ExportSchedule.Period.allCases.map(\.rawValue))),
        .required("hour", .integer(0...23)),
        .required("weekday", .integer(1...7)),
        .required("enabled", .boolean),
        .required("last_run_at", Schema.dateTime.orNull),
        .required("next_run_at", Schema.dateTime.orNull),
        .required("created_at", .dateTime),
        .required("updated_at", .dateTime),
    ]).named("ExportSchedule")
}
