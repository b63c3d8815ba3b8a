import Core

/// An alert opened (threshold, offline, manual or test); published in the transaction that wrote it and its outbox rows.
public struct AlertOpened: DomainEvent {
    public let alertID: Int64
    public let projectPK: Int64
    public let devicePK: Int64
    public let theType: String
}

/// An active alert was resolved: its value came back inside the band, its device was heard from, or it lost its rule.
public struct AlertResolved: DomainEvent {
    public let alertID: Int64
    public let projectPK: Int64
    public let devicePK: Int64
}

/// A manager cancelled an active alert.
public struct AlertCancelled: DomainEvent {
    public let alertID: Int64
    public let projectPK: Int64
}
