import Glibc

/// One telemetry reading as it appears in an export file.
public struct ExportRow: Sendable {
    /// Unix time in seconds (UTC).
    public var t: Int64
    /// Hardware id of the device.
    public var deviceID: String
    public var deviceName: String
    public var agriID: String
    /// Factor name; may be empty.
    public var factor: String
    public var unit: String
    /// Always finite (point rows).
    public var value: Double
    /// Bucket rows (an `ExportLayout.buckets` writer): the points in the bucket starting at `t`.
    public var count: Int64 = 0
    /// Bucket rows: the layout's aggregates, in its order; a non-finite one (an overflowing sum) is written empty (null).
    public var aggregates: [Double] = []

    public init(t: Int64, deviceID: String, deviceName: String, agriID: String, factor: String, unit: String, value: Double) {
        self.t = t
        self.deviceID = deviceID
        self.deviceName = deviceName
        self.agriID = agriID
        self.factor = factor
        self.unit = unit
        self.value = value
    }

    /// A bucket row.
    public init(t: Int64, deviceID: String, deviceName: String, agriID: String, factor: String, unit: String, count: Int64, aggregates: [Double]) {
        self.init(t: t, deviceID: deviceID, deviceName: deviceName, agriID: agriID, factor: factor, unit: unit, value: 0)
        self.count = count
        self.aggregates = aggregates
    }
}

/// What a row of an export file holds: a point (`time … unit, value`), or a bucket of an aggregated export
/// (`time … unit, count`, then one column per aggregate, named by it: `avg`, `min`, …; DESIGN §5.5).
public enum ExportLayout: Sendable, Equatable {
    case points
    /// The aggregate columns after `count`, in order (without `count`).
    case buckets(aggregates: [String])

    /// CSV and XLSX column names, in order.
    public var columns: [String] {
        switch self {
        case .points: ExportFormat.columns
        case .buckets(let aggregates): ["time", "device_id", "device_name", "agri_id", "factor", "unit", "count"] + aggregates
        }
    }

    var isBuckets: Bool { if case .buckets = self { true } else { false } }
}

/// A streaming export file: rows go in one at a time and memory stays constant.
///
/// Not thread-safe; use one writer from one task. After a thrown error the file is incomplete and should be deleted: every
/// later call rethrows that error.
public protocol ExportWriter: AnyObject {
    /// Appends one row.
    func write(_ row: ExportRow) throws
    /// Flushes everything (for XLSX also writes the workbook parts and the ZIP central directory), syncs the file to disk
    /// and closes the descriptor if the writer opened it. Calling it again does nothing; writing afterwards throws.
    func finish() throws
}

/// The export file formats.
public enum ExportFormat: String, Sendable, CaseIterable {
    case csv, xlsx, ndjson

    /// File name extension without the dot.
    public var fileExtension: String { rawValue }

    /// The HTTP `Content-Type` for a download.
    public var contentType: String {
        switch self {
        case .csv: "text/csv; charset=utf-8"
        case .xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        case .ndjson: "application/x-ndjson"
        }
    }

    /// The column names of CSV and XLSX exports, in order.
    public static let columns = ["time", "device_id", "device_name", "agri_id", "factor", "unit", "value"]

    /// A writer streaming into an open descriptor positioned where the file should start. The caller keeps ownership of the
    /// descriptor (`finish()` flushes and syncs but does not close it). XLSX patches ZIP headers with `pwrite` when the
    /// descriptor is seekable and falls back to data descriptors otherwise (pipes, sockets).
    public static func makeWriter(format: ExportFormat, fileDescriptor: Int32, layout: ExportLayout = .points) throws -> any ExportWriter {
        try makeWriter(format: format, output: BufferedFileOutput(fileDescriptor: fileDescriptor, ownsDescriptor: false), layout: layout)
    }

    /// A writer creating (or truncating) the file at `path` with mode 0644; `finish()` syncs and closes it.
    public static func makeWriter(format: ExportFormat, path: String, layout: ExportLayout = .points) throws -> any ExportWriter {
        try makeWriter(format: format, output: BufferedFileOutput(path: path), layout: layout)
    }

    static func makeWriter(format: ExportFormat, output: BufferedFileOutput, layout: ExportLayout = .points) throws -> any ExportWriter {
        switch format {
        case .csv: try CSVExportWriter(output: output, layout: layout)
        case .ndjson: NDJSONExportWriter(output: output, layout: layout)
        case .xlsx: try XLSXExportWriter(output: output, layout: layout)
        }
    }
}

/// The open → finished / failed states every writer goes through; the first error sticks.
struct WriterLifecycle {
    private var finished = false
    private var failure: (any Error)?

    /// Runs a row write, refused after `finish()` or a failure.
    @inline(__always) mutating func write(_ body: () throws -> Void) throws {
        if let failure { throw failure }
        if finished { throw ExportIOError(operation: "write after finish", code: EBADF) }
        do { try body() } catch {
            failure = error
            throw error
        }
    }

    /// Runs the finishing step once; later calls return, or rethrow the failure.
    mutating func finish(_ body: () throws -> Void) throws {
        if let failure { throw failure }
        if finished { return }
        do { try body() } catch {
            failure = error
            throw error
        }
        finished = true
    }
}
