import Core

/// A project was created.
public struct ProjectCreated: DomainEvent {
    public let project: ProjectRef
    public init(project: ProjectRef) { self.project = project }
}

/// A project's metadata changed (name, favorite, tags, …).
public struct ProjectUpdated: DomainEvent {
    public let project: ProjectRef
    public init(project: ProjectRef) { self.project = project }
}

/// A project moved to the trash. Devices unbind on it (their rows return to the unassigned pool).
public struct ProjectDeleted: DomainEvent {
    public let project: ProjectRef
    public init(project: ProjectRef) { self.project = project }
}

/// A trashed project was reinstated (its devices stay unbound).
public struct ProjectRestored: DomainEvent {
    public let project: ProjectRef
    public init(project: ProjectRef) { self.project = project }
}

/// A project was removed for good: other modules drop their rows (factors, alerts, exports, telemetry).
public struct ProjectPurged: DomainEvent {
    public let project: ProjectRef
    public init(project: ProjectRef) { self.project = project }
}

/// A project moved to another organization. Published inside the transfer's transaction, so an
/// `inTransaction` subscriber (Devices) moves its rows atomically with the project.
public struct ProjectTransferred: DomainEvent {
    /// The project as it is now (`organizationID` is the target).
    public let project: ProjectRef
    public let fromOrganizationID: Int64
    public let toOrganizationID: Int64

    public init(project: ProjectRef, fromOrganizationID: Int64, toOrganizationID: Int64) {
        self.project = project
        self.fromOrganizationID = fromOrganizationID
        self.toOrganizationID = toOrganizationID
    }
}
