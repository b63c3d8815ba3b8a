/// One MQTT connection's protocol state as a value, like `ConnectionStateMachine` for HTTP: events go in (bytes read,
/// the host's answers to authentication, publishes and subscriptions, messages to deliver, a timer tick with the current
/// time), actions come out (bytes to send, a question for the host, close). It makes no system call and reads no clock,
/// so tests drive it with a manual clock.
///
/// Rules it keeps: CONNECT first and within `Limits.connectTimeout` of accept; a second CONNECT, a packet the server does
/// not take, a malformed or oversized packet close the connection (5.0: DISCONNECT with the reason first); keep-alive at
/// 1.5× the client's interval; at most `Limits.receiveMaximum` inbound QoS 1/2 publishes waiting for the host (the
/// window: parsing pauses while it is full), acknowledged in the order they arrived, each only once the host reported its
/// outcome (QoS 1: PUBACK, QoS 2: PUBREC, then PUBCOMP on PUBREL, a repeated QoS 2 PUBLISH is not delivered twice);
/// outbound QoS 1 messages get packet ids, at most the client's Receive Maximum (≤ 32) in flight, the rest queued; a PUBACK
/// for an id not in flight closes the connection.
///
/// ```swift
/// var machine = MQTTSessionMachine(limits: .init(), now: 0)
/// var actions = machine.bytesRead(connectBytes, now: 0.1)     // [.authenticate(connect)]
/// actions = machine.accept(now: 0.1)                          // [.send(CONNACK)]
/// ```
public struct MQTTSessionMachine: Sendable {
    public struct Limits: Sendable {
        /// Largest packet accepted (and announced as 5.0 Maximum Packet Size).
        public var maxPacketBytes = 1 << 20
        /// Inbound QoS 1/2 publishes waiting for the host at once (announced as 5.0 Receive Maximum).
        public var receiveMaximum = 32
        /// Seconds from accept for CONNECT to arrive.
        public var connectTimeout: Double = 10

        public init(maxPacketBytes: Int = 1 << 20, receiveMaximum: Int = 32, connectTimeout: Double = 10) {
            self.maxPacketBytes = maxPacketBytes
            self.receiveMaximum = receiveMaximum
            self.connectTimeout = connectTimeout
        }
    }

    /// What the host must do, in order.
    public enum Action: Sendable, Equatable {
        /// Write these bytes.
        case send([UInt8])
        /// Close after the bytes sent so far; `reason` is nil for an orderly end (DISCONNECT or the peer's close).
        case close(reason: String?)
        /// Check the credentials, then answer `accept` or `refuse`.
        case authenticate(MQTTConnect)
        /// A PUBLISH arrived; for QoS 1/2 answer `published(sequence:reason:)` once its outcome is durable.
        case publish(MQTTInbound)
        /// A SUBSCRIBE arrived: answer `subscribed(packetID:reasons:)` with one reason code per filter.
        case subscribe(packetID: UInt16, subscriptions: [MQTTSubscription])
        /// These filters were unsubscribed (the UNSUBACK is already sent).
        case unsubscribed([String])
        /// An outbound QoS 1 message was acknowledged by the client.
        case delivered(token: UInt64)
    }

    public enum Phase: Sendable, Equatable {
        case awaitingConnect
        case authenticating
        case connected
        case closed
    }

    public let limits: Limits
    public private(set) var phase = Phase.awaitingConnect
    /// The connection's protocol version (from CONNECT; 3.1.1 until then).
    public private(set) var version = MQTTVersion.v311
    public private(set) var connect: MQTTConnect?
    private var input: [UInt8] = []
    private var inputStart = 0
    private let connectDeadline: Double
    private var lastReceived: Double
    private var keepAlive: Double = 0

    private struct Pending {
        let sequence: UInt64
        let packetID: UInt16
        let qos: MQTTQoS
        var reason: MQTTReason?
    }
    /// Inbound QoS 1/2 publishes handed to the host, in arrival order.
    private var pending: [Pending] = []
    private var nextSequence: UInt64 = 1
    /// QoS 2 packet ids whose PUBREC went out and whose PUBREL has not come yet.
    private var awaitingRelease: Set<UInt16> = []
    /// Outbound QoS 1 messages sent and not acknowledged: packet id → token.
    private var inFlight: [UInt16: UInt64] = [:]
    private var queued: [(publish: MQTTPublish, token: UInt64)] = []
    private var nextPacketID: UInt16 = 1
    private var outboundWindow = 32

    public init(limits: Limits = Limits(), now: Double) {
        self.limits = limits
        self.connectDeadline = now + limits.connectTimeout
        self.lastReceived = now
    }

