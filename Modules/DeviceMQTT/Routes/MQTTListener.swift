import Core
import HTTP
import MQTT
import Platform

extension DeviceMQTTModule {
    /// The MQTT listener (`mqtt.*`): `mqtt.port` (default 1883; a free port when `server.port` is 0 and `mqtt.port` is
    /// not set), none when `mqtt.enabled` is false. CONNECT must come within `server.header_timeout`.
    public func streamListeners(server: HTTPServerConfiguration) throws -> [StreamListener] {
        let config = context.config
        guard config.bool("mqtt.enabled", default: true) else { return [] }
        let port = config["mqtt.port"].flatMap { Int($0) } ?? (server.port == 0 ? 0 : 1883)
        let limits = MQTTSessionMachine.Limits(maxPacketBytes: config.int("mqtt.max_packet_bytes", default: server.limits.maxBodyBytes),
                                               receiveMaximum: 32, connectTimeout: server.headerTimeout)
        gateway.start()
        return [MQTTServer.listener(port: port, limits: limits, application: gateway, logger: context.logger)]
    }
}
