import Core

/// A data-download task finished with its file in place. Published inside the transaction that marks it succeeded.
public struct ExportSucceeded: DomainEvent {
    public let taskID: Int64
    public let projectPK: Int64
    public let rowCount: Int64
    public let fileSize: Int64
}

/// A data-download task failed (I/O error, device gone, too many tries). Published inside the transaction that marks it.
public struct ExportFailed: DomainEvent {
    public let taskID: Int64
    public let projectPK: Int64
    public let error: String
}