    /// The host should keep reading: false once closed, or while the window is full and enough input is buffered.
    public var wantsInput: Bool {
        phase != .closed && (canProcess || input.count - inputStart < limits.maxPacketBytes + 8)
    }

    /// Inbound QoS 1/2 publishes waiting for the host.
    public var pendingCount: Int { pending.count }
    /// Outbound QoS 1 messages not yet acknowledged (in flight and queued).
    public var unacknowledgedOutbound: Int { inFlight.count + queued.count }

    private var canProcess: Bool {
        switch phase {
        case .awaitingConnect: true
        case .connected: pending.count < limits.receiveMaximum
        case .authenticating, .closed: false
        }
    }

    // MARK: - Events

    /// Bytes from the socket.
    public mutating func bytesRead(_ bytes: UnsafeRawBufferPointer, now: Double) -> [Action] {
        guard phase != .closed else { return [] }
        input.append(contentsOf: bytes)
        return process(now: now)
    }

    public mutating func bytesRead(_ bytes: [UInt8], now: Double) -> [Action] {
        bytes.withUnsafeBytes { bytesRead($0, now: now) }
    }

    /// The peer closed its side or the socket failed.
    public mutating func peerClosed() -> [Action] {
        guard phase != .closed else { return [] }
        phase = .closed
        return [.close(reason: nil)]
    }

    /// The timer: CONNECT deadline and keep-alive.
    public mutating func tick(now: Double) -> [Action] {
        switch phase {
        case .awaitingConnect, .authenticating:
            if now >= connectDeadline { return fail(.maxConnectTime, "no CONNECT within \(limits.connectTimeout) s") }
        case .connected:
            if keepAlive > 0, now - lastReceived > keepAlive * 1.5 {
                return fail(.keepAliveTimeout, "keep-alive expired (\(Int(keepAlive)) s × 1.5)")
            }
        case .closed:
            break
        }
        return []
    }

    /// The credentials are good: CONNACK, then the packets that arrived behind CONNECT.
    public mutating func accept(now: Double) -> [Action] {
        guard phase == .authenticating, let connect else { return [] }
        phase = .connected
        var properties: [MQTTProperty] = []
        if version == .v5 {
            properties = [MQTTProperty(MQTTProperty.receiveMaximum, .twoBytes(UInt16(limits.receiveMaximum))),
                          MQTTProperty(MQTTProperty.maximumPacketSize, .fourBytes(UInt32(limits.maxPacketBytes))),
                          MQTTProperty(MQTTProperty.subscriptionIdentifierAvailable, .byte(0)),
                          MQTTProperty(MQTTProperty.sharedSubscriptionAvailable, .byte(0))]   // Maximum QoS absent: 2
            if connect.clientID.isEmpty {
                properties.append(MQTTProperty(MQTTProperty.assignedClientIdentifier, .string("auto-\(connect.username ?? "client")")))
            }
        }
        var actions: [Action] = [.send(MQTTCodec.encode(.connack(sessionPresent: false, reason: .success, properties: properties),
                                                         version: version))]
        actions += process(now: now)
        return actions
    }

    /// The credentials are wrong (or the device may not connect): CONNACK with the reason, then close.
    public mutating func refuse(_ reason: MQTTReason, message: String) -> [Action] {
        guard phase == .authenticating else { return [] }
        phase = .closed
        return [.send(MQTTCodec.encode(.connack(sessionPresent: false, reason: reason, properties: []), version: version)),
                .close(reason: message)]
    }

    /// The host's outcome of an inbound publish: `.success` once durable, or a refusal reason (5.0: in the acknowledgement;
    /// 3.1.1 has no way to say it, so the connection closes).
    public mutating func published(sequence: UInt64, reason: MQTTReason, now: Double) -> [Action] {
        guard phase == .connected, let index = pending.firstIndex(where: { $0.sequence == sequence }) else { return [] }
        pending[index].reason = reason
        var actions: [Action] = []
        while let first = pending.first, let outcome = first.reason {
            pending.removeFirst()
            if outcome.rawValue >= 0x80 && version == .v311 {
                return actions + fail(outcome, "publish refused (\(outcome))")
            }
            let ack = MQTTAck(packetID: first.packetID, reason: outcome)
            if first.qos == .exactlyOnce {
                if outcome.rawValue < 0x80 { awaitingRelease.insert(first.packetID) }
                actions.append(.send(MQTTCodec.encode(.pubrec(ack), version: version)))
            } else {
                actions.append(.send(MQTTCodec.encode(.puback(ack), version: version)))
            }
        }
        return actions + process(now: now)
    }

