import Auth
import Core
import Foundation
import Persistence
import Projects

extension DeviceService {
    /// Authenticates a device by `device_id` and the key issued at provisioning (stored as SHA-256, compared in
    /// constant time); nil when they do not match. The route layer takes them from HTTP Basic.
    public func authenticateDevice(deviceID: String, key: String) throws -> Device? {
        guard !key.isEmpty, key.utf8.count <= 512, deviceID.utf8.count <= 128,
              let device = try db.read({ try DeviceStore(db: $0).device(keyHash: Secrets.sha256Hex(key)) }),
              Secrets.constantTimeEquals(device.deviceID, deviceID)
        else { return nil }
        return device
    }

    /// Records contact from a device (gateway calls that carry no telemetry, also Factors' `gateway/factors/`).
    public func touch(_ device: Device) throws {
        let seconds = clock.unixSeconds()
        try db.write { tx in
            try DeviceStore(db: tx).touch(pk: device.id, connectTime: seconds)
            try bus.publish(DeviceContacted(devicePKs: [device.id], now: seconds), in: tx)
        }
    }

    /// `GET /api/v2/gateway/commands/`: the device's pending commands in order, now marked delivered.
    public func deliverCommands(to device: Device) throws -> [DeviceCommand] {
        let nowSeconds = clock.unixSeconds()
        let time = now
        let delivered = try db.write { tx -> [DeviceCommand] in
            let store = CommandStore(db: tx)
            try store.expire(devicePK: device.id, now: nowSeconds, at: time)
            let pending = try store.pending(devicePK: device.id)
            try store.markDelivered(ids: pending.map(\.id), at: time, via: "http")
            try DeviceStore(db: tx).touch(pk: device.id, connectTime: nowSeconds)
            try bus.publish(DeviceContacted(devicePKs: [device.id], now: nowSeconds), in: tx)
            return pending.map { command in
                var copy = command
                copy.status = .delivered
                copy.deliveredAt = time
                copy.deliveredVia = "http"
                return copy
            }
        }
        return delivered
    }

    /// The device's pending commands in order, left pending (a push channel marks each delivered when the device
    /// confirms it, `markDelivered(commandID:of:)`).
    public func pendingCommands(of device: Device) throws -> [DeviceCommand] {
        let nowSeconds = clock.unixSeconds()
        let time = now
        return try db.write { tx in
            let store = CommandStore(db: tx)
            try store.expire(devicePK: device.id, now: nowSeconds, at: time)
            return try store.pending(devicePK: device.id)
        }
    }

    /// Commands queued since `afterID` (by any process sharing the database): the devices that have one pending, and the
    /// id to pass next time. `afterID` nil: nothing, only the id to start from.
    public func commandsQueued(after afterID: Int64?) throws -> (devicePKs: [Int64], lastID: Int64) {
        try db.read { db in
            let store = CommandStore(db: db)
            guard let afterID else { return ([], try store.lastCommandID()) }
            return try store.devicesWithPendingCommands(after: afterID)
        }
    }

    /// Marks one pending command of `device` delivered (a pushed command the device confirmed); anything else is left.
    public func markDelivered(commandID: Int64, of device: Device) throws {
        let time = now
        try db.write { tx in
            let store = CommandStore(db: tx)
            guard let command = try store.command(id: commandID), command.devicePK == device.id else { return }
            try store.markDelivered(ids: [commandID], at: time, via: "mqtt")
        }
    }

    /// Records that `device` holds an MQTT connection from now (also contact), or that it closed (`connected` false).
    public func setMQTTConnected(_ device: Device, _ connected: Bool) throws {
        let seconds = clock.unixSeconds()
        try db.write { tx in
            let store = DeviceStore(db: tx)
            try store.setMQTTConnected(pk: device.id, since: connected ? Timestamp.format(unixSeconds: seconds) : nil)
            if connected {
                try store.touch(pk: device.id, connectTime: seconds)
                try bus.publish(DeviceContacted(devicePKs: [device.id], now: seconds), in: tx)
            }
            announce(tx, organizationID: device.organizationID)
        }
        invalidate(organizationID: device.organizationID)
    }

    /// Records contact from devices holding a connection open (one transaction for all of them).
    public func touch(_ devices: [Device]) throws {
        guard !devices.isEmpty else { return }
        let seconds = clock.unixSeconds()
        try db.write { tx in
            let store = DeviceStore(db: tx)
            for device in devices { try store.touch(pk: device.id, connectTime: seconds) }
            try bus.publish(DeviceContacted(devicePKs: devices.map(\.id), now: seconds), in: tx)
        }
    }

    /// `POST /api/v2/gateway/commands/{id}/ack/`: the device reports the outcome of one of its own commands.
    /// 404 `COMMAND_NOT_FOUND` unless `commandID` was queued for `device` (checked before an ack's body is read).
    public func requireCommand(_ commandID: Int64, of device: Device) throws {
        guard let command = try db.read({ try CommandStore(db: $0).command(id: commandID) }), command.devicePK == device.id else {
            throw DeviceError.commandNotFound(id: commandID)
        }
    }

    /// Finishes a delivered (or pending) command: `acked` when `ok`, else `failed` with `output` as the error text.
    public func acknowledge(commandID: Int64, ok: Bool, output: String?, by device: Device) throws -> DeviceCommand {
        let nowSeconds = clock.unixSeconds()
        let time = now
        let finished = try db.write { tx -> DeviceCommand in
            let store = CommandStore(db: tx)
            try store.expire(devicePK: device.id, now: nowSeconds, at: time)
            guard var command = try store.command(id: commandID), command.devicePK == device.id else {
                throw DeviceError.commandNotFound(id: commandID)
            }
            guard command.status == .delivered || command.status == .pending else {
                throw DeviceError.invalidCommandState(id: commandID, status: command.status)
            }
            command.status = ok ? .acked : .failed
            command.output = output
            command.finishedAt = time
            try store.finish(id: command.id, status: command.status, output: output, at: time)
            try DeviceStore(db: tx).touch(pk: device.id, connectTime: nowSeconds)
            try bus.publish(DeviceContacted(devicePKs: [device.id], now: nowSeconds), in: tx)
            return command
        }
        return finished
    }

    /// `POST /api/v2/gateway/data/`: telemetry as the device itself, through the same pipeline as the user route, without
    /// waiting for the commit: `completion` gets the result on the group committer's thread (see
    /// `ingest(projectID:pk:caller:document:completion:)`), from the body's unparsed bytes. Refused data (allow=false, a
    /// bad body, or refused by the commit because the device left its project meanwhile) is still contact.
    public func ingest(asDevice device: Device, document: JSONDocument,
                       completion: @escaping @Sendable (Result<IngestResult, any Error>) -> Void) throws {
        let body = try TelemetryPayload.Body(document, maxPoints: maxPointsPerRequest)
        guard let projectPK = device.projectPK, let project = try projects.project(pk: projectPK) else {
            try touch(device)
            throw DeviceError.notBound(deviceID: device.deviceID)
        }
        do {
            try queue(device: device, project: project, body: body) { [self] result in
                if case .failure = result { try? touch(device) }
                completion(result)
            }
        } catch {
            try? touch(device)
            throw error
        }
    }

    /// `GET /api/v2/gateway/` : who the device is (a connectivity check that also refreshes `connect_time`).
    public func hello(_ device: Device) throws -> JSON {
        try touch(device)
        return .object(["device_id": .string(device.deviceID), "agri_id": .string(device.agriID), "bound": .bool(device.isBound),
                        "allow": .bool(device.allow)])
    }
}
