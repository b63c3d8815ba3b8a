import Core

/// The errors of the Alerts module; each case's code, status and detail are mapped here only.
public enum AlertError: PlatformError, Equatable {
    /// 404 `ALERT_NOT_FOUND`: no such alert in this project.
    case itemNotFound(id: Int64)
    /// 404 `RECEIVER_NOT_FOUND`: no such receiver of this channel in this project.
    case receiverNotFound(id: Int64)
    /// 404 `LEVEL_NOT_FOUND`: no such level in this project.
    case levelNotFound(id: Int64)
    /// 404 `NOT_FOUND` (seed 003): trigger-test in a project without a level.
    case noLevel(projectID: String)
    /// 404 `DEVICE_NOT_FOUND` (seed 003): trigger-test in a project without a device.
    case noDevice(projectID: String)
    /// 400 `INVALID_ALERT_STATE` (seed 003): cancel of an alert that is not active.
    case notCancellable(id: Int64, status: AlertItem.Status)
    /// 400 `INVALID_ALERT_STATE`: delete of an active alert (cancel it first).
    case activeNotDeletable(id: Int64)
    /// 409 `LEVEL_IN_USE`: a level that alerts refer to cannot be deleted.
    case levelInUse(id: Int64)
    /// 409 `TOO_MANY_RECEIVERS`: the project has `alerts.max_receivers_per_channel` receivers of this channel already.
    case tooManyReceivers(channel: AlertChannel, limit: Int)

    public var status: Int {
        switch self {
        case .itemNotFound, .receiverNotFound, .levelNotFound, .noLevel, .noDevice: 404
        case .notCancellable, .activeNotDeletable: 400
        case .levelInUse, .tooManyReceivers: 409
        }
    }

    public var code: String {
        switch self {
        case .itemNotFound: "ALERT_NOT_FOUND"
        case .receiverNotFound: "RECEIVER_NOT_FOUND"
        case .levelNotFound: "LEVEL_NOT_FOUND"
        case .noLevel: "NOT_FOUND"
        case .noDevice: "DEVICE_NOT_FOUND"
        case .notCancellable, .activeNotDeletable: "INVALID_ALERT_STATE"
        case .levelInUse: "LEVEL_IN_USE"
        case .tooManyReceivers: "TOO_MANY_RECEIVERS"
        }
    }

    public var detail: String {
        switch self {
        case .itemNotFound(let id): "Alert \(id) does not exist in this project"
        case .receiverNotFound(let id): "Receiver \(id) does not exist in this project"
        case .levelNotFound(let id): "Level \(id) does not exist in this project"
        case .noLevel(let projectID): "Project \(projectID) has no alert level"
        case .noDevice(let projectID): "Project \(projectID) has no device to test with"
        case .notCancellable(let id, let status): "Alert \(id) is \(status.rawValue); only an active alert can be cancelled"
        case .activeNotDeletable(let id): "Alert \(id) is active; cancel it before deleting it"
        case .levelInUse(let id): "Level \(id) is used by alerts and cannot be deleted"
        case .tooManyReceivers(let channel, let limit):
            "The project has \(limit) \(channel.rawValue) receivers, the most allowed (alerts.max_receivers_per_channel); remove one first"
        }
    }
}
