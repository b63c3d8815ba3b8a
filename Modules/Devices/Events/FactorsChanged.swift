import Core

/// The factors of a device changed (created, updated, deleted, imported). Declared here, below Factors, so
/// Devices (`has_thresholds` in cached lists) and Alerts (thresholds in memory) subscribe to the one event
/// Factors publishes in its write transaction.
public struct FactorsChanged: DomainEvent {
    public let devicePK: Int64
    public let projectPK: Int64
    public let organizationID: Int64

    public init(devicePK: Int64, projectPK: Int64, organizationID: Int64) {
        self.devicePK = devicePK
        self.projectPK = projectPK
        self.organizationID = organizationID
    }
}
