import Core
import Devices
import Dispatch
import Foundation
import MQTT
import Platform
import Synchronization

/// The device gateway over MQTT: CONNECT authenticates a device with its gateway credential (rate-limited like bind),
/// one connection per device (a new one takes over), telemetry into the same group commit as the HTTP gateway with the
/// acknowledgement after the commit, commands pushed to `devices/{id}/commands` subscribers. Blocking work (the
/// database) runs on a queue of its own, never on an event loop.
final class DeviceMQTTGateway: MQTTApplication, Sendable {
    let context: PlatformContext
    let devices: DeviceService
    let limiter: any AttemptLimiter
    /// Where database work runs; each session has a serial queue targeting it (its publishes stay in order).
    let work = DispatchQueue(label: "mqtt-gateway", attributes: .concurrent)
    /// The current session of each connected device (by device pk).
    let sessions = Mutex<[Int64: DeviceMQTTSession]>([:])
    /// Set once by `start` (the api-server's startup thread), cancelled by `stop`.
    private nonisolated(unsafe) var timer: (any DispatchSourceTimer)?
    private nonisolated(unsafe) var commandPoll: (any DispatchSourceTimer)?
    /// The newest command id the poll has seen (touched only on the poll's serial queue).
    private nonisolated(unsafe) var lastCommandID: Int64?
    private let pollQueue = DispatchQueue(label: "mqtt-command-poll")

    init(context: PlatformContext, devices: DeviceService) {
        self.context = context
        self.devices = devices
        limiter = context.attemptLimiter("mqtt.connect", maxFailures: context.config.int(DeviceKeys.bindMaxFailures),
                                         window: context.config.seconds(DeviceKeys.bindWindow))
    }

    /// Starts refreshing the contact time of connected devices (every 30 s: "in contact" while connected).
    func start() {
        let source = DispatchSource.makeTimerSource(queue: work)
        source.schedule(deadline: .now() + 30, repeating: 30)
        source.setEventHandler { [self] in
            let connected = sessions.withLock { $0.values.map(\.device) }
            do { try devices.touch(connected) } catch {
                context.logger.warning("mqtt contact refresh failed", ["error": .string("\(error)")])
            }
        }
        source.resume()
        timer = source
        // Commands queued by another api-server process on the same database reach this process's subscribers within a
        // second (this process's own arrive at once through the bus).
        let poll = DispatchSource.makeTimerSource(queue: pollQueue)
        poll.schedule(deadline: .now(), repeating: 1)
        poll.setEventHandler { [self] in
            // No connected device, nothing to push (a device that connects gets its pending commands on subscribing).
            guard sessions.withLock({ !$0.isEmpty }) else { return lastCommandID = nil }
            do {
                let starting = lastCommandID == nil
                let (devicePKs, last) = try devices.commandsQueued(after: lastCommandID)
                lastCommandID = last
                // Starting: what was queued before the id taken now may not have been seen by a session yet.
                let targets = starting ? sessions.withLock { Array($0.keys) } : devicePKs
                for pk in targets { commandQueued(devicePK: pk) }
            } catch {
                context.logger.warning("mqtt command poll failed", ["error": .string("\(error)")])
            }
        }
        poll.resume()
        commandPoll = poll
    }

    func stop() {
        timer?.cancel()
        commandPoll?.cancel()
    }

    // MARK: - CONNECT

    func connect(_ request: MQTTConnect, connection: MQTTConnection) {
        work.async { [self] in
            let deviceID = request.username ?? ""
            let address = Self.host(of: connection.remoteAddress)
            // Counted before the comparison, per device and per address, as bind counts wrong safe codes.
            let keys = ["mqtt:device:\(deviceID)", "mqtt:address:\(address)"]
            do {
                try limiter.attempt(keys)
            } catch {
                context.logger.warning("mqtt connect refused: too many failures", ["device_id": .string(deviceID), "remote": .string(address)])
                return connection.refuse(.notAuthorized, message: "rate limited")
            }
            let key = request.password.flatMap { String(validating: $0, as: UTF8.self) } ?? ""
            let device: Device?
            do { device = try devices.authenticateDevice(deviceID: deviceID, key: key) } catch {
                limiter.forgive(keys)
                return connection.refuse(.serverUnavailable, message: "authentication failed: \(error)")
            }
            guard let device else {
                context.logger.warning("mqtt connect refused: bad credentials", ["device_id": .string(deviceID), "remote": .string(address)])
                return connection.refuse(.badUserNameOrPassword, message: "bad credentials for \(deviceID.debugDescription)")
            }
            limiter.forgive(keys)
            try? devices.setMQTTConnected(device, true)
            let session = DeviceMQTTSession(gateway: self, device: device, connection: connection, version: request.version)
            let previous = sessions.withLock { sessions -> DeviceMQTTSession? in
                defer { sessions[device.id] = session }
                return sessions[device.id]
            }
            previous?.connection.disconnect(.sessionTakenOver, message: "taken over by a new connection of \(device.deviceID)")
            context.logger.info("mqtt device connected", ["device_id": .string(device.deviceID), "remote": .string(connection.remoteAddress),
                                                         "protocol": .string(request.version == .v5 ? "5.0" : "3.1.1")])
            connection.accept(session)
        }
    }

