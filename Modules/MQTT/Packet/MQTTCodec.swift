/// MQTT packet encoding and decoding: pure functions over bytes (MQTT 3.1.1 and 5.0).
///
/// ```swift
/// var buffer: [UInt8] = …   // bytes read so far
/// while let frame = try MQTTCodec.frame(buffer, maxPacketBytes: 1 << 20) {
///     let packet = try MQTTCodec.decode(header: frame.header, body: buffer[frame.body], version: .v5)
///     buffer.removeFirst(frame.end)
/// }
/// let bytes = MQTTCodec.encode(.pingresp, version: .v5)
/// ```
public enum MQTTCodec {
    /// One complete packet at the front of `bytes`: its first byte, the range of its variable header and payload, and the
    /// index after it. Nil while the bytes hold less than one packet.
    public struct Frame: Sendable, Equatable {
        public let header: UInt8
        public let body: Range<Int>
        public var end: Int { body.upperBound }
    }

    /// Finds the first packet in `bytes[start...]`; nil when more bytes are needed. Throws for a remaining length longer
    /// than four bytes or a packet larger than `maxPacketBytes` (checked as soon as the length is known).
    public static func frame(_ bytes: [UInt8], from start: Int = 0, maxPacketBytes: Int) throws(MQTTDecodeError) -> Frame? {
        guard bytes.count > start else { return nil }
        var length = 0
        var multiplier = 1
        var index = start + 1
        while true {
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            length += Int(byte & 0x7F) * multiplier
            index += 1
            if byte & 0x80 == 0 { break }
            multiplier *= 128
            if index - start > 4 { throw .malformed("remaining length longer than four bytes") }
        }
        let total = index - start + length
        if total > maxPacketBytes { throw .tooLarge(total) }
        guard bytes.count - index >= length else { return nil }
        return Frame(header: bytes[start], body: index..<(index + length))
    }

    // MARK: - Decoding

