/// The MQTT protocol levels we speak: 3.1.1 (level 4) and 5.0 (level 5).
public enum MQTTVersion: UInt8, Sendable {
    case v311 = 4
    case v5 = 5
}

/// Quality of service of a PUBLISH or a subscription.
public enum MQTTQoS: UInt8, Sendable, Comparable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// MQTT 5.0 reason codes the server sends or meets (3.1.1 CONNACK return codes are mapped from these).
public enum MQTTReason: UInt8, Sendable {
    case success = 0x00
    case grantedQoS1 = 0x01
    case grantedQoS2 = 0x02
    case disconnectWithWill = 0x04
    case noMatchingSubscribers = 0x10
    case noSubscriptionExisted = 0x11
    case unspecifiedError = 0x80
    case malformedPacket = 0x81
    case protocolError = 0x82
    case implementationSpecificError = 0x83
    case unsupportedProtocolVersion = 0x84
    case clientIdentifierNotValid = 0x85
    case badUserNameOrPassword = 0x86
    case notAuthorized = 0x87
    case serverUnavailable = 0x88
    case serverBusy = 0x89
    case banned = 0x8A
    case serverShuttingDown = 0x8B
    case badAuthenticationMethod = 0x8C
    case keepAliveTimeout = 0x8D
    case sessionTakenOver = 0x8E
    case topicFilterInvalid = 0x8F
    case topicNameInvalid = 0x90
    case packetIdentifierInUse = 0x91
    case packetIdentifierNotFound = 0x92
    case receiveMaximumExceeded = 0x93
    case topicAliasInvalid = 0x94
    case packetTooLarge = 0x95
    case quotaExceeded = 0x97
    case payloadFormatInvalid = 0x99
    case retainNotSupported = 0x9A
    case qosNotSupported = 0x9B
    case sharedSubscriptionsNotSupported = 0x9E
    case connectionRateExceeded = 0x9F
    case maxConnectTime = 0xA0
    case subscriptionIdentifiersNotSupported = 0xA1
    case wildcardSubscriptionsNotSupported = 0xA2

    /// The 3.1.1 CONNACK return code for a refusal with this reason.
    public var connectReturnCode311: UInt8 {
        switch self {
        case .success: 0x00
        case .unsupportedProtocolVersion: 0x01
        case .clientIdentifierNotValid: 0x02
        case .serverUnavailable, .serverBusy, .serverShuttingDown, .connectionRateExceeded: 0x03
        case .badUserNameOrPassword: 0x04
        default: 0x05
        }
    }
}

/// One MQTT 5.0 property: its identifier and value (the value's shape follows from the identifier, MQTT 5.0 §2.2.2.2).
public struct MQTTProperty: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case byte(UInt8)
        case twoBytes(UInt16)
        case fourBytes(UInt32)
        case varInt(UInt32)
        case string(String)
        case binary([UInt8])
        case pair(String, String)
    }
    public let id: UInt8
    public let value: Value

    public init(_ id: UInt8, _ value: Value) {
        self.id = id
        self.value = value
    }

    // Identifiers the server reads or writes.
    public static let payloadFormatIndicator: UInt8 = 0x01
    public static let messageExpiryInterval: UInt8 = 0x02
    public static let contentType: UInt8 = 0x03
    public static let responseTopic: UInt8 = 0x08
    public static let correlationData: UInt8 = 0x09
    public static let subscriptionIdentifier: UInt8 = 0x0B
    public static let sessionExpiryInterval: UInt8 = 0x11
    public static let assignedClientIdentifier: UInt8 = 0x12
    public static let serverKeepAlive: UInt8 = 0x13
    public static let authenticationMethod: UInt8 = 0x15
    public static let authenticationData: UInt8 = 0x16
    public static let requestProblemInformation: UInt8 = 0x17
    public static let willDelayInterval: UInt8 = 0x18
    public static let requestResponseInformation: UInt8 = 0x19
    public static let responseInformation: UInt8 = 0x1A
    public static let serverReference: UInt8 = 0x1C
    public static let reasonString: UInt8 = 0x1F
    public static let receiveMaximum: UInt8 = 0x21
    public static let topicAliasMaximum: UInt8 = 0x22
    public static let topicAlias: UInt8 = 0x23
    public static let maximumQoS: UInt8 = 0x24
    public static let retainAvailable: UInt8 = 0x25
    public static let userProperty: UInt8 = 0x26
    public static let maximumPacketSize: UInt8 = 0x27
    public static let wildcardSubscriptionAvailable: UInt8 = 0x28
    public static let subscriptionIdentifierAvailable: UInt8 = 0x29
    public static let sharedSubscriptionAvailable: UInt8 = 0x2A

    /// The value shape of each identifier MQTT 5.0 defines (nil: not a property).
    enum Shape { case byte, twoBytes, fourBytes, varInt, string, binary, pair }
    static func shape(of id: UInt8) -> Shape? {
        switch id {
        case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: .byte
        case 0x13, 0x21, 0x22, 0x23: .twoBytes
        case 0x02, 0x11, 0x18, 0x27: .fourBytes
        case 0x0B: .varInt
        case 0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F: .string
        case 0x09, 0x16: .binary
        case 0x26: .pair
        default: nil
        }
    }
}

