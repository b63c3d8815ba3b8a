@testable import MQTT
import Testing

/// The per-connection state machine on its own: events in, actions out, time passed by hand (no sockets, no sleeps).
@Suite struct MQTTSessionMachineTests {
    typealias Machine = MQTTSessionMachine

    static func bytes(_ packet: MQTTPacket, _ version: MQTTVersion) -> [UInt8] { MQTTCodec.encode(packet, version: version) }

    /// The packets among `actions`' sends, decoded.
    static func sent(_ actions: [Machine.Action], _ version: MQTTVersion) throws -> [MQTTPacket] {
        var out: [MQTTPacket] = []
        for case .send(let bytes) in actions {
            let frame = try #require(try MQTTCodec.frame(bytes, maxPacketBytes: 1 << 20))
            out.append(try MQTTCodec.decode(header: frame.header, body: bytes[frame.body], version: version))
        }
        return out
    }

    static func closes(_ actions: [Machine.Action]) -> Bool {
        actions.contains { if case .close = $0 { true } else { false } }
    }

    static func publishes(_ actions: [Machine.Action]) -> [MQTTInbound] {
        actions.compactMap { if case .publish(let inbound) = $0 { inbound } else { nil } }
    }

    /// A machine past CONNECT and CONNACK.
    static func connected(_ version: MQTTVersion, keepAlive: UInt16 = 0, properties: [MQTTProperty] = []) throws -> Machine {
        var machine = Machine(limits: .init(maxPacketBytes: 4096, receiveMaximum: 32, connectTimeout: 10), now: 0)
        let connect = MQTTConnect(version: version, clientID: "c", keepAlive: keepAlive, username: "d-1", password: Array("k".utf8),
                                  properties: properties)
        #expect(machine.bytesRead(bytes(.connect(connect), version), now: 0) == [.authenticate(connect)])
        let connack = try sent(machine.accept(now: 0), version)
        guard case .connack(false, .success, _) = connack.first else {
            Issue.record("no CONNACK: \(connack)")
            return machine
        }
        return machine
    }

    @Test(arguments: [MQTTVersion.v311, .v5])
    func connectIsAuthenticatedThenAcknowledged(version: MQTTVersion) throws {
        var machine = Machine(now: 0)
        let connect = MQTTConnect(version: version, clientID: "c", keepAlive: 30, username: "d-1", password: Array("k".utf8))
        // CONNECT and a PINGREQ right behind it: the PINGREQ waits for the credentials.
        let raw = Self.bytes(.connect(connect), version) + Self.bytes(.pingreq, version)
        #expect(machine.bytesRead(raw, now: 1) == [.authenticate(connect)])
        #expect(machine.phase == .authenticating)
        let packets = try Self.sent(machine.accept(now: 2), version)
        #expect(packets.count == 2)
        #expect(packets.last == .pingresp)
        if version == .v5, case .connack(_, _, let properties) = packets.first {
            #expect(properties.integer(MQTTProperty.receiveMaximum) == 32)
            #expect(properties.integer(MQTTProperty.maximumPacketSize) == 1 << 20)
        }
    }

    @Test(arguments: [(MQTTVersion.v311, UInt8(0x04)), (.v5, 0x86)])
    func wrongCredentialsAreRefused(version: MQTTVersion, code: UInt8) throws {
        var machine = Machine(now: 0)
        let connect = MQTTConnect(version: version, clientID: "c", username: "d-1", password: Array("bad".utf8))
        _ = machine.bytesRead(Self.bytes(.connect(connect), version), now: 0)
        let actions = machine.refuse(.badUserNameOrPassword, message: "bad")
        guard case .send(let bytes) = actions.first else { Issue.record("no CONNACK"); return }
        #expect(bytes[3] == code)
        #expect(Self.closes(actions))
        #expect(machine.phase == .closed)
        #expect(machine.bytesRead(Self.bytes(.pingreq, version), now: 1).isEmpty)
    }

    @Test func publishBeforeConnectCloses() {
        var machine = Machine(now: 0)
        let actions = machine.bytesRead(Self.bytes(.publish(MQTTPublish(topic: "a", payload: [])), .v311), now: 0)
        #expect(actions == [.close(reason: "first packet is not CONNECT")])
    }

    @Test func unsupportedLevelGetsReturnCode1() {
        var machine = Machine(now: 0)
        let actions = machine.bytesRead([0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x54, 3, 0x02, 0, 60, 0, 1, 0x63], now: 0)
        #expect(actions.first == .send([0x20, 2, 0, 1]))
        #expect(Self.closes(actions))
    }

