import Core
import Projects

/// A provisioned device. `safe_code` and the device key are never part of it (they stay in the store,
/// hashed).
public struct Device: Sendable, Equatable {
    public let id: Int64
    public let deviceID: String
    /// Telemetry prefix: every agri_id of this device starts with it.
    public let agriID: String
    public let model: String
    public let capabilities: [String]
    public var deviceName: String
    public var info: String
    public var allow: Bool
    public let createTime: String
    public var bindTime: String?
    /// Last contact, Unix seconds.
    public var connectTime: Int64?
    public var organizationID: Int64?
    public var projectPK: Int64?
    /// Since when the device holds an MQTT connection (nil: none).
    public var mqttConnectedSince: String? = nil

    public var isBound: Bool { projectPK != nil }

    public func hasCapability(_ name: String) -> Bool { capabilities.contains(name) }

    /// Online when the last contact is within `offlineAfter` seconds of `now`.
    public func isOnline(now: Int64, offlineAfter: Int64) -> Bool {
        guard let connectTime else { return false }
        return now - connectTime <= offlineAfter
    }
}

/// A device as the API shows it (DESIGN §5.2), with its computed fields.
public struct DeviceView: Sendable, JSONRepresentable {
    public let device: Device
    public let project: ProjectRef?
    public let online: Bool
    public let hasThresholds: Bool

    public var json: JSON {
        var object = JSONObject()
        object.append("id", .int64(device.id))
        object.append("device_id", .string(device.deviceID))
        object.append("device_name", .string(device.deviceName))
        object.append("info", .string(device.info))
        object.append("allow", .bool(device.allow))
        object.append("agri_id", .string(device.agriID))
        object.append("model", .string(device.model))
        object.append("capabilities", .array(device.capabilities.map(JSON.string)))
        object.append("create_time", .string(device.createTime))
        object.append("bind_time", .optional(device.bindTime))
        object.append("connect_time", device.connectTime.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null)
        object.append("online", .bool(online))
        // Shown while the device is online (a process that died with the connection open leaves the column set).
        object.append("mqtt_connected_since", online ? .optional(device.mqttConnectedSince) : .null)
        object.append("has_thresholds", .bool(hasThresholds))
        if let project {
            object.append("project", .object(["project_id": .string(project.projectID), "name": .string(project.name)]))
        } else {
            object.append("project", .null)
        }
        return .object(object)
    }
}

/// Declared by Devices, implemented by Factors, wired by the app: what Devices shows about factors
/// without reading factor tables.
public protocol DeviceFactorInfo: Sendable {
    /// The devices among `devicePKs` that have at least one factor with a threshold.
    func devicesWithThresholds(_ devicePKs: [Int64]) throws -> Set<Int64>
    /// Factor names by agri_id for one device (`d-1000-abcd-01` → `temp`), for the latest-value read.
    func factorNames(devicePK: Int64) throws -> [String: String]
    /// The change-feed topic announced when a device's factors change, scoped by organization id.
    var changesTopic: String { get }
}
