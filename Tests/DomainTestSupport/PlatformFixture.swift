import Alerts
import Auth
import Composition
import Core
import Devices
import Exports
import Factors
import Foundation
import Persistence
import Platform
import Projects
import Synchronization
import TestSupport

/// Every module composed by `Apps/Composition` itself (the apps' module list and reverse wiring), over a
/// `TestContext` (temp WAL database, manual clock), migrated. Org `acme` (owner alice, manager bob, viewer carol)
/// and org `globex` (owner gina); with `seedProjects`, projects `alpha` and `beta` in acme and `gamma` in globex.
///
/// `open` so a test target can add what only it needs (e.g. `ProjectsFixture`'s device-counter double).
open class PlatformFixture: @unchecked Sendable {
    public let test: TestContext
    public let composition: Composition
    public let platform: Platform

    public init(config: [String: String] = [:], seedProjects: Bool = true) throws {
        test = try TestContext(config: config)
        let context = test.context
        composition = Composition(context: context)
        platform = Platform(context: context, modules: composition.modules)
        try platform.migrate()
        _ = try auth.initialize(organizationSlug: "acme", organizationName: "Acme", username: "alice", password: "alice-password")
        _ = try auth.createUser(username: "bob", organizationSlug: "acme", role: .manager, password: "bob-password")
        _ = try auth.createUser(username: "carol", organizationSlug: "acme", role: .viewer, password: "carol-password")
        _ = try auth.initialize(organizationSlug: "globex", organizationName: "Globex", username: "gina", password: "gina-password")
        guard seedProjects else { return }
        let alice = try caller("alice")
        for id in ["alpha", "beta"] { _ = try projects.create(ProjectDraft(projectID: id, name: "Project \(id)"), by: alice) }
        _ = try projects.create(ProjectDraft(projectID: "gamma", name: "Project gamma"), by: caller("gina"))
    }

    deinit {
        platform.shutdown()
        test.close()
    }

    public var authModule: AuthModule { composition.auth }
    public var projectsModule: ProjectsModule { composition.projects }
    public var devicesModule: DevicesModule { composition.devices }
    public var factorsModule: FactorsModule { composition.factors }
    public var alertsModule: AlertsModule { composition.alerts }
    public var auth: AuthService { authModule.service }
    public var projects: ProjectService { projectsModule.service }
    public var devices: DeviceService { devicesModule.service }
    public var factors: FactorService { factorsModule.service }
    public var alerts: AlertService { alertsModule.service }
    public var exportsModule: ExportsModule { composition.exports }
    public var exports: ExportService { exportsModule.service }

    public var clock: ManualClock { test.clock }
    public var db: DatabasePool { test.context.db }
    public var bus: PlatformBus { test.context.bus }

    /// A caller authenticated with a fresh token of `username`.
    public func caller(_ username: String, _ request: TokenRequest = TokenRequest()) throws -> Caller {
        let issued = try auth.issueToken(username: username, request)
        return try auth.authenticate(token: issued.secret)
    }

    // MARK: - Projects

    /// Creates a project as `caller` (default: alice), moving the clock one second first so orderings are distinct.
    @discardableResult
    public func create(_ id: String?, name: String? = nil, favorite: Bool = false, tags: [String] = [],
                       identifiers: JSONObject = JSONObject(), as caller: Caller? = nil) throws -> ProjectView {
        clock.advance(by: 1)
        let draft = ProjectDraft(projectID: id, name: name ?? "Project \(id ?? "x")", favorite: favorite, tags: tags, identifiers: identifiers)
        return try projects.create(draft, by: caller ?? self.caller("alice"))
    }

    /// The project ids of a page, in order.
    public func ids(_ page: PageResult<ProjectView>) -> [String] { page.items.map(\.project.projectID) }

    // MARK: - Devices

    /// A provisioned (unassigned) device: `d-NNNN-x` agri_id, safe code `SNNN`.
    public struct Provisioned: Sendable {
        public let deviceID: String
        public let safeCode: String
        public let agriID: String
        public let key: String
    }

    private let provisioned = Mutex(0)

    /// Provisions `count` devices with distinct, non-nesting agri_ids (`d-NNNN-x`).
    public func provision(_ count: Int = 1, capabilities: [String] = []) throws -> [Provisioned] {
        let rows = (0..<count).map { _ -> ProvisionedDevice in
            let n = provisioned.withLock { value -> Int in
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

    /// Provisions one device and binds it to `project` as `caller` (default: the project's org owner, alice or
    /// gina); returns it with its pk.
    public func bound(to project: String = "alpha", as caller: Caller? = nil,
                      capabilities: [String] = []) throws -> (device: Provisioned, pk: Int64) {
        let device = try provision(1, capabilities: capabilities)[0]
        let view = try devices.bind(projectID: project, deviceID: device.deviceID, safeCode: device.safeCode,
                                    caller: caller ?? self.caller(project == "gamma" ? "gina" : "alice"))
        return (device, view.device.id)
    }

    /// Telemetry body `[{agri_id, value, t}]`.
    public static func points(_ items: [(String, Double, Int64?)]) -> JSON {
        .array(items.map { item in
            var object = JSONObject()
            object.append("agri_id", .string(item.0))
            object.append("value", .number(item.1))
            if let t = item.2 { object.append("t", .int64(t)) }
            return .object(object)
        })
    }

    // MARK: - Factors

    /// A factor body with the required fields and `extra` on top.
    public static func body(_ agriID: String, name: String = "temp", register: Int64 = 0, _ extra: [(String, JSON)] = []) -> JSON {
        var object = JSONObject()
        object["agri_id"] = .string(agriID)
        object["name"] = .string(name)
        object["register"] = .int64(register)
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    /// Rows of the factors table for a device: (agri_id, project_pk, organization_id).
    public func rows(devicePK: Int64) throws -> [(String, Int64, Int64)] {
        try db.read {
            try $0.query("SELECT agri_id, project_pk, organization_id FROM factors WHERE device_pk = ? ORDER BY agri_id", [devicePK])
                .map { ($0.string(0), $0.int(1), $0.int(2)) }
        }
    }

    /// The shipped catalog, `Configs/modules.json` (found from this file's place in the repository).
    public static func shippedCatalog() throws -> JSON {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Configs/modules.json"))
        return try JSONParser.parse(Array(data))
    }
}

/// The `PlatformError` (`APIError` or a module's error enum) thrown by `body`, if any.
public func apiError(_ body: () throws -> Void) -> (any PlatformError)? {
    do {
        try body()
        return nil
    } catch {
        return error as? any PlatformError
    }
}

/// The status of the `PlatformError` thrown by `body`, 200 when it succeeds, -1 for any other error.
public func status(_ body: () throws -> Void) -> Int {
    do {
        try body()
        return 200
    } catch let error as any PlatformError {
        return error.status
    } catch {
        return -1
    }
}