    /// Forgets a closed session and records that the device is no longer connected (unless a newer one took its place).
    func remove(_ session: DeviceMQTTSession) {
        let current = sessions.withLock { sessions -> Bool in
            guard sessions[session.device.id] === session else { return false }
            sessions[session.device.id] = nil
            return true
        }
        guard current else { return }
        work.async { [self] in
            // Only while no new connection of the device came in meanwhile.
            guard sessions.withLock({ $0[session.device.id] }) == nil else { return }
            try? devices.setMQTTConnected(session.device, false)
        }
    }

    /// A command was queued for a device: its session (if subscribed) sends what it has not sent yet.
    func commandQueued(devicePK: Int64) {
        guard let session = sessions.withLock({ $0[devicePK] }) else { return }
        session.pushPending(resend: false)
    }

    static func host(of remoteAddress: String) -> String {
        guard let colon = remoteAddress.lastIndex(of: ":") else { return remoteAddress }
        return String(remoteAddress[..<colon])
    }
}

/// One connected device's session: its topics, its subscription to commands and the commands pushed to it.
final class DeviceMQTTSession: MQTTSessionDelegate, @unchecked Sendable {
    let gateway: DeviceMQTTGateway
    let device: Device
    let connection: MQTTConnection
    let version: MQTTVersion
    let queue: DispatchQueue
    let prefix: String
    /// Guarded by `state`'s lock: the QoS commands are subscribed with (nil: not subscribed) and the ids already sent.
    private let state = Mutex<(commandsQoS: MQTTQoS?, sent: Set<Int64>, open: Bool)>((nil, [], true))

    init(gateway: DeviceMQTTGateway, device: Device, connection: MQTTConnection, version: MQTTVersion) {
        self.gateway = gateway
        self.device = device
        self.connection = connection
        self.version = version
        self.queue = DispatchQueue(label: "mqtt-session", target: gateway.work)
        self.prefix = "devices/\(device.deviceID)/"
    }

    var logger: Logger { gateway.context.logger }

    // MARK: - Publishes from the device

    func publish(_ message: MQTTInbound, connection: MQTTConnection) {
        let topic = message.topic
        if topic == prefix + "telemetry" {
            queue.async { [self] in telemetry(message) }
        } else if topic.hasPrefix(prefix + "commands/"), topic.hasSuffix("/ack"),
                  let id = Int64(topic.dropFirst(prefix.count + "commands/".count).dropLast("/ack".count)) {
            queue.async { [self] in acknowledge(id, message) }
        } else {
            logger.warning("mqtt publish refused: topic not allowed", ["device_id": .string(device.deviceID), "topic": .string(topic)])
            refuse(message, .notAuthorized, "publish to \(topic) not allowed")
        }
    }

    /// Answers a refused publish: the reason in its acknowledgement (5.0, QoS 1/2), else the connection closes (3.1.1;
    /// 5.0 QoS 0 for a topic that is not the device's).
    private func refuse(_ message: MQTTInbound, _ reason: MQTTReason, _ text: String) {
        if message.qos != .atMostOnce {
            connection.published(sequence: message.sequence, reason: reason)
        } else if version == .v311 || reason == .notAuthorized {
            connection.disconnect(reason, message: text)
        }
    }