    /// Decodes one packet from its first byte and body. `version` is the connection's (from its CONNECT); a CONNECT
    /// carries its own.
    public static func decode(header: UInt8, body: ArraySlice<UInt8>, version: MQTTVersion) throws(MQTTDecodeError) -> MQTTPacket {
        var reader = Reader(body)
        let type = header >> 4
        let flags = header & 0x0F
        let v5 = version == .v5
        func requireFlags(_ expected: UInt8) throws(MQTTDecodeError) {
            if flags != expected { throw .malformed("reserved flags \(flags) of packet type \(type)") }
        }
        let packet: MQTTPacket
        switch type {
        case 1:
            try requireFlags(0)
            packet = .connect(try decodeConnect(&reader))
        case 2:
            try requireFlags(0)
            let acknowledge = try reader.byte()
            if acknowledge & 0xFE != 0 { throw .malformed("CONNACK flags") }
            let code = try reader.byte()
            let properties = v5 ? try reader.properties() : []
            let reason = v5 ? MQTTReason(rawValue: code) ?? .unspecifiedError : (code == 0 ? .success : .unspecifiedError)
            packet = .connack(sessionPresent: acknowledge & 1 == 1, reason: reason, properties: properties)
        case 3:
            guard let qos = MQTTQoS(rawValue: (flags >> 1) & 3) else { throw .malformed("PUBLISH with QoS 3") }
            let topic = try reader.string()
            var packetID: UInt16?
            if qos != .atMostOnce {
                let id = try reader.uint16()
                if id == 0 { throw .malformed("packet identifier 0") }
                packetID = id
            }
            if qos == .atMostOnce && flags & 0x08 != 0 { throw .malformed("DUP set on a QoS 0 PUBLISH") }
            let properties = v5 ? try reader.properties() : []
            packet = .publish(MQTTPublish(topic: topic, payload: Array(reader.rest()), qos: qos, retain: flags & 1 == 1,
                                          duplicate: flags & 0x08 != 0, packetID: packetID, properties: properties))
        case 4, 5, 6, 7:
            try requireFlags(type == 6 ? 2 : 0)
            let id = try reader.uint16()
            if id == 0 { throw .malformed("packet identifier 0") }
            var reason = MQTTReason.success
            var properties: [MQTTProperty] = []
            if v5 && !reader.atEnd {
                let code = try reader.byte()
                guard let known = MQTTReason(rawValue: code) else { throw .malformed("reason code \(code)") }
                reason = known
                if !reader.atEnd { properties = try reader.properties() }
            }
            let ack = MQTTAck(packetID: id, reason: reason, properties: properties)
            packet = switch type {
            case 4: .puback(ack)
            case 5: .pubrec(ack)
            case 6: .pubrel(ack)
            default: .pubcomp(ack)
            }
        case 8:
            try requireFlags(2)
            let id = try reader.uint16()
            if id == 0 { throw .malformed("packet identifier 0") }
            let properties = v5 ? try reader.properties() : []
            var subscriptions: [MQTTSubscription] = []
            while !reader.atEnd {
                let filter = try reader.string()
                let options = try reader.byte()
                guard let qos = MQTTQoS(rawValue: options & 3) else { throw .malformed("subscription QoS 3") }
                if options & (v5 ? 0xC0 : 0xFC) != 0 || (v5 && (options >> 4) & 3 == 3) { throw .malformed("subscription options reserved bits") }
                subscriptions.append(MQTTSubscription(filter: filter, qos: qos, options: options & 0x3C))
            }
            if subscriptions.isEmpty { throw .protocolError("SUBSCRIBE without a topic filter") }
            packet = .subscribe(packetID: id, subscriptions: subscriptions, properties: properties)
        case 9, 11:
            try requireFlags(0)
            let id = try reader.uint16()
            let properties = v5 ? try reader.properties() : []
            let reasons = Array(reader.rest())
            if type == 11 && !v5 && !reasons.isEmpty { throw .malformed("3.1.1 UNSUBACK with a payload") }
            packet = type == 9 ? .suback(packetID: id, reasons: reasons, properties: properties)
                : .unsuback(packetID: id, reasons: reasons, properties: properties)
        case 10:
            try requireFlags(2)
            let id = try reader.uint16()
            if id == 0 { throw .malformed("packet identifier 0") }
            let properties = v5 ? try reader.properties() : []
            var filters: [String] = []
            while !reader.atEnd { filters.append(try reader.string()) }
            if filters.isEmpty { throw .protocolError("UNSUBSCRIBE without a topic filter") }
            packet = .unsubscribe(packetID: id, filters: filters, properties: properties)
        case 12, 13:
            try requireFlags(0)
            packet = type == 12 ? .pingreq : .pingresp
        case 14:
            try requireFlags(0)
            var reason = MQTTReason.success
            var properties: [MQTTProperty] = []
            if v5 && !reader.atEnd {
                let code = try reader.byte()
                guard let known = MQTTReason(rawValue: code) else { throw .malformed("reason code \(code)") }
                reason = known
                if !reader.atEnd { properties = try reader.properties() }
            }
            packet = .disconnect(reason: reason, properties: properties)
        case 15:
            guard v5 else { throw .malformed("packet type 15 in MQTT 3.1.1") }
            try requireFlags(0)
            var code: UInt8 = 0
            var properties: [MQTTProperty] = []
            if !reader.atEnd {
                code = try reader.byte()
                if !reader.atEnd { properties = try reader.properties() }
            }
            packet = .auth(reason: code, properties: properties)
        default:
            throw .malformed("packet type 0")
        }
        if !reader.atEnd { throw .malformed("\(reader.remaining) bytes after the packet") }
        return packet
    }

    static func decodeConnect(_ reader: inout Reader) throws(MQTTDecodeError) -> MQTTConnect {
        let name = try reader.string()
        let level = try reader.byte()
        guard name == "MQTT" else { throw .protocolError("protocol name \(name.debugDescription)") }
        guard let version = MQTTVersion(rawValue: level) else { throw .unsupportedVersion(level) }
        let flags = try reader.byte()
        if flags & 1 != 0 { throw .malformed("CONNECT reserved flag") }
        let keepAlive = try reader.uint16()
        let properties = version == .v5 ? try reader.properties() : []
        let clientID = try reader.string()
        var will: MQTTWill?
        let willFlag = flags & 0x04 != 0
        let willQoSBits = (flags >> 3) & 3
        let willRetain = flags & 0x20 != 0
        if willFlag {
            guard let qos = MQTTQoS(rawValue: willQoSBits) else { throw .malformed("will QoS 3") }
            let willProperties = version == .v5 ? try reader.properties() : []
            let topic = try reader.string()
            let payload = try reader.binary()
            will = MQTTWill(topic: topic, payload: payload, qos: qos, retain: willRetain, properties: willProperties)
        } else if willQoSBits != 0 || willRetain {
            throw .malformed("will QoS or retain without a will")
        }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        if version == .v311 && hasPassword && !hasUsername { throw .malformed("password without a user name") }
        let username = hasUsername ? try reader.string() : nil
        let password = hasPassword ? try reader.binary() : nil
        return MQTTConnect(version: version, clientID: clientID, cleanStart: flags & 0x02 != 0, keepAlive: keepAlive, username: username,
                           password: password, will: will, properties: properties)
    }

