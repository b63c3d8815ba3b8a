@testable import Devices
@testable import Factors
import Auth
import Core
import Foundation
import Persistence
import Platform
import Projects
import Synchronization
import TestSupport

/// Auth + Projects + Devices + Factors composed as `Apps/Composition` does, over a temp WAL database and a
/// manual clock. Org `acme` (owner alice, manager bob, viewer carol) with projects `alpha` and `beta`; org
/// `globex` (owner gina) with project `gamma`.
final class FactorsFixture: @unchecked Sendable {
    let test: TestContext
    let auth: AuthService
    let projects: ProjectService
    let devices: DeviceService
    let factors: FactorService
    let platform: Platform

    init(config: [String: String] = [:]) throws {
        test = try TestContext(config: config)
        let authModule = AuthModule(context: test.context)
        let projectsModule = ProjectsModule(context: test.context, auth: authModule.service)
        let devicesModule = DevicesModule(context: test.context, auth: authModule.service, projects: projectsModule.service)
        let factorsModule = FactorsModule(context: test.context, auth: authModule.service, devices: devicesModule.service)
        projectsModule.service.setDeviceCounter(devicesModule.service)
        devicesModule.service.setFactorInfo(factorsModule.service)
        platform = Platform(context: test.context, modules: [authModule, projectsModule, devicesModule, factorsModule])
        try platform.migrate()
        auth = authModule.service
        projects = projectsModule.service
        devices = devicesModule.service
        factors = factorsModule.service
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

    func caller(_ username: String, _ request: TokenRequest = TokenRequest()) throws -> Caller {
        let issued = try auth.issueToken(username: username, request)
        return try auth.authenticate(authorization: "Bearer \(issued.secret)")
    }

    struct Provisioned {
        let deviceID: String
        let safeCode: String
        let agriID: String
        let key: String
    }

    private let counter = Mutex(0)

    /// Provisions `count` devices with distinct, non-nesting agri_ids (`d-NNNN-x`).
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

    /// Provisions one device and binds it to `project` (as its org's owner); returns it with its pk.
    func bound(to project: String = "alpha", capabilities: [String] = []) throws -> (device: Provisioned, pk: Int64) {
        let device = try provision(1, capabilities: capabilities)[0]
        let view = try devices.bind(projectID: project, deviceID: device.deviceID, safeCode: device.safeCode,
                                    caller: caller(project == "gamma" ? "gina" : "alice"))
        return (device, view.device.id)
    }

    /// A factor body with the required fields and `extra` on top.
    static func body(_ agriID: String, name: String = "temp", register: Int64 = 0, _ extra: [(String, JSON)] = []) -> JSON {
        var object = JSONObject()
        object["agri_id"] = .string(agriID)
        object["name"] = .string(name)
        object["register"] = .int64(register)
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    /// Rows of the factors table for a device: (agri_id, project_pk, organization_id).
    func rows(devicePK: Int64) throws -> [(String, Int64, Int64)] {
        try db.read {
            try $0.query("SELECT agri_id, project_pk, organization_id FROM factors WHERE device_pk = ? ORDER BY agri_id", [devicePK])
                .map { ($0.string(0), $0.int(1), $0.int(2)) }
        }
    }

    /// The shipped catalog, `Configs/modules.json`.
    static func shippedCatalog(file: String = #filePath) throws -> JSON {
        let root = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Configs/modules.json"))
        return try JSONParser.parse(Array(data))
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
