import Core

/// Telemetry being stored, published **inside** the group commit's transaction (after the points are written,
/// before COMMIT): an in-transaction subscriber's rows (Alerts' rule engine opening and resolving alerts) commit
/// or roll back with the points, so a point acknowledged with 202 never loses its consequences. Subscribers must
/// be fast: they run on the committer thread for every group.
public struct TelemetryStored: DomainEvent {
    /// One request's points for one device, in request order.
    public struct Batch: Sendable {
        public let devicePK: Int64
        public let projectPK: Int64
        public let organizationID: Int64
        public let points: [TelemetryPoint]
        /// The device as the group commit read it in this transaction (its placement checked): subscribers need not
        /// read it again.
        public let device: Device
    }

    public let batches: [Batch]
    /// Server time of the commit, Unix seconds (the time alerts open and resolve at).
    public let now: Int64
}

/// A device was heard from (telemetry or a gateway call), published inside the write that records the contact.
public struct DeviceContacted: DomainEvent {
    public let devicePKs: [Int64]
    /// Server time of the contact, Unix seconds.
    public let now: Int64
}
