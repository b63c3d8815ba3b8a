import Core

/// The errors of the Devices module (devices, bind, gateway, command queue); each case's code, status and detail
/// are mapped here only. Validation, scope and rate limits answer with the shared `APIError` helpers.
public enum DeviceError: PlatformError, Equatable {
    /// 404 `DEVICE_NOT_FOUND`: the device is not in this project (or does not exist).
    case notFound(pk: Int64, projectID: String)
    /// 404 `DEVICE_NOT_FOUND`: a `device_pk` path segment that is not a positive integer names no device.
    case malformedPK(String)
    /// 404 `DEVICE_NOT_FOUND`: bind with an unknown `device_id` or a wrong safe code (one answer for both).
    case bindMismatch
    /// 404 `DEVICE_NOT_FOUND`: the device left the project between validating its telemetry and storing it.
    case leftProject(pk: Int64, projectID: String)
    /// 409 `DEVICE_EXISTS`: provisioning names devices that exist (nothing was applied).
    case alreadyProvisioned(deviceIDs: [String])
    /// 409 `AGRI_ID_EXISTS`: provisioning names agri_ids that are used or nest with existing ones (nothing was applied).
    case agriIDsTaken([String])
    /// 409 `DEVICE_ALREADY_BOUND`: bind of a device bound to another project.
    case alreadyBound(deviceID: String)
    /// 409 `DEVICE_NOT_BOUND`: a gateway sends data while bound to no project.
    case notBound(deviceID: String)
    /// 422 `INVALID_COMMAND`: control parameters that fail validation, named in `fields`.
    case invalidCommand(fields: [String: String])
    /// 422 `INVALID_COMMAND`: the device does not declare the capability the action needs.
    case unsupportedCommand(pk: Int64, capability: String)
    /// 503 `DEVICE_OFFLINE`: no contact within `offlineAfter` seconds; commands need the device online.
    case offline(pk: Int64, offlineAfter: Int64)
    /// 404 `COMMAND_NOT_FOUND`: the command is not queued for the calling device.
    case commandNotFound(id: Int64)
    /// 404 `COMMAND_NOT_FOUND`: a `command_id` path segment that is not a positive integer names no command.
    case malformedCommandID(String)
    /// 409 `INVALID_COMMAND_STATE`: an ack for a command that is already finished.
    case invalidCommandState(id: Int64, status: DeviceCommand.Status)
    /// 500 `DEVICE_COMMAND_FAILED` (seed 001): a downstream failure while issuing a command; its detail is shown.
    case commandFailed(pk: Int64, reason: String)

    public var status: Int {
        switch self {
        case .notFound, .malformedPK, .bindMismatch, .leftProject, .commandNotFound, .malformedCommandID: 404
        case .alreadyProvisioned, .agriIDsTaken, .alreadyBound, .notBound, .invalidCommandState: 409
        case .invalidCommand, .unsupportedCommand: 422
        case .commandFailed: 500
        case .offline: 503
        }
    }

    public var code: String {
        switch self {
        case .notFound, .malformedPK, .bindMismatch, .leftProject: "DEVICE_NOT_FOUND"
        case .alreadyProvisioned: "DEVICE_EXISTS"
        case .agriIDsTaken: "AGRI_ID_EXISTS"
        case .alreadyBound: "DEVICE_ALREADY_BOUND"
        case .notBound: "DEVICE_NOT_BOUND"
        case .invalidCommand, .unsupportedCommand: "INVALID_COMMAND"
        case .offline: "DEVICE_OFFLINE"
        case .commandNotFound, .malformedCommandID: "COMMAND_NOT_FOUND"
        case .invalidCommandState: "INVALID_COMMAND_STATE"
        case .commandFailed: "DEVICE_COMMAND_FAILED"
        }
    }

    public var detail: String {
        switch self {
        case .notFound(let pk, let projectID): "Device \(pk) is not in project \(projectID)"
        case .malformedPK(let text): "No resource with device_pk \(text)"
        case .bindMismatch: "Device not found or safe code mismatch"
        case .leftProject(let pk, let projectID): "Device \(pk) left project \(projectID) before its data was stored"
        case .alreadyProvisioned(let deviceIDs): "Already provisioned: \(deviceIDs.prefix(10).joined(separator: ", ")); nothing was applied"
        case .agriIDsTaken(let agriIDs):
            "agri_id already used or nested with an existing one: \(agriIDs.prefix(10).joined(separator: ", ")); nothing was applied"
        case .alreadyBound(let deviceID): "Device \(deviceID) is already bound to a project"
        case .notBound(let deviceID): "Device \(deviceID) is not bound to a project; its data is not accepted"
        case .invalidCommand(let fields): "Invalid command parameters: \(fields.keys.sorted().joined(separator: ", "))"
        case .unsupportedCommand(let pk, let capability): "Device \(pk) does not declare \(capability)"
        case .offline(let pk, let offlineAfter):
            "Device \(pk) has not been in contact for more than \(offlineAfter) s; commands need it online"
        case .commandNotFound(let id): "Command \(id) is not queued for this device"
        case .malformedCommandID(let text): "No resource with command_id \(text)"
        case .invalidCommandState(let id, let status): "Command \(id) is already \(status.rawValue)"
        case .commandFailed(let pk, let reason): "Issuing a command to device \(pk) failed: \(reason)"
        }
    }

    public var fields: [String: String] {
        if case .invalidCommand(let fields) = self { return fields }
        return [:]
    }

    /// The deliberate 5xx answers: the device is offline, or issuing the command failed downstream.
    public var exposesDetail: Bool {
        switch self {
        case .offline, .commandFailed: true
        default: status < 500
        }
    }
}
