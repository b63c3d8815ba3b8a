import Core

/// The factors of a device changed (created, updated, deleted, imported): Alerts re-reads thresholds,
/// Devices' `has_thresholds` follows.
public struct FactorsChanged: DomainEvent {
    public let devicePK: Int64
    public let projectPK: Int64
    public let organizationID: Int64
}
