import Alerts
import Auth
import Compat
import Console
import Core
import DeviceMQTT
import Devices
import Exports
import Factors
import Platform
import Projects

/// The one list of modules both apps compose (adding a module is one line here), and the wiring of
/// the small reverse protocols between them.
public struct Composition: Sendable {
    public let auth: AuthModule
    public let projects: ProjectsModule
    public let devices: DevicesModule
    public let factors: FactorsModule
    public let alerts: AlertsModule
    public let exports: ExportsModule
    public let compat: CompatModule
    public let console: ConsoleModule
    public let mqtt: DeviceMQTTModule

    public init(context: PlatformContext) {
        auth = AuthModule(context: context)
        projects = ProjectsModule(context: context, auth: auth.service)
        devices = DevicesModule(context: context, auth: auth.service, projects: projects.service)
        factors = FactorsModule(context: context, auth: auth.service, devices: devices.service)
        alerts = AlertsModule(context: context, auth: auth.service, projects: projects.service, devices: devices.service, factors: factors.service)
        exports = ExportsModule(context: context, auth: auth.service, projects: projects.service, devices: devices.service, factors: factors.service)
        compat = CompatModule(projects: projects.service, auth: auth.service)
        console = ConsoleModule(context: context)
        mqtt = DeviceMQTTModule(context: context, devices: devices.service)
        projects.service.setDeviceCounter(devices.service)
        devices.service.setFactorInfo(factors.service)
    }

    public var modules: [any PlatformModule] { [auth, projects, devices, factors, alerts, exports, compat, console, mqtt] }
}