    @Test func secondConnectAndMalformedPacketsDisconnectWithReason() throws {
        var machine = try Self.connected(.v5)
        let again = MQTTConnect(version: .v5, clientID: "c")
        var actions = machine.bytesRead(Self.bytes(.connect(again), .v5), now: 1)
        #expect(try Self.sent(actions, .v5) == [.disconnect(reason: .protocolError, properties: [])])
        #expect(Self.closes(actions))

        machine = try Self.connected(.v5)
        actions = machine.bytesRead([0x36, 5, 0, 1, 0x74, 0, 1], now: 1)   // QoS 3
        #expect(try Self.sent(actions, .v5) == [.disconnect(reason: .malformedPacket, properties: [])])

        machine = try Self.connected(.v5)
        actions = machine.bytesRead([0x30, 0x80, 0x80, 0x01], now: 1)   // 16 384 bytes announced, limit 4096
        #expect(try Self.sent(actions, .v5) == [.disconnect(reason: .packetTooLarge, properties: [])])

        machine = try Self.connected(.v311)
        actions = machine.bytesRead(Self.bytes(.publish(MQTTPublish(topic: "devices/+/telemetry", payload: [])), .v311), now: 1)
        #expect(actions == [.close(reason: "invalid topic name in PUBLISH")])
    }

    @Test func connectDeadline() {
        var machine = Machine(limits: .init(connectTimeout: 10), now: 100)
        #expect(machine.tick(now: 109.9).isEmpty)
        _ = machine.bytesRead([0x10, 13, 0, 4], now: 105)   // part of a CONNECT does not extend it
        #expect(Self.closes(machine.tick(now: 110)))
    }

    @Test func keepAliveIsEnforcedAtOneAndAHalfTimes() throws {
        var machine = try Self.connected(.v5, keepAlive: 10)
        #expect(machine.tick(now: 14.9).isEmpty)
        #expect(try Self.sent(machine.bytesRead(Self.bytes(.pingreq, .v5), now: 14), .v5) == [.pingresp])
        #expect(machine.tick(now: 28.9).isEmpty)
        let actions = machine.tick(now: 29.1)
        #expect(try Self.sent(actions, .v5) == [.disconnect(reason: .keepAliveTimeout, properties: [])])
        #expect(Self.closes(actions))
        // Keep-alive 0: no limit.
        var idle = try Self.connected(.v311, keepAlive: 0)
        #expect(idle.tick(now: 1_000_000).isEmpty)
    }

    @Test(arguments: [MQTTVersion.v311, .v5])
    func qos1IsAcknowledgedAfterTheOutcomeInArrivalOrder(version: MQTTVersion) throws {
        var machine = try Self.connected(version)
        let raw = Self.bytes(.publish(MQTTPublish(topic: "t", payload: [1], qos: .atLeastOnce, packetID: 10)), version)
            + Self.bytes(.publish(MQTTPublish(topic: "t", payload: [2], qos: .atLeastOnce, packetID: 11)), version)
        let inbound = Self.publishes(machine.bytesRead(raw, now: 1))
        #expect(inbound.map(\.payload) == [[1], [2]])
        // The second commits first: nothing is acknowledged before the first.
        #expect(machine.published(sequence: inbound[1].sequence, reason: .success, now: 2).isEmpty)
        let acks = try Self.sent(machine.published(sequence: inbound[0].sequence, reason: .success, now: 3), version)
        #expect(acks == [.puback(MQTTAck(packetID: 10)), .puback(MQTTAck(packetID: 11))])
        #expect(machine.pendingCount == 0)
    }