    /// The host's reason codes for a SUBSCRIBE's filters (granted QoS or a failure).
    public mutating func subscribed(packetID: UInt16, reasons: [MQTTReason]) -> [Action] {
        guard phase == .connected else { return [] }
        let codes = reasons.map { version == .v5 || $0.rawValue < 0x80 ? $0.rawValue : 0x80 }
        return [.send(MQTTCodec.encode(.suback(packetID: packetID, reasons: codes, properties: []), version: version))]
    }

    /// Sends a message to the client: QoS 0 at once; QoS 1 with a packet id when the window has room, else queued.
    /// `token` comes back in `.delivered` when the client acknowledges it.
    public mutating func deliver(topic: String, payload: [UInt8], qos: MQTTQoS, token: UInt64) -> [Action] {
        guard phase == .connected else { return [] }
        if qos == .atMostOnce {
            return [.send(MQTTCodec.encode(.publish(MQTTPublish(topic: topic, payload: payload)), version: version))]
        }
        queued.append((MQTTPublish(topic: topic, payload: payload, qos: .atLeastOnce), token))
        return sendQueued()
    }

    /// Ends the connection from the server side (5.0: DISCONNECT with `reason` first), e.g. a takeover or a shutdown.
    public mutating func disconnect(_ reason: MQTTReason, message: String) -> [Action] {
        fail(reason, message)
    }

    // MARK: - Parsing

    private mutating func process(now: Double) -> [Action] {
        var actions: [Action] = []
        while canProcess {
            let frame: MQTTCodec.Frame?
            do {
                frame = try MQTTCodec.frame(input, from: inputStart, maxPacketBytes: limits.maxPacketBytes)
            } catch {
                return actions + fail(error.reason, error.message)
            }
            guard let frame else { break }
            lastReceived = now
            let decoded: MQTTPacket
            do {
                decoded = try MQTTCodec.decode(header: frame.header, body: input[frame.body], version: version)
            } catch {
                return actions + decodeFailed(error)
            }
            inputStart = frame.end
            actions += handle(decoded, now: now)
            if phase == .closed { return actions }
        }
        if inputStart > 0 && (inputStart == input.count || inputStart > 65_536) {
            input.removeFirst(inputStart)
            inputStart = 0
        }
        return actions
    }

    private mutating func decodeFailed(_ error: MQTTDecodeError) -> [Action] {
        if phase == .awaitingConnect, case .unsupportedVersion = error {
            // 3.1.1 §3.2.2.3: CONNACK 0x01 (unacceptable protocol level), then close.
            phase = .closed
            return [.send(MQTTCodec.encode(.connack(sessionPresent: false, reason: .unsupportedProtocolVersion, properties: []), version: .v311)),
                    .close(reason: error.message)]
        }
        return fail(error.reason, error.message)
    }

    private mutating func handle(_ packet: MQTTPacket, now: Double) -> [Action] {
        if phase == .awaitingConnect {
            guard case .connect(let connect) = packet else { return fail(.protocolError, "first packet is not CONNECT") }
            version = connect.version
            self.connect = connect
            keepAlive = Double(connect.keepAlive)
            if connect.version == .v311 && connect.clientID.isEmpty && !connect.cleanStart {
                phase = .authenticating
                return refuse(.clientIdentifierNotValid, message: "empty client id without a clean session")
            }
            if connect.version == .v5 && connect.properties.first(MQTTProperty.authenticationMethod) != nil {
                phase = .authenticating
                return refuse(.badAuthenticationMethod, message: "enhanced authentication is not offered")
            }
            if let window = connect.properties.integer(MQTTProperty.receiveMaximum) {
                if window == 0 { return fail(.protocolError, "Receive Maximum 0") }
                outboundWindow = min(window, 32)
            }
            phase = .authenticating
            return [.authenticate(connect)]
        }
        switch packet {
        case .connect:
            return fail(.protocolError, "second CONNECT")
        case .publish(let publish):
            return received(publish)
        case .puback(let ack):
            guard let token = inFlight.removeValue(forKey: ack.packetID) else {
                return fail(.protocolError, "PUBACK for unknown packet id \(ack.packetID)")
            }
            return [.delivered(token: token)] + sendQueued()
        case .pubrel(let ack):
            let known = awaitingRelease.remove(ack.packetID) != nil
            let reason: MQTTReason = known || version == .v311 ? .success : .packetIdentifierNotFound
            return [.send(MQTTCodec.encode(.pubcomp(MQTTAck(packetID: ack.packetID, reason: reason)), version: version))]
        case .subscribe(let packetID, let subscriptions, let properties):
            if properties.first(MQTTProperty.subscriptionIdentifier) != nil {
                return fail(.subscriptionIdentifiersNotSupported, "subscription identifiers are not supported")
            }
            return [.subscribe(packetID: packetID, subscriptions: subscriptions)]
        case .unsubscribe(let packetID, let filters, _):
            let reasons = [UInt8](repeating: MQTTReason.success.rawValue, count: filters.count)
            return [.send(MQTTCodec.encode(.unsuback(packetID: packetID, reasons: reasons, properties: []), version: version)),
                    .unsubscribed(filters)]
        case .pingreq:
            return [.send(MQTTCodec.encode(.pingresp, version: version))]
        case .disconnect:
            phase = .closed
            return [.close(reason: nil)]
        case .connack, .pubrec, .pubcomp, .suback, .unsuback, .pingresp, .auth:
            return fail(.protocolError, "unexpected packet type \(packet.typeCode)")
        }
    }

