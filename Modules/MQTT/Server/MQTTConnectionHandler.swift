import Core
import Foundation
import HTTP
import Synchronization

/// What an MQTT connection asks the application: whether a CONNECT may proceed (answered through the connection).
/// The application sees packets' meaning (credentials, topics, payloads), never bytes.
public protocol MQTTApplication: Sendable {
    /// A CONNECT arrived: answer `connection.accept(session)` or `connection.refuse(_:message:)`, from any thread.
    func connect(_ request: MQTTConnect, connection: MQTTConnection)
}

/// The application's side of one accepted connection. Called on the connection's loop thread: return quickly (move
/// blocking work elsewhere and answer through the `MQTTConnection`).
public protocol MQTTSessionDelegate: AnyObject, Sendable {
    /// A PUBLISH: for QoS 1/2 answer `connection.published(sequence:reason:)` once its outcome is durable.
    func publish(_ message: MQTTInbound, connection: MQTTConnection)
    /// A SUBSCRIBE: one reason per filter (granted QoS or a refusal). The SUBACK is sent right after this returns, so
    /// messages the delegate delivers through the connection afterwards follow it.
    func subscribe(_ subscriptions: [MQTTSubscription], connection: MQTTConnection) -> [MQTTReason]
    /// Filters the client unsubscribed.
    func unsubscribed(_ filters: [String])
    /// A message delivered with QoS 1 was acknowledged (its `token`).
    func delivered(token: UInt64)
    /// The connection is gone (`reason` nil for an orderly end); called once.
    func closed(reason: String?)
}

/// A thread-safe handle on one MQTT connection: every call hops onto the connection's event loop.
public final class MQTTConnection: Sendable {
    public let remoteAddress: String
    let channel: StreamChannel
    let handler: Mutex<MQTTConnectionHandler?>

    init(channel: StreamChannel) {
        self.channel = channel
        self.remoteAddress = channel.remoteAddress
        self.handler = Mutex(nil)
    }

    private func onLoop(_ work: @escaping @Sendable (MQTTConnectionHandler) -> Void) {
        channel.execute { [self] in
            guard let handler = self.handler.withLock({ $0 }) else { return }
            work(handler)
        }
    }

    /// Accepts the CONNECT: CONNACK, then the session's delegate gets the connection's packets.
    public func accept(_ session: any MQTTSessionDelegate) {
        channel.execute { [self] in
            // A connection gone before its CONNACK still ends the session the application made for it.
            guard let handler = self.handler.withLock({ $0 }) else { return session.closed(reason: "closed before CONNACK") }
            handler.accepted(session)
        }
    }

    /// Refuses the CONNECT with `reason` (mapped to a 3.1.1 return code for 3.1.1 clients) and closes.
    public func refuse(_ reason: MQTTReason, message: String) {
        onLoop { $0.run($0.machine.refuse(reason, message: message)) }
    }

    /// The outcome of an inbound QoS 1/2 publish (`.success` once durable).
    public func published(sequence: UInt64, reason: MQTTReason) {
        onLoop { $0.run($0.machine.published(sequence: sequence, reason: reason, now: MQTTConnectionHandler.now())) }
    }

    /// Sends a message to the client.
    public func deliver(topic: String, payload: [UInt8], qos: MQTTQoS, token: UInt64) {
        onLoop { $0.run($0.machine.deliver(topic: topic, payload: payload, qos: qos, token: token)) }
    }

    /// Closes from the server side (5.0: DISCONNECT with `reason` first).
    public func disconnect(_ reason: MQTTReason, message: String) {
        onLoop { $0.run($0.machine.disconnect(reason, message: message)) }
    }
}

/// Drives an `MQTTSessionMachine` over a `StreamChannel` of the HTTP server's event loops: feeds it bytes and ticks,
/// executes its actions, and hands the application its questions. Lives on the loop thread.
final class MQTTConnectionHandler: StreamHandler, @unchecked Sendable {
    var machine: MQTTSessionMachine
    let channel: StreamChannel
    let connection: MQTTConnection
    let application: any MQTTApplication
    let logger: Logger
    var session: (any MQTTSessionDelegate)?
    private var closeReason: String?
    private var finished = false

    init(channel: StreamChannel, application: any MQTTApplication, limits: MQTTSessionMachine.Limits, logger: Logger) {
        self.channel = channel
        self.application = application
        self.logger = logger
        self.machine = MQTTSessionMachine(limits: limits, now: Self.now())
        self.connection = MQTTConnection(channel: channel)
        connection.handler.withLock { $0 = self }
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    func received(_ bytes: UnsafeRawBufferPointer, now: Double) {
        run(machine.bytesRead(bytes, now: now))
    }

    func tick(now: Double) {
        run(machine.tick(now: now))
    }

    func closed() {
        guard !finished else { return }
        finished = true
        _ = machine.peerClosed()
        connection.handler.withLock { $0 = nil }
        session?.closed(reason: closeReason)
        session = nil
    }

    func accepted(_ session: any MQTTSessionDelegate) {
        guard machine.phase == .authenticating else {
            session.closed(reason: nil)
            return
        }
        self.session = session
        run(machine.accept(now: Self.now()))
    }

    func run(_ actions: [MQTTSessionMachine.Action]) {
        for action in actions {
            switch action {
            case .send(let bytes):
                channel.write(bytes)
            case .close(let reason):
                if let reason {
                    closeReason = reason
                    logger.warning("mqtt connection closed", ["remote": .string(channel.remoteAddress),
                                                              "client_id": .string(machine.connect?.clientID ?? ""),
                                                              "username": .string(machine.connect?.username ?? ""),
                                                              "reason": .string(reason)])
                }
                channel.close()
            case .authenticate(let connect):
                application.connect(connect, connection: connection)
            case .publish(let message):
                session?.publish(message, connection: connection)
            case .subscribe(let packetID, let subscriptions):
                let reasons = session?.subscribe(subscriptions, connection: connection)
                    ?? [MQTTReason](repeating: .notAuthorized, count: subscriptions.count)
                run(machine.subscribed(packetID: packetID, reasons: reasons))
            case .unsubscribed(let filters):
                session?.unsubscribed(filters)
            case .delivered(let token):
                session?.delivered(token: token)
            }
        }
        if channel.isOpen { channel.setReading(machine.wantsInput) }
    }
}

/// The MQTT listener for the HTTP server's event loops.
public enum MQTTServer {
    /// A `StreamListener` serving MQTT on `port` (0: a free one) for `application`.
    public static func listener(port: Int, tls: TLSContext? = nil, limits: MQTTSessionMachine.Limits, application: any MQTTApplication,
                                logger: Logger) -> StreamListener {
        StreamListener(name: "mqtt", port: port, tls: tls) { channel in
            MQTTConnectionHandler(channel: channel, application: application, limits: limits, logger: logger)
        }
    }
}
