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

    public var configKeys: [ConfigKey] {
        [ConfigKey("mqtt.enabled", .boolean), ConfigKey("mqtt.port", .integer(0...65_535)), ConfigKey("mqtt.tls_port", .integer(0...65_535)),
         ConfigKey("mqtt.max_packet_bytes", .integer(64...268_435_455))]
    }

    /// A command queued in this process reaches a subscribed device at once (after the queue's commit).
    public func subscribe(to bus: PlatformBus) {
        let gateway = gateway
        bus.subscribe(DeviceCommandQueued.self, afterCommit: { event in gateway.commandQueued(devicePK: event.devicePK) })
    }

    public func shutdown() { gateway.stop() }
}