    /// Reads big-endian integers, MQTT strings (UTF-8, no U+0000), binary data, variable byte integers and property lists.
    struct Reader {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            self.index = bytes.startIndex
        }

        var atEnd: Bool { index >= bytes.endIndex }
        var remaining: Int { bytes.endIndex - index }

        mutating func byte() throws(MQTTDecodeError) -> UInt8 {
            guard index < bytes.endIndex else { throw .malformed("packet ends early") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func uint16() throws(MQTTDecodeError) -> UInt16 {
            let high = try byte()
            return UInt16(high) << 8 | UInt16(try byte())
        }

        mutating func uint32() throws(MQTTDecodeError) -> UInt32 {
            let high = try uint16()
            return UInt32(high) << 16 | UInt32(try uint16())
        }

        mutating func varInt() throws(MQTTDecodeError) -> UInt32 {
            var value: UInt32 = 0
            for shift in stride(from: 0, to: 28, by: 7) {
                let next = try byte()
                value |= UInt32(next & 0x7F) << UInt32(shift)
                if next & 0x80 == 0 { return value }
            }
            throw .malformed("variable byte integer longer than four bytes")
        }

        mutating func take(_ count: Int) throws(MQTTDecodeError) -> ArraySlice<UInt8> {
            guard remaining >= count else { throw .malformed("field runs past the packet") }
            defer { index += count }
            return bytes[index..<(index + count)]
        }

        mutating func binary() throws(MQTTDecodeError) -> [UInt8] {
            Array(try take(Int(try uint16())))
        }

        mutating func string() throws(MQTTDecodeError) -> String {
            let raw = try take(Int(try uint16()))
            if raw.contains(0) { throw .malformed("U+0000 in a string") }
            guard let text = String(validating: raw, as: UTF8.self) else { throw .malformed("invalid UTF-8 in a string") }
            return text
        }

        mutating func rest() -> ArraySlice<UInt8> {
            defer { index = bytes.endIndex }
            return bytes[index...]
        }

        mutating func properties() throws(MQTTDecodeError) -> [MQTTProperty] {
            let length = Int(try varInt())
            var inner = Reader(try take(length))
            var list: [MQTTProperty] = []
            while !inner.atEnd {
                let id = try inner.byte()
                guard let shape = MQTTProperty.shape(of: id) else { throw .malformed("unknown property \(id)") }
                let value: MQTTProperty.Value
                switch shape {
                case .byte: value = .byte(try inner.byte())
                case .twoBytes: value = .twoBytes(try inner.uint16())
                case .fourBytes: value = .fourBytes(try inner.uint32())
                case .varInt: value = .varInt(try inner.varInt())
                case .string: value = .string(try inner.string())
                case .binary: value = .binary(try inner.binary())
                case .pair:
                    let key = try inner.string()
                    value = .pair(key, try inner.string())
                }
                if id != MQTTProperty.userProperty && id != MQTTProperty.subscriptionIdentifier && list.contains(where: { $0.id == id }) {
                    throw .protocolError("property \(id) twice")
                }
                list.append(MQTTProperty(id, value))
            }
            return list
        }
    }

    // MARK: - Encoding

    /// The bytes of `packet` for a connection speaking `version` (5.0 adds reason codes and properties).
    public static func encode(_ packet: MQTTPacket, version: MQTTVersion) -> [UInt8] {
        var body = Writer()
        let v5 = version == .v5
        var flags: UInt8 = 0
        switch packet {
        case .connect(let connect):
            body.string("MQTT")
            body.bytes.append(connect.version.rawValue)
            var connectFlags: UInt8 = connect.cleanStart ? 0x02 : 0
            if let will = connect.will {
                connectFlags |= 0x04 | will.qos.rawValue << 3 | (will.retain ? 0x20 : 0)
            }
            if connect.username != nil { connectFlags |= 0x80 }
            if connect.password != nil { connectFlags |= 0x40 }
            body.bytes.append(connectFlags)
            body.uint16(connect.keepAlive)
            if connect.version == .v5 { body.properties(connect.properties) }
            body.string(connect.clientID)
            if let will = connect.will {
                if connect.version == .v5 { body.properties(will.properties) }
                body.string(will.topic)
                body.binary(will.payload)
            }
            if let username = connect.username { body.string(username) }
            if let password = connect.password { body.binary(password) }
        case .connack(let sessionPresent, let reason, let properties):
            body.bytes.append(sessionPresent ? 1 : 0)
            body.bytes.append(v5 ? reason.rawValue : reason.connectReturnCode311)
            if v5 { body.properties(properties) }
        case .publish(let publish):
            flags = publish.qos.rawValue << 1 | (publish.retain ? 1 : 0) | (publish.duplicate ? 0x08 : 0)
            body.string(publish.topic)
            if publish.qos != .atMostOnce { body.uint16(publish.packetID ?? 0) }
            if v5 { body.properties(publish.properties) }
            body.bytes.append(contentsOf: publish.payload)
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            if case .pubrel = packet { flags = 2 }
            body.uint16(ack.packetID)
            // 5.0 §3.4.2.1: reason and properties may be omitted when the reason is success and there are no properties.
            if v5 && (ack.reason != .success || !ack.properties.isEmpty) {
                body.bytes.append(ack.reason.rawValue)
                if !ack.properties.isEmpty { body.properties(ack.properties) }
            }
        case .subscribe(let packetID, let subscriptions, let properties):
            flags = 2
            body.uint16(packetID)
            if v5 { body.properties(properties) }
            for subscription in subscriptions {
                body.string(subscription.filter)
                body.bytes.append(subscription.qos.rawValue | (v5 ? subscription.options : 0))
            }
        case .suback(let packetID, let reasons, let properties), .unsuback(let packetID, let reasons, let properties):
            body.uint16(packetID)
            if v5 { body.properties(properties) }
            // 3.1.1 UNSUBACK has no payload.
            if v5 || packet.typeCode == 9 { body.bytes.append(contentsOf: reasons) }
        case .unsubscribe(let packetID, let filters, let properties):
            flags = 2
            body.uint16(packetID)
            if v5 { body.properties(properties) }
            for filter in filters { body.string(filter) }
        case .pingreq, .pingresp:
            break
        case .disconnect(let reason, let properties):
            if v5 && (reason != .success || !properties.isEmpty) {
                body.bytes.append(reason.rawValue)
                if !properties.isEmpty { body.properties(properties) }
            }
        case .auth(let reason, let properties):
            body.bytes.append(reason)
            body.properties(properties)
        }
        var out: [UInt8] = [packet.typeCode << 4 | flags]
        out.reserveCapacity(body.bytes.count + 5)
        Writer.appendVarInt(UInt32(body.bytes.count), to: &out)
        out.append(contentsOf: body.bytes)
        return out
    }

    struct Writer {
        var bytes: [UInt8] = []

        mutating func uint16(_ value: UInt16) {
            bytes.append(UInt8(value >> 8))
            bytes.append(UInt8(value & 0xFF))
        }

        mutating func uint32(_ value: UInt32) {
            uint16(UInt16(value >> 16))
            uint16(UInt16(value & 0xFFFF))
        }

        mutating func string(_ text: String) { binary(Array(text.utf8)) }

        mutating func binary(_ data: [UInt8]) {
            uint16(UInt16(min(data.count, 65_535)))
            bytes.append(contentsOf: data.prefix(65_535))
        }

        static func appendVarInt(_ value: UInt32, to out: inout [UInt8]) {
            var rest = value
            repeat {
                var byte = UInt8(rest & 0x7F)
                rest >>= 7
                if rest > 0 { byte |= 0x80 }
                out.append(byte)
            } while rest > 0
        }

        mutating func properties(_ list: [MQTTProperty]) {
            var inner = Writer()
            for property in list {
                inner.bytes.append(property.id)
                switch property.value {
                case .byte(let value): inner.bytes.append(value)
                case .twoBytes(let value): inner.uint16(value)
                case .fourBytes(let value): inner.uint32(value)
                case .varInt(let value): Self.appendVarInt(value, to: &inner.bytes)
                case .string(let text): inner.string(text)
                case .binary(let data): inner.binary(data)
                case .pair(let key, let value):
                    inner.string(key)
                    inner.string(value)
                }
            }
            Self.appendVarInt(UInt32(inner.bytes.count), to: &bytes)
            bytes.append(contentsOf: inner.bytes)
        }
    }
}
