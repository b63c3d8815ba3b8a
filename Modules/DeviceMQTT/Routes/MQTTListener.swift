import Core
import HTTP
import MQTT
import Platform

extension DeviceMQTTModule {
    /// The MQTT listeners (`mqtt.*`): `mqtt.port` (default 1883; a free port when `server.port` is 0 and `mqtt.port` is
    /// not set), and with the server's TLS certificate also `mqtt.tls_port` (default 8883, the same rule for 0); none when
    /// `mqtt.enabled` is false. CONNECT must come within `server.header_timeout`.
    public func streamListeners(server: HTTPServerConfiguration) throws -> [StreamListener] {
        let config = context.config
        guard config.bool(Self.enabledKey) else { return [] }
        let port = config[Self.portKey.name].flatMap { Int($0) } ?? (server.port == 0 ? 0 : 1883)
        let limits = MQTTSessionMachine.Limits(maxPacketBytes: config[Self.maxPacketBytesKey.name].flatMap { Int($0) } ?? server.limits.maxBodyBytes,
                                               receiveMaximum: 32, connectTimeout: server.headerTimeout)
        gateway.start()
        var listeners = [MQTTServer.listener(port: port, limits: limits, application: gateway, logger: context.logger)]
        if let tls = server.tls {
            let tlsPort = config[Self.tlsPortKey.name].flatMap { Int($0) } ?? (server.port == 0 ? 0 : 8883)
            listeners.append(MQTTServer.listener(port: tlsPort, tls: tls, limits: limits, application: gateway, logger: context.logger))
        }
        return listeners
    }
}