    private mutating func received(_ publish: MQTTPublish) -> [Action] {
        if publish.topic.isEmpty || !MQTTTopic.isValidName(publish.topic) {
            return fail(.topicNameInvalid, "invalid topic name in PUBLISH")
        }
        if publish.properties.first(MQTTProperty.topicAlias) != nil { return fail(.topicAliasInvalid, "topic alias (maximum 0)") }
        let sequence = nextSequence
        nextSequence += 1
        let inbound = MQTTInbound(sequence: sequence, topic: publish.topic, payload: publish.payload, qos: publish.qos,
                                  retain: publish.retain)
        guard let packetID = publish.packetID else { return [.publish(inbound)] }
        if publish.qos == .exactlyOnce && awaitingRelease.contains(packetID) {
            // A retransmission of a message already stored: PUBREC again, no second delivery.
            return [.send(MQTTCodec.encode(.pubrec(MQTTAck(packetID: packetID)), version: version))]
        }
        if pending.contains(where: { $0.packetID == packetID }) {
            return fail(.packetIdentifierInUse, "packet id \(packetID) reused while in flight")
        }
        pending.append(Pending(sequence: sequence, packetID: packetID, qos: publish.qos))
        return [.publish(inbound)]
    }

    private mutating func sendQueued() -> [Action] {
        var actions: [Action] = []
        while inFlight.count < outboundWindow, !queued.isEmpty {
            var (publish, token) = queued.removeFirst()
            while inFlight[nextPacketID] != nil || nextPacketID == 0 { nextPacketID &+= 1 }
            publish.packetID = nextPacketID
            inFlight[nextPacketID] = token
            nextPacketID &+= 1
            actions.append(.send(MQTTCodec.encode(.publish(publish), version: version)))
        }
        return actions
    }

    /// Closes for a protocol reason: 5.0 after CONNACK sends DISCONNECT with the reason first.
    private mutating func fail(_ reason: MQTTReason, _ message: String) -> [Action] {
        guard phase != .closed else { return [] }
        let wasConnected = phase == .connected
        phase = .closed
        if wasConnected && version == .v5 {
            return [.send(MQTTCodec.encode(.disconnect(reason: reason, properties: []), version: .v5)), .close(reason: message)]
        }
        return [.close(reason: message)]
    }
}

/// An inbound PUBLISH as the host sees it; `sequence` identifies it in `published(sequence:reason:)`.
public struct MQTTInbound: Sendable, Equatable {
    public let sequence: UInt64
    public let topic: String
    public let payload: [UInt8]
    public let qos: MQTTQoS
    public let retain: Bool
}

/// Topic names and filters (MQTT §4.7).
public enum MQTTTopic {
    /// A topic name may not contain wildcards.
    public static func isValidName(_ topic: String) -> Bool {
        !topic.utf8.contains(UInt8(ascii: "+")) && !topic.utf8.contains(UInt8(ascii: "#"))
    }

    /// `+` stands alone in a level, `#` alone in the last level.
    public static func isValidFilter(_ filter: String) -> Bool {
        guard !filter.isEmpty else { return false }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) { return false }
            if level.contains("+") && level != "+" { return false }
        }
        return true
    }

    /// Whether `filter` matches `topic` (`$`-topics are not matched by a leading wildcard).
    public static func matches(_ filter: String, _ topic: String) -> Bool {
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$") && (filter.hasPrefix("+") || filter.hasPrefix("#")) { return false }
        for (index, level) in filterLevels.enumerated() {
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
        }
        return filterLevels.count == topicLevels.count
    }
}