    private func telemetry(_ message: MQTTInbound) {
        // One object is taken as a one-point array.
        var bytes = message.payload
        if let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }), first == UInt8(ascii: "{") {
            bytes = [UInt8(ascii: "[")] + bytes + [UInt8(ascii: "]")]
        }
        let connection = connection
        let sequence = message.sequence
        let qos = message.qos
        let deviceID = device.deviceID
        let logger = logger
        do {
            try gateway.devices.ingest(asDevice: device, document: JSONDocument(bytes)) { result in
                switch result {
                case .success:
                    if qos != .atMostOnce { connection.published(sequence: sequence, reason: .success) }
                case .failure(let error):
                    logger.warning("mqtt telemetry refused", ["device_id": .string(deviceID), "error": .string("\(error)")])
                    if qos != .atMostOnce { connection.published(sequence: sequence, reason: Self.reason(for: error)) }
                }
            }
        } catch {
            logger.warning("mqtt telemetry refused", ["device_id": .string(deviceID), "error": .string("\(error)")])
            refuse(message, Self.reason(for: error), "telemetry refused")
        }
    }

    private func acknowledge(_ commandID: Int64, _ message: MQTTInbound) {
        do {
            var ok = true
            var output: String?
            if !message.payload.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
                guard case .object(let object) = try JSONDocument(message.payload).parsed() else {
                    return refuse(message, .payloadFormatInvalid, "command ack is not a JSON object")
                }
                if case .bool(let flag)? = object["ok"] { ok = flag }
                if case .string(let text)? = object[ok ? "output" : "error"] { output = text } else if case .string(let text)? = object["output"] {
                    output = text
                }
            }
            try gateway.devices.requireCommand(commandID, of: device)
            do {
                _ = try gateway.devices.acknowledge(commandID: commandID, ok: ok, output: output, by: device)
            } catch DeviceError.invalidCommandState {
                // Already finished (a repeated ack): nothing changes.
            }
            if message.qos != .atMostOnce { connection.published(sequence: message.sequence, reason: .success) }
        } catch {
            logger.warning("mqtt command ack refused", ["device_id": .string(device.deviceID), "command_id": .int64(commandID),
                                                        "error": .string("\(error)")])
            refuse(message, Self.reason(for: error), "command ack refused")
        }
    }

    /// The MQTT reason for a refusal the domain answered with an error (by its HTTP status).
    static func reason(for error: any Error) -> MQTTReason {
        guard let error = error as? any PlatformError else { return .unspecifiedError }
        switch error.status {
        case 400, 413, 422: return .payloadFormatInvalid
        case 401, 403, 404, 409: return .notAuthorized
        case 429: return .quotaExceeded
        case 503: return .serverBusy
        default: return .unspecifiedError
        }
    }

    // MARK: - Subscriptions

    func subscribe(_ subscriptions: [MQTTSubscription], connection: MQTTConnection) -> [MQTTReason] {
        var commandsQoS: MQTTQoS?
        let reasons = subscriptions.map { subscription -> MQTTReason in
            let filter = subscription.filter
            guard MQTTTopic.isValidFilter(filter) else { return .topicFilterInvalid }
            // Only the device's own topics: wildcards inside `devices/{device_id}/` and nowhere else.
            guard filter.hasPrefix(prefix), !filter.dropLast(filter.count - prefix.count).contains(where: { $0 == "+" || $0 == "#" }) else {
                logger.warning("mqtt subscribe refused", ["device_id": .string(device.deviceID), "filter": .string(filter)])
                return .notAuthorized
            }
            let granted = min(subscription.qos, .atLeastOnce)
            if MQTTTopic.matches(filter, prefix + "commands") { commandsQoS = max(commandsQoS ?? .atMostOnce, granted) }
            return granted == .atLeastOnce ? .grantedQoS1 : .success
        }
        if let commandsQoS {
            state.withLock { $0.commandsQoS = max($0.commandsQoS ?? .atMostOnce, commandsQoS) }
            pushPending(resend: true)
        }
        return reasons
    }

    func unsubscribed(_ filters: [String]) {
        if filters.contains(where: { MQTTTopic.matches($0, prefix + "commands") }) {
            state.withLock { $0.commandsQoS = nil }
        }
    }

    /// Publishes the device's pending commands on `devices/{id}/commands`: every one (`resend`, a new subscription) or
    /// those not sent on this connection yet (a command was just queued).
    func pushPending(resend: Bool) {
        queue.async { [self] in
            guard let qos = state.withLock({ $0.open ? $0.commandsQoS : nil }) else { return }
            let pending: [DeviceCommand]
            do { pending = try gateway.devices.pendingCommands(of: device) } catch {
                return logger.warning("mqtt command push failed", ["device_id": .string(device.deviceID), "error": .string("\(error)")])
            }
            let toSend = state.withLock { state -> [DeviceCommand] in
                let list = resend ? pending : pending.filter { !state.sent.contains($0.id) }
                state.sent.formUnion(list.map(\.id))
                return list
            }
            for command in toSend {
                connection.deliver(topic: prefix + "commands", payload: Self.payload(command), qos: qos, token: UInt64(command.id))
            }
        }
    }

    /// `{"id", "command", "payload", "created_at", "kind", "expires_at"}`: `command` is the text the device executes, as
    /// the HTTP gateway's; `payload` carries the action's kind.
    static func payload(_ command: DeviceCommand) -> [UInt8] {
        var object = JSONObject()
        object.append("id", .int64(command.id))
        object.append("command", .string(command.command))
        object.append("payload", .object(["kind": .string(command.kind)]))
        object.append("created_at", .string(command.createdAt))
        object.append("kind", .string(command.kind))
        object.append("expires_at", .string(Timestamp.format(unixSeconds: command.expiresAt)))
        return JSONWriter.bytes(.object(object))
    }

    func delivered(token: UInt64) {
        queue.async { [self] in
            do { try gateway.devices.markDelivered(commandID: Int64(token), of: device) } catch {
                logger.warning("mqtt command delivery not recorded", ["device_id": .string(device.deviceID), "error": .string("\(error)")])
            }
        }
    }

    func closed(reason: String?) {
        state.withLock { $0.open = false }
        gateway.remove(self)
        logger.info("mqtt device disconnected", ["device_id": .string(device.deviceID), "reason": .string(reason ?? "closed")])
    }
}
