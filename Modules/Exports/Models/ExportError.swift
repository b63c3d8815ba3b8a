import Core

/// The errors of the Exports module; each case's code, status and detail are mapped here only.
public enum ExportError: PlatformError, Equatable {
    /// 404 `EXPORT_NOT_FOUND`: no such data-download task in this project.
    case taskNotFound(id: Int64)
    /// 404 `SCHEDULE_NOT_FOUND`: no such data-download schedule in this project.
    case scheduleNotFound(id: Int64)
    /// 400 `INVALID_TASK_STATE`: cancel of a task that is neither pending nor running.
    case notCancellable(id: Int64, status: String)
    /// 409 `EXPORT_NOT_READY`: download before the task succeeded.
    case notReady(id: Int64, status: String)
    /// 410 `EXPORT_GONE`: download of a cancelled, failed or expired task (or its file is gone).
    case gone(id: Int64, status: String)
    /// 403 `DOWNLOAD_LINK_INVALID`: a pre-signed link that was tampered with.
    case linkInvalid
    /// 403 `DOWNLOAD_LINK_EXPIRED`: a pre-signed link past its expiry.
    case linkExpired
    /// 404 `NOT_FOUND`: a pre-signed link of a task that was deleted.
    case linkTargetDeleted
    /// 416 `RANGE_NOT_SATISFIABLE`: a `Range` outside the file.
    case rangeNotSatisfiable(size: Int64)
    /// 429 `RATE_LIMITED`: the organization has the maximum of unfinished tasks.
    case tooManyUnfinished(limit: Int)

    public var status: Int {
        switch self {
        case .taskNotFound, .scheduleNotFound, .linkTargetDeleted: 404
        case .notCancellable: 400
        case .notReady: 409
        case .gone: 410
        case .linkInvalid, .linkExpired: 403
        case .rangeNotSatisfiable: 416
        case .tooManyUnfinished: 429
        }
    }

    public var code: String {
        switch self {
        case .taskNotFound: "EXPORT_NOT_FOUND"
        case .scheduleNotFound: "SCHEDULE_NOT_FOUND"
        case .notCancellable: "INVALID_TASK_STATE"
        case .notReady: "EXPORT_NOT_READY"
        case .gone: "EXPORT_GONE"
        case .linkInvalid: "DOWNLOAD_LINK_INVALID"
        case .linkExpired: "DOWNLOAD_LINK_EXPIRED"
        case .linkTargetDeleted: "NOT_FOUND"
        case .rangeNotSatisfiable: "RANGE_NOT_SATISFIABLE"
        case .tooManyUnfinished: "RATE_LIMITED"
        }
    }

    public var detail: String {
        switch self {
        case .taskNotFound(let id): "Data-download task \(id) does not exist in this project"
        case .scheduleNotFound(let id): "Data-download schedule \(id) does not exist in this project"
        case .notCancellable(let id, let status): "Task \(id) is \(status); only a pending or running task can be cancelled"
        case .notReady(let id, let status): "Task \(id) is \(status); its file is ready once it has succeeded"
        case .gone(let id, let status): "Task \(id) is \(status); its file is no longer available"
        case .linkInvalid: "The download link is not valid"
        case .linkExpired: "The download link has expired; ask for a new one"
        case .linkTargetDeleted: "The export of this link was deleted"
        case .rangeNotSatisfiable(let size): "The requested range is outside the file (\(size) bytes)"
        case .tooManyUnfinished(let limit): "The organization already has \(limit) unfinished data-download tasks; wait for some to finish"
        }
    }

    public var headers: [(String, String)] {
        switch self {
        case .tooManyUnfinished: [("Retry-After", "60")]
        case .rangeNotSatisfiable(let size): [("Content-Range", "bytes */\(size)")]
        default: []
        }
    }
}