extension [MQTTProperty] {
    /// The first property with this identifier.
    public func first(_ id: UInt8) -> MQTTProperty.Value? { first(where: { $0.id == id })?.value }

    /// A numeric property's value as an integer.
    public func integer(_ id: UInt8) -> Int? {
        switch first(id) {
        case .byte(let value): Int(value)
        case .twoBytes(let value): Int(value)
        case .fourBytes(let value): Int(value)
        case .varInt(let value): Int(value)
        default: nil
        }
    }
}

/// CONNECT (client → server).
public struct MQTTConnect: Sendable, Equatable {
    public var version: MQTTVersion
    public var clientID: String
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var username: String?
    public var password: [UInt8]?
    public var will: MQTTWill?
    public var properties: [MQTTProperty]

    public init(version: MQTTVersion, clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60, username: String? = nil,
                password: [UInt8]? = nil, will: MQTTWill? = nil, properties: [MQTTProperty] = []) {
        self.version = version
        self.clientID = clientID
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

/// A CONNECT's will message (accepted and ignored by the server; no device reads another's topics).
public struct MQTTWill: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retain: Bool
    public var properties: [MQTTProperty]

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false, properties: [MQTTProperty] = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// PUBLISH (either direction).
public struct MQTTPublish: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retain: Bool
    public var duplicate: Bool
    /// Present exactly when `qos` > 0.
    public var packetID: UInt16?
    public var properties: [MQTTProperty]

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
                packetID: UInt16? = nil, properties: [MQTTProperty] = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetID = packetID
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK-less acknowledgements: a packet id and (5.0) a reason.
public struct MQTTAck: Sendable, Equatable {
    public var packetID: UInt16
    public var reason: MQTTReason
    public var properties: [MQTTProperty]

    public init(packetID: UInt16, reason: MQTTReason = .success, properties: [MQTTProperty] = []) {
        self.packetID = packetID
        self.reason = reason
        self.properties = properties
    }
}

/// One topic filter of a SUBSCRIBE with its options.
public struct MQTTSubscription: Sendable, Equatable {
    public var filter: String
    public var qos: MQTTQoS
    /// 5.0 options byte bits 2–5 (no local, retain as published, retain handling), kept as received.
    public var options: UInt8

    public init(filter: String, qos: MQTTQoS, options: UInt8 = 0) {
        self.filter = filter
        self.qos = qos
        self.options = options
    }
}

/// Every MQTT control packet the server meets or sends.
public enum MQTTPacket: Sendable, Equatable {
    case connect(MQTTConnect)
    case connack(sessionPresent: Bool, reason: MQTTReason, properties: [MQTTProperty])
    case publish(MQTTPublish)
    case puback(MQTTAck)
    case pubrec(MQTTAck)
    case pubrel(MQTTAck)
    case pubcomp(MQTTAck)
    case subscribe(packetID: UInt16, subscriptions: [MQTTSubscription], properties: [MQTTProperty])
    /// Reason codes per filter (3.1.1: 0x00–0x02 granted QoS or 0x80 failure).
    case suback(packetID: UInt16, reasons: [UInt8], properties: [MQTTProperty])
    case unsubscribe(packetID: UInt16, filters: [String], properties: [MQTTProperty])
    case unsuback(packetID: UInt16, reasons: [UInt8], properties: [MQTTProperty])
    case pingreq
    case pingresp
    case disconnect(reason: MQTTReason, properties: [MQTTProperty])
    /// 5.0 AUTH (enhanced authentication, which we do not offer).
    case auth(reason: UInt8, properties: [MQTTProperty])

    /// The fixed header's packet type (bits 7–4 of its first byte).
    public var typeCode: UInt8 {
        switch self {
        case .connect: 1
        case .connack: 2
        case .publish: 3
        case .puback: 4
        case .pubrec: 5
        case .pubrel: 6
        case .pubcomp: 7
        case .subscribe: 8
        case .suback: 9
        case .unsubscribe: 10
        case .unsuback: 11
        case .pingreq: 12
        case .pingresp: 13
        case .disconnect: 14
        case .auth: 15
        }
    }
}

/// Why bytes are not a valid MQTT packet: each maps to a 5.0 reason for the DISCONNECT that closes the connection.
public enum MQTTDecodeError: Error, Sendable, Equatable {
    /// The bytes break the packet grammar (bad remaining length, a field running past the end, reserved bits, bad UTF-8).
    case malformed(String)
    /// The grammar holds but the protocol forbids it (QoS 3, a wrong protocol name, packet id 0).
    case protocolError(String)
    /// CONNECT named a protocol level we do not speak.
    case unsupportedVersion(UInt8)
    /// The packet is larger than the configured maximum.
    case tooLarge(Int)

    public var reason: MQTTReason {
        switch self {
        case .malformed: .malformedPacket
        case .protocolError: .protocolError
        case .unsupportedVersion: .unsupportedProtocolVersion
        case .tooLarge: .packetTooLarge
        }
    }

    public var message: String {
        switch self {
        case .malformed(let text), .protocolError(let text): text
        case .unsupportedVersion(let level): "unsupported protocol level \(level)"
        case .tooLarge(let size): "packet of \(size) bytes over the limit"
        }
    }
}
