import Core

/// A control command in a device's queue: `pending → delivered → acked | failed | expired`.
public struct DeviceCommand: Sendable, Equatable, JSONRepresentable {
    public enum Status: String, Sendable { case pending, delivered, acked, failed, expired }

    public let id: Int64
    public let devicePK: Int64
    /// `reboot`, `set-serial` or `set-tcp`.
    public let kind: String
    /// The text the device executes, e.g. `NAT@AT+SOCK1A=TCPC,iot.example.com,1883`.
    public let command: String
    public var status: Status
    public var output: String?
    public let createdBy: String
    public let createdAt: String
    /// Unix seconds after which an unfinished command expires.
    public let expiresAt: Int64
    public var deliveredAt: String?
    public var finishedAt: String?
    /// How it was delivered: `http` (the gateway's queue) or `mqtt` (a subscription's PUBACK).
    public var deliveredVia: String? = nil

    public var json: JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append("kind", .string(kind))
        object.append("command", .string(command))
        object.append("status", .string(status.rawValue))
        object.append("output", .optional(output))
        object.append("created_by", .string(createdBy))
        object.append("created_at", .string(createdAt))
        object.append("expires_at", .string(Timestamp.format(unixSeconds: expiresAt)))
        object.append("delivered_at", .optional(deliveredAt))
        object.append("delivered_via", .optional(deliveredVia))
        object.append("finished_at", .optional(finishedAt))
        return .object(object)
    }

    /// What the gateway sees when it fetches its queue.
    public var gatewayJSON: JSON {
        .object(["id": .int64(id), "kind": .string(kind), "command": .string(command), "created_at": .string(createdAt),
                 "expires_at": .string(Timestamp.format(unixSeconds: expiresAt))])
    }
}

/// The control actions of seed 001 with their validation and AT-command texts (DESIGN §5.2).
public enum ControlAction: Sendable, Equatable {
    case reboot
    case setSerial(baudRate: Int64, dataBits: Int64, stopBits: Int64, parity: String)
    case setTCP(host: String, port: Int64)

    public static let baudRates: [Int64] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200]
    public static let rebootCommand = "NAT@AT+Z"

    /// The commands queued for this action, in order (`set-serial` is followed by a reboot).
    public var commands: [(kind: String, text: String)] {
        switch self {
        case .reboot:
            [("reboot", Self.rebootCommand)]
        case .setSerial(let baud, let data, let stop, let parity):
            [("set-serial", "NAT@AT+UART1=\(baud),\(data),\(stop),\(parity),NFC"), ("reboot", Self.rebootCommand)]
        case .setTCP(let host, let port):
            [("set-tcp", "NAT@AT+SOCK1A=TCPC,\(host),\(port)")]
        }
    }

    /// The capability the device must declare for this action.
    public var requiredCapability: String? {
        switch self {
        case .reboot, .setSerial: "SUPPORTS_REBOOT"
        case .setTCP: nil
        }
    }

    /// Validates a `reboot` body: `{}` (or none); anything else is named in a 422 `INVALID_COMMAND`.
    public static func reboot(_ body: JSON) throws(DeviceError) -> ControlAction {
        guard case .object(let object) = body else { throw DeviceError.invalidCommand(fields: ["body": "must be a JSON object"]) }
        if !object.keys.isEmpty {
            throw DeviceError.invalidCommand(fields: Dictionary(uniqueKeysWithValues: object.keys.map { ($0, "unknown field") }))
        }
        return .reboot
    }

    /// Validates a `set-serial` body; 422 `INVALID_COMMAND` naming each bad field.
    public static func setSerial(_ body: JSON) throws(DeviceError) -> ControlAction {
        guard case .object(let object) = body else { throw DeviceError.invalidCommand(fields: ["body": "must be a JSON object"]) }
        var problems: [String: String] = [:]
        for key in object.keys where DeviceSchemas.setSerial.property(key) == nil { problems[FieldReader.echo(key)] = "unknown field" }
        let baud = object["baud_rate"]?.int64Value
        if baud.map({ !baudRates.contains($0) }) ?? true {
            problems["baud_rate"] = "must be one of \(baudRates.map(String.init).joined(separator: ", "))"
        }
        let data = object["data_bits"]?.int64Value
        if data != 7, data != 8 { problems["data_bits"] = "must be 7 or 8" }
        let stop = object["stop_bits"]?.int64Value
        if stop != 1, stop != 2 { problems["stop_bits"] = "must be 1 or 2" }
        let parity = object["parity"]?.stringValue
        if !["NONE", "ODD", "EVEN"].contains(parity ?? "") { problems["parity"] = "must be NONE, ODD or EVEN" }
        if !problems.isEmpty { throw DeviceError.invalidCommand(fields: problems) }
        return .setSerial(baudRate: baud!, dataBits: data!, stopBits: stop!, parity: parity!)
    }

    /// Validates a `set-tcp` body: a hostname or IPv4 address (nothing that could smuggle AT syntax) and a port.
    public static func setTCP(_ body: JSON) throws(DeviceError) -> ControlAction {
        guard case .object(let object) = body else { throw DeviceError.invalidCommand(fields: ["body": "must be a JSON object"]) }
        var problems: [String: String] = [:]
        for key in object.keys where DeviceSchemas.setTCP.property(key) == nil { problems[FieldReader.echo(key)] = "unknown field" }
        let host = object["host"]?.stringValue ?? ""
        if !isHostname(host) { problems["host"] = "must be a hostname or an IPv4 address" }
        let port = object["port"]?.int64Value
        if port.map({ !(1...65_535).contains($0) }) ?? true { problems["port"] = "must be 1..65535" }
        if !problems.isEmpty { throw DeviceError.invalidCommand(fields: problems) }
        return .setTCP(host: host.lowercased(), port: port!)
    }

    /// RFC 1123 hostnames (letters, digits, hyphens; labels of 1–63, at most 253 in all) and dotted IPv4.
    static func isHostname(_ text: String) -> Bool {
        guard (1...253).contains(text.utf8.count) else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count == 4, labels.allSatisfy({ $0.allSatisfy(\.isNumber) && !$0.isEmpty }) {
            return labels.allSatisfy { Int($0).map { (0...255).contains($0) } ?? false }
        }
        return labels.allSatisfy { label in
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            return label.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }
        } && !(labels.last?.allSatisfy(\.isNumber) ?? true)
    }
}
