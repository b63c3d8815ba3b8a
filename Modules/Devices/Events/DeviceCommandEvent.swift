import Core

/// A control command was queued for a device.
public struct DeviceCommandQueued: DomainEvent {
    public let devicePK: Int64
    public let commandID: Int64
    public let kind: String
}
