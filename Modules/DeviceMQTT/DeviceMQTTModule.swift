import Core
import Devices
import Persistence
import Platform

/// Devices over MQTT (DESIGN §5.7): the device gateway's credentials, telemetry and command queue on MQTT topics. The
/// listener runs on the API server's event loops (`Routes/`); the domain stays in `DeviceService`, which knows no MQTT.
public final class DeviceMQTTModule: PlatformModule {
    public let name = "mqtt"
    let context: PlatformContext
    let gateway: DeviceMQTTGateway

    public init(context: PlatformContext, devices: DeviceService) {
        self.context = context
        self.gateway = DeviceMQTTGateway(context: context, devices: devices)
    }

    static let enabledKey = ConfigKey("mqtt.enabled", .boolean, default: "true", "serve devices over MQTT 3.1.1/5.0 on the API server's event loops")
    static let portKey = ConfigKey("mqtt.port", .integer(0...65_535), default: nil, shown: "1883",
                                   "MQTT port (flag `--mqtt-port`; 0 = any free port; with `--port 0` and no `mqtt.port`, a free port too)")
    static let tlsPortKey = ConfigKey("mqtt.tls_port", .integer(0...65_535), default: nil, shown: "8883",
                                      "MQTT over TLS with `server.tls.*` (flag `--mqtt-tls-port`; the same rules for 0)")
    static let maxPacketBytesKey = ConfigKey("mqtt.max_packet_bytes", .integer(64...268_435_455), default: nil, shown: "`server.max_body_bytes`",
                                             "larger MQTT packets close the connection (5.0: DISCONNECT 0x95)")

    public var configKeys: [ConfigKey] { [Self.enabledKey, Self.portKey, Self.tlsPortKey, Self.maxPacketBytesKey] }

    /// A command queued in this process reaches a subscribed device at once (after the queue's commit).
    public func subscribe(to bus: PlatformBus) {
        let gateway = gateway
        bus.subscribe(DeviceCommandQueued.self, afterCommit: { event in gateway.commandQueued(devicePK: event.devicePK) })
    }

    public func shutdown() { gateway.stop() }
}
