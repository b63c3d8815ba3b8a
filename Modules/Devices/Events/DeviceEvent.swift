import Core

/// A device joined a project (and so an organization).
public struct DeviceBound: DomainEvent {
    public let devicePK: Int64
    public let projectPK: Int64
    public let organizationID: Int64
}

/// A device left its project and organization (unbind, or its project went to the trash).
public struct DeviceUnbound: DomainEvent {
    public let devicePK: Int64
    public let projectPK: Int64
    public let organizationID: Int64
}

/// A device moved to another project of the same organization (set-project).
public struct DeviceMoved: DomainEvent {
    public let devicePK: Int64
    public let fromProjectPK: Int64
    public let toProjectPK: Int64
    public let organizationID: Int64
}

/// A device's metadata changed (name, info, allow).
public struct DeviceUpdated: DomainEvent {
    public let devicePK: Int64
    public let projectPK: Int64?
    public let organizationID: Int64?
}
