@testable import MQTT
import Testing

/// Packet encoding and decoding as pure functions over bytes: every packet type in both versions, drip-fed (whole, one byte
/// at a time, and concatenated with the next packet), fixed byte vectors, and every malformation closing cleanly.
@Suite struct MQTTCodecTests {
    /// Frames and decodes every packet in `bytes` fed in the chunks `split` gives.
    static func decodeAll(_ bytes: [UInt8], version: MQTTVersion, chunk: Int) throws -> [MQTTPacket] {
        var buffer: [UInt8] = []
        var packets: [MQTTPacket] = []
        var offset = 0
        while offset < bytes.count {
            buffer += bytes[offset..<min(bytes.count, offset + chunk)]
            offset += chunk
            while let frame = try MQTTCodec.frame(buffer, maxPacketBytes: 1 << 20) {
                packets.append(try MQTTCodec.decode(header: frame.header, body: buffer[frame.body], version: version))
                buffer.removeFirst(frame.end)
            }
        }
        #expect(buffer.isEmpty)
        return packets
    }

    /// Encodes `packet`, then decodes it whole, byte by byte, and followed by a PINGREQ: each gives `packet` back.
    static func assertRoundTrip(_ packet: MQTTPacket, version: MQTTVersion, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = MQTTCodec.encode(packet, version: version)
        #expect(try decodeAll(bytes, version: version, chunk: bytes.count) == [packet], sourceLocation: sourceLocation)
        #expect(try decodeAll(bytes, version: version, chunk: 1) == [packet], sourceLocation: sourceLocation)
        let two = bytes + MQTTCodec.encode(.pingreq, version: version)
        #expect(try decodeAll(two, version: version, chunk: 3) == [packet, .pingreq], sourceLocation: sourceLocation)
    }

    static let userProperties = [MQTTProperty(MQTTProperty.userProperty, .pair("k", "v")),
                                 MQTTProperty(MQTTProperty.messageExpiryInterval, .fourBytes(60))]

    @Test(arguments: [MQTTVersion.v311, .v5])
    func everyPacketTypeRoundTrips(version: MQTTVersion) throws {
        let v5 = version == .v5
        let properties = v5 ? Self.userProperties : []
        let will = MQTTWill(topic: "devices/d-1/status", payload: Array("gone".utf8), qos: .atLeastOnce, retain: true,
                            properties: v5 ? [MQTTProperty(MQTTProperty.willDelayInterval, .fourBytes(5))] : [])
        try Self.assertRoundTrip(.connect(MQTTConnect(version: version, clientID: "c-1", cleanStart: true, keepAlive: 30, username: "d-1",
                                                      password: Array("key".utf8), will: will,
                                                      properties: v5 ? [MQTTProperty(MQTTProperty.receiveMaximum, .twoBytes(10))] : [])),
                                 version: version)
        try Self.assertRoundTrip(.connect(MQTTConnect(version: version, clientID: "", cleanStart: true, keepAlive: 0)), version: version)
        try Self.assertRoundTrip(.connack(sessionPresent: false, reason: .success,
                                          properties: v5 ? [MQTTProperty(MQTTProperty.receiveMaximum, .twoBytes(32))] : []), version: version)
        try Self.assertRoundTrip(.publish(MQTTPublish(topic: "devices/d-1/telemetry", payload: Array("[]".utf8))), version: version)
        try Self.assertRoundTrip(.publish(MQTTPublish(topic: "a/b", payload: [], qos: .atLeastOnce, retain: true, duplicate: true, packetID: 7,
                                                      properties: properties)), version: version)
        try Self.assertRoundTrip(.publish(MQTTPublish(topic: "a", payload: [0, 1, 2], qos: .exactlyOnce, packetID: 65_535)), version: version)
        let reason: MQTTReason = v5 ? .payloadFormatInvalid : .success
        try Self.assertRoundTrip(.puback(MQTTAck(packetID: 1, reason: reason, properties: properties)), version: version)
        try Self.assertRoundTrip(.pubrec(MQTTAck(packetID: 2)), version: version)
        try Self.assertRoundTrip(.pubrel(MQTTAck(packetID: 3)), version: version)
        try Self.assertRoundTrip(.pubcomp(MQTTAck(packetID: 4, reason: v5 ? .packetIdentifierNotFound : .success)), version: version)
        try Self.assertRoundTrip(.subscribe(packetID: 5, subscriptions: [MQTTSubscription(filter: "devices/d-1/commands", qos: .atLeastOnce),
                                                                         MQTTSubscription(filter: "devices/d-1/#", qos: .atMostOnce)],
                                            properties: properties), version: version)
        try Self.assertRoundTrip(.suback(packetID: 5, reasons: [1, 0x80], properties: []), version: version)
        try Self.assertRoundTrip(.unsubscribe(packetID: 6, filters: ["a/+", "b"], properties: properties), version: version)
        try Self.assertRoundTrip(.unsuback(packetID: 6, reasons: v5 ? [0, 0x11] : [], properties: []), version: version)
        try Self.assertRoundTrip(.pingreq, version: version)
        try Self.assertRoundTrip(.pingresp, version: version)
        try Self.assertRoundTrip(.disconnect(reason: v5 ? .sessionTakenOver : .success, properties: []), version: version)
        if v5 { try Self.assertRoundTrip(.auth(reason: 0x18, properties: [MQTTProperty(MQTTProperty.authenticationMethod, .string("x"))]), version: .v5) }
    }