    @Test func qos2FlowDeliversOnce() throws {
        var machine = try Self.connected(.v5)
        let publish = MQTTPublish(topic: "t", payload: [9], qos: .exactlyOnce, packetID: 5)
        let inbound = Self.publishes(machine.bytesRead(Self.bytes(.publish(publish), .v5), now: 1))
        #expect(inbound.count == 1)
        #expect(try Self.sent(machine.published(sequence: inbound[0].sequence, reason: .success, now: 2), .v5) == [.pubrec(MQTTAck(packetID: 5))])
        // The client did not see the PUBREC and sends again: PUBREC again, no second delivery.
        var again = publish
        again.duplicate = true
        let repeated = machine.bytesRead(Self.bytes(.publish(again), .v5), now: 3)
        #expect(Self.publishes(repeated).isEmpty)
        #expect(try Self.sent(repeated, .v5) == [.pubrec(MQTTAck(packetID: 5))])
        #expect(try Self.sent(machine.bytesRead(Self.bytes(.pubrel(MQTTAck(packetID: 5)), .v5), now: 4), .v5) == [.pubcomp(MQTTAck(packetID: 5))])
        // An unknown PUBREL (5.0): PUBCOMP with 0x92.
        #expect(try Self.sent(machine.bytesRead(Self.bytes(.pubrel(MQTTAck(packetID: 6)), .v5), now: 5), .v5)
            == [.pubcomp(MQTTAck(packetID: 6, reason: .packetIdentifierNotFound))])
    }

    @Test(arguments: [MQTTVersion.v311, .v5])
    func refusedPublish(version: MQTTVersion) throws {
        var machine = try Self.connected(version)
        let inbound = Self.publishes(machine.bytesRead(Self.bytes(.publish(MQTTPublish(topic: "x", payload: [], qos: .atLeastOnce, packetID: 1)),
                                                                  version), now: 1))
        let actions = machine.published(sequence: inbound[0].sequence, reason: .notAuthorized, now: 2)
        if version == .v5 {
            #expect(try Self.sent(actions, .v5) == [.puback(MQTTAck(packetID: 1, reason: .notAuthorized))])
            #expect(machine.phase == .connected)
        } else {
            #expect(Self.closes(actions))
            #expect(try Self.sent(actions, .v311).isEmpty)
        }
    }

    @Test func inboundWindowPausesParsingAt32() throws {
        var machine = try Self.connected(.v311)
        var raw: [UInt8] = []
        for id in 1...33 { raw += Self.bytes(.publish(MQTTPublish(topic: "t", payload: [], qos: .atLeastOnce, packetID: UInt16(id))), .v311) }
        let inbound = Self.publishes(machine.bytesRead(raw, now: 1))
        #expect(inbound.count == 32)
        #expect(machine.pendingCount == 32)
        let next = machine.published(sequence: inbound[0].sequence, reason: .success, now: 2)
        #expect(try Self.sent(next, .v311) == [.puback(MQTTAck(packetID: 1))])
        #expect(Self.publishes(next).count == 1)
        // With room in the window again, a packet id reused while still in flight closes.
        #expect(try Self.sent(machine.published(sequence: inbound[1].sequence, reason: .success, now: 3), .v311) == [.puback(MQTTAck(packetID: 2))])
        let reused = machine.bytesRead(Self.bytes(.publish(MQTTPublish(topic: "t", payload: [], qos: .atLeastOnce, packetID: 3)), .v311), now: 3)
        #expect(Self.closes(reused))
    }

    @Test func outboundQoS1UsesTheClientsWindowAndPacketIDs() throws {
        var machine = try Self.connected(.v5, properties: [MQTTProperty(MQTTProperty.receiveMaximum, .twoBytes(2))])
        var sent: [MQTTPacket] = []
        for token in 1...3 { sent += try Self.sent(machine.deliver(topic: "devices/d-1/commands", payload: [UInt8(token)], qos: .atLeastOnce,
                                                                   token: UInt64(token)), .v5) }
        #expect(sent.count == 2)
        #expect(machine.unacknowledgedOutbound == 3)
        guard case .publish(let first) = sent[0], let id = first.packetID else { Issue.record("no publish"); return }
        let acked = machine.bytesRead(Self.bytes(.puback(MQTTAck(packetID: id)), .v5), now: 1)
        #expect(acked.first == .delivered(token: 1))
        #expect(try Self.sent(acked, .v5).count == 1)   // the queued third goes out
        // A PUBACK for a packet id not in flight closes the connection.
        let unknown = machine.bytesRead(Self.bytes(.puback(MQTTAck(packetID: 999)), .v5), now: 2)
        #expect(try Self.sent(unknown, .v5) == [.disconnect(reason: .protocolError, properties: [])])
        #expect(Self.closes(unknown))
    }

    @Test func subscribeUnsubscribeAndTakeover() throws {
        var machine = try Self.connected(.v311)
        let subscription = MQTTSubscription(filter: "devices/d-1/commands", qos: .atLeastOnce)
        #expect(machine.bytesRead(Self.bytes(.subscribe(packetID: 3, subscriptions: [subscription], properties: []), .v311), now: 1)
            == [.subscribe(packetID: 3, subscriptions: [subscription])])
        // 3.1.1 has no 0x87: a refusal is 0x80.
        #expect(try Self.sent(machine.subscribed(packetID: 3, reasons: [.notAuthorized]), .v311) == [.suback(packetID: 3, reasons: [0x80], properties: [])])
        let unsubscribe = machine.bytesRead(Self.bytes(.unsubscribe(packetID: 4, filters: ["a"], properties: []), .v311), now: 2)
        #expect(try Self.sent(unsubscribe, .v311) == [.unsuback(packetID: 4, reasons: [], properties: [])])
        #expect(unsubscribe.last == .unsubscribed(["a"]))
        var v5 = try Self.connected(.v5)
        let takeover = v5.disconnect(.sessionTakenOver, message: "taken over")
        #expect(try Self.sent(takeover, .v5) == [.disconnect(reason: .sessionTakenOver, properties: [])])
        #expect(takeover.last == .close(reason: "taken over"))
        #expect(machine.bytesRead(Self.bytes(.disconnect(reason: .success, properties: []), .v311), now: 3) == [.close(reason: nil)])
    }
}
