import Core
import Devices

/// A data-download task in the vendor's shape (DESIGN §5.5).
public struct ExportTask: Sendable, Equatable {
    /// pending → running → succeeded | failed | cancelled; succeeded → expired after retention.
    public enum Status: String, Sendable, CaseIterable {
        case pending, running, succeeded, failed, cancelled, expired

        /// Pending or running: counts against the organization's cap and may be cancelled.
        public var isUnfinished: Bool { self == .pending || self == .running }
    }

    public let id: Int64
    public let organizationID: Int64
    public let projectPK: Int64
    public var name: String
    /// nil = every device of the project.
    public let devicePK: Int64?
    /// Full agri_ids; empty = every series.
    public let factors: [String]
    /// Unix seconds, start inclusive, end exclusive.
    public let startTime: Int64
    public let endTime: Int64
    public let format: ExportFormat
    /// Rows are buckets of these aggregates (DESIGN §5.5 with §5.2's rules); nil = the raw points.
    public let aggregation: AggregationRequest?
    public var status: Status
    public var progress: Int64
    public var rowCount: Int64
    public var fileSize: Int64?
    /// Relative to `exports.dir`, e.g. `acme/15-greenhouse-2024-02-01.csv`.
    public let filePath: String
    public var error: String?
    public var attempts: Int64
    public let scheduleID: Int64?
    public let createTime: String
    public var startedAt: String?
    public var finishedAt: String?
    public var expiresAt: String?

    /// The API object; `projectID` builds `download_url`.
    public func json(projectID: String) -> JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append("name", .string(name))
        object.append("device_id", devicePK.map { .int64($0) } ?? .null)
        object.append("factors", .array(factors.map(JSON.string)))
        object.append("start_time", .int64(startTime))
        object.append("end_time", .int64(endTime))
        object.append("format", .string(format.rawValue))
        Self.appendAggregation(aggregation, to: &object)
        object.append("status", .string(status.rawValue))
        object.append("progress", .int64(progress))
        object.append("row_count", .int64(rowCount))
        object.append("file_size", fileSize.map { .int64($0) } ?? .null)
        object.append("file_path", .string(filePath))
        object.append("error", .optional(error))
        object.append("schedule_id", scheduleID.map { .int64($0) } ?? .null)
        object.append("create_time", .string(createTime))
        object.append("started_at", .optional(startedAt))
        object.append("finished_at", .optional(finishedAt))
        object.append("expires_at", .optional(expiresAt))
        object.append("download_url", status == .succeeded ? .string(Self.path(projectID: projectID, id: id) + "download/") : .null)
        return .object(object)
    }

    /// `interval` (seconds), `agg` (names, `count` first) and `tz` (`+08:00`), or three nulls for a point export.
    static func appendAggregation(_ aggregation: AggregationRequest?, to object: inout JSONObject) {
        object.append("interval", aggregation.map { .int64($0.interval) } ?? .null)
        object.append("agg", aggregation.map { .array($0.aggregates.map { .string($0.rawValue) }) } ?? .null)
        object.append("tz", aggregation.map { .string(AggregationRequest.formatOffset($0.offset)) } ?? .null)
    }

    /// `/api/v2/projects/{project_id}/data-download-tasks/{id}/`.
    public static func path(projectID: String, id: Int64) -> String { "/api/v2/projects/\(projectID)/data-download-tasks/\(id)/" }

    /// The file name offered to browsers: the task's name with the format's extension.
    public var downloadName: String {
        let ext = "." + format.fileExtension
        return name.hasSuffix(ext) ? name : name + ext
    }
}

/// What a client asks for when it creates a task (validated by the routes, checked against devices by the service).
public struct ExportRequest: Sendable, Equatable {
    public var name: String?
    public var devicePK: Int64?
    public var factors: [String]
    public var startTime: Int64
    public var endTime: Int64?
    public var format: ExportFormat
    /// Buckets instead of points; the service checks the bucket limit against the task's range.
    public var aggregation: AggregationRequest?

    public init(name: String? = nil, devicePK: Int64? = nil, factors: [String] = [], startTime: Int64, endTime: Int64? = nil,
                format: ExportFormat = .csv, aggregation: AggregationRequest? = nil) {
        self.name = name
        self.devicePK = devicePK
        self.factors = factors
        self.startTime = startTime
        self.endTime = endTime
        self.format = format
        self.aggregation = aggregation
    }
}