    @Test func bytesMatchTheSpecification() throws {
        // MQTT 3.1.1 CONNECT of client "c" with clean session and keep-alive 60.
        let connect: [UInt8] = [0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 1, 0x63]
        #expect(MQTTCodec.encode(.connect(MQTTConnect(version: .v311, clientID: "c", keepAlive: 60)), version: .v311) == connect)
        #expect(MQTTCodec.encode(.pingresp, version: .v5) == [0xD0, 0])
        #expect(MQTTCodec.encode(.puback(MQTTAck(packetID: 0x0102)), version: .v5) == [0x40, 2, 1, 2])
        #expect(MQTTCodec.encode(.puback(MQTTAck(packetID: 1, reason: .notAuthorized)), version: .v5) == [0x40, 3, 0, 1, 0x87])
        #expect(MQTTCodec.encode(.pubrel(MQTTAck(packetID: 1)), version: .v311) == [0x62, 2, 0, 1])
        // 3.1.1 CONNACK maps the 5.0 reason to its return code.
        #expect(MQTTCodec.encode(.connack(sessionPresent: false, reason: .badUserNameOrPassword, properties: []), version: .v311) == [0x20, 2, 0, 4])
        #expect(MQTTCodec.encode(.connack(sessionPresent: false, reason: .notAuthorized, properties: []), version: .v311) == [0x20, 2, 0, 5])
        #expect(MQTTCodec.encode(.connack(sessionPresent: false, reason: .badUserNameOrPassword, properties: []), version: .v5) == [0x20, 3, 0, 0x86, 0])
    }

    @Test(arguments: [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152])
    func remainingLengthBoundaries(payloadTarget: Int) throws {
        // Topic "t" (3 bytes) + payload: remaining length exactly `payloadTarget` where possible.
        let payload = [UInt8](repeating: 0x41, count: max(0, payloadTarget - 3))
        let packet = MQTTPacket.publish(MQTTPublish(topic: "t", payload: payload))
        let bytes = MQTTCodec.encode(packet, version: .v311)
        let frame = try #require(try MQTTCodec.frame(bytes, maxPacketBytes: 1 << 24))
        #expect(frame.end == bytes.count)
        #expect(try MQTTCodec.decode(header: frame.header, body: bytes[frame.body], version: .v311) == packet)
        // One byte short: not yet a packet.
        #expect(try MQTTCodec.frame(Array(bytes.dropLast()), maxPacketBytes: 1 << 24) == nil)
    }

