@testable import Devices
import Auth
import Core
import Foundation
import Persistence
import Platform
import Projects
import Synchronization
import TestSupport

/// Auth + Projects + Devices composed as `Apps/Composition` does, over a temp WAL database and a manual
/// clock. Org `acme` (owner alice, manager bob, viewer carol) with projects `alpha` and `beta`; org
/// `globex` (owner gina) with project `gamma`.
final class DevicesFixture: @unchecked Sendable {
    let test: TestContext
    let auth: AuthService
    let projects: ProjectService
    let devices: DeviceService
    let platform: Platform

    init(config: [String: String] = [:]) throws {
        test = try TestContext(config: config)
        let authModule = AuthModule(context: test.context)
        let projectsModule = ProjectsModule(context: test.context, auth: authModule.service)
        let devicesModule = DevicesModule(context: test.context, auth: authModule.service, projects: projectsModule.service)
        projectsModule.service.setDeviceCounter(devicesModule.service)
        platform = Platform(context: test.context, modules: [authModule, projectsModule, devicesModule])
        try platform.migrate()
        auth = authModule.service
        projects = projectsModule.service
        devices = devicesModule.service
        _ = try auth.initialize(organizationSlug: "acme", organizationName: "Acme", username: "alice", password: "alice-password")
        _ = try auth.createUser(username: "bob", organizationSlug: "acme", role: .manager, password: "bob-password")
        _ = try auth.createUser(username: "carol", organizationSlug: "acme", role: .viewer, password: "carol-password")
        _ = try auth.initialize(organizationSlug: "globex", organizationName: "Globex", username: "gina", password: "gina-password")
        let alice = try caller("alice")
        for id in ["alpha", "beta"] { _ = try projects.create(ProjectDraft(projectID: id, name: "Project \(id)"), by: alice) }
        _ = try projects.create(ProjectDraft(projectID: "gamma", name: "Project gamma"), by: caller("gina"))
    }

    deinit {
        platform.shutdown()
        test.close()
    }

    var clock: ManualClock { test.clock }
    var db: DatabasePool { test.context.db }
    var bus: EventBus { test.context.bus }

    func caller(_ username: String, _ request: TokenRequest = TokenRequest()) throws -> Caller {
        let issued = try auth.issueToken(username: username, request)
        return try auth.authenticate(authorization: "Bearer \(issued.secret)")
    }

    /// A provisioned (unassigned) device: `d-NNNN-xxxx` agri_id, safe code `K<NNN>` style.
    struct Provisioned {
        let deviceID: String
        let safeCode: String
        let agriID: String
        let key: String
    }

    private let counter = Mutex(0)

    /// Provisions `count` devices with distinct, non-nesting agri_ids.
    func provision(_ count: Int = 1, capabilities: [String] = []) throws -> [Provisioned] {
        let rows = (0..<count).map { _ -> ProvisionedDevice in
            let n = counter.withLock { value -> Int in
                value += 1
                return value
            }
            let digits = String(format: "%04d", n)
            return ProvisionedDevice(deviceID: "86868600000\(digits)", safeCode: "S\(String(format: "%03d", n % 1000))",
                                     agriID: "d-\(digits)-x", model: "DTU-\(n)", capabilities: capabilities)
        }
        let keys = try devices.provision(rows)
        return zip(rows, keys).map { Provisioned(deviceID: $0.deviceID, safeCode: $0.safeCode, agriID: $0.agriID, key: $1.deviceKey) }
    }

    /// Provisions one device and binds it to `project` as alice (or `caller`); returns its pk.
    func bound(to project: String, as caller: Caller? = nil, capabilities: [String] = []) throws -> (device: Provisioned, pk: Int64) {
        let device = try provision(1, capabilities: capabilities)[0]
        let view = try devices.bind(projectID: project, deviceID: device.deviceID, safeCode: device.safeCode,
                                    caller: caller ?? self.caller(project == "gamma" ? "gina" : "alice"))
        return (device, view.device.id)
    }

    /// Telemetry body `[{agri_id, value, t}]`.
    static func points(_ items: [(String, Double, Int64?)]) -> JSON {
        .array(items.map { item in
            var object = JSONObject()
            object.append("agri_id", .string(item.0))
            object.append("value", .number(item.1))
            if let t = item.2 { object.append("t", .int64(t)) }
            return .object(object)
        })
    }
}

/// The `APIError` thrown by `body`, if any.
func apiError(_ body: () throws -> Void) -> APIError? {
    do {
        try body()
        return nil
    } catch {
        return error as? APIError
    }
}

/// The status of what `body` threw, or 200 when it succeeded.
func status(_ body: () throws -> Void) -> Int {
    do {
        try body()
        return 200
    } catch let error as APIError {
        return error.status
    } catch {
        return -1
    }
}