    static func decodeError(_ bytes: [UInt8], version: MQTTVersion = .v5, max: Int = 1 << 20) -> MQTTDecodeError? {
        do {
            guard let frame = try MQTTCodec.frame(bytes, maxPacketBytes: max) else { return nil }
            _ = try MQTTCodec.decode(header: frame.header, body: bytes[frame.body], version: version)
            return nil
        } catch {
            return error
        }
    }

    @Test func malformedPacketsAreRejected() {
        // Remaining length of five bytes.
        #expect(Self.decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])?.reason == .malformedPacket)
        // PUBLISH with QoS 3.
        #expect(Self.decodeError([0x36, 5, 0, 1, 0x74, 0, 1])?.reason == .malformedPacket)
        // A wrong protocol name, an unknown level.
        #expect(Self.decodeError([0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x58, 4, 0x02, 0, 60, 0, 1, 0x63])?.reason == .protocolError)
        #expect(Self.decodeError([0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x54, 3, 0x02, 0, 60, 0, 1, 0x63]) == .unsupportedVersion(3))
        // CONNECT reserved flag.
        #expect(Self.decodeError([0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0x03, 0, 60, 0, 1, 0x63])?.reason == .malformedPacket)
        // Invalid UTF-8 and U+0000 in a topic.
        #expect(Self.decodeError([0x30, 4, 0, 2, 0xC3, 0x28], version: .v311)?.reason == .malformedPacket)
        #expect(Self.decodeError([0x30, 4, 0, 2, 0x61, 0x00], version: .v311)?.reason == .malformedPacket)
        // A string running past the packet; packet id 0; SUBSCRIBE with wrong flags; an empty SUBSCRIBE.
        #expect(Self.decodeError([0x30, 3, 0, 5, 0x61], version: .v311)?.reason == .malformedPacket)
        #expect(Self.decodeError([0x32, 5, 0, 1, 0x74, 0, 0], version: .v311)?.reason == .malformedPacket)
        #expect(Self.decodeError([0x80, 6, 0, 1, 0, 1, 0x61, 1], version: .v311)?.reason == .malformedPacket)
        #expect(Self.decodeError([0x82, 2, 0, 1], version: .v311)?.reason == .protocolError)
        // An unknown property; a property twice; bytes after a PINGREQ; type 0.
        #expect(Self.decodeError([0x30, 5, 0, 1, 0x74, 2, 0x7F, 0])?.reason == .malformedPacket)
        #expect(Self.decodeError([0x30, 8, 0, 1, 0x74, 4, 0x01, 1, 0x01, 1])?.reason == .protocolError)
        #expect(Self.decodeError([0xC0, 1, 0])?.reason == .malformedPacket)
        #expect(Self.decodeError([0x00, 0])?.reason == .malformedPacket)
        // AUTH in 3.1.1.
        #expect(Self.decodeError([0xF0, 0], version: .v311)?.reason == .malformedPacket)
        // Over the limit, known from the header alone.
        #expect(Self.decodeError([0x30, 0xFF, 0x7F], max: 1000) == .tooLarge(16_386))
    }

    @Test func topicFiltersAndMatching() {
        #expect(MQTTTopic.isValidFilter("devices/d-1/#"))
        #expect(MQTTTopic.isValidFilter("devices/+/commands"))
        #expect(!MQTTTopic.isValidFilter("devices/d-1/#/x"))
        #expect(!MQTTTopic.isValidFilter("devices/d+/x"))
        #expect(!MQTTTopic.isValidFilter(""))
        #expect(MQTTTopic.matches("devices/d-1/#", "devices/d-1/commands"))
        #expect(MQTTTopic.matches("devices/d-1/+", "devices/d-1/commands"))
        #expect(MQTTTopic.matches("devices/d-1/commands", "devices/d-1/commands"))
        #expect(!MQTTTopic.matches("devices/d-1/+", "devices/d-1/commands/1/ack"))
        #expect(!MQTTTopic.matches("#", "$SYS/broker"))
        #expect(!MQTTTopic.isValidName("devices/+/telemetry"))
    }
}
