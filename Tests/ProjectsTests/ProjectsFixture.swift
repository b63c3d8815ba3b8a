import Auth
import Core
import Foundation
import Platform
import Projects
import Synchronization
import TestSupport

/// Org `acme` (owner alice, manager bob, viewer carol) and org `globex` (owner gina), with the Projects
/// module migrated over a temp WAL database and a manual clock.
final class ProjectsFixture: @unchecked Sendable {
    let test: TestContext
    let auth: AuthService
    let module: ProjectsModule
    let projects: ProjectService
    let platform: Platform
    let counter = FakeCounter()
    let events = EventLog()

    init(config: [String: String] = [:]) throws {
        test = try TestContext(config: config)
        let authModule = AuthModule(context: test.context)
        module = ProjectsModule(context: test.context, auth: authModule.service)
        platform = Platform(context: test.context, modules: [authModule, module])
        try platform.migrate()
        auth = authModule.service
        projects = module.service
        projects.setDeviceCounter(counter)
        events.record(on: test.context.bus)
        _ = try auth.initialize(organizationSlug: "acme", organizationName: "Acme", username: "alice", password: "alice-password")
        _ = try auth.createUser(username: "bob", organizationSlug: "acme", role: .manager, password: "bob-password")
        _ = try auth.createUser(username: "carol", organizationSlug: "acme", role: .viewer, password: "carol-password")
        _ = try auth.initialize(organizationSlug: "globex", organizationName: "Globex", username: "gina", password: "gina-password")
    }

    deinit { test.close() }

    var clock: ManualClock { test.clock }

    func caller(_ username: String, _ request: TokenRequest = TokenRequest()) throws -> Caller {
        let issued = try auth.issueToken(username: username, request)
        return try auth.authenticate(authorization: "Bearer \(issued.secret)")
    }

    /// Creates a project as `caller` (default: alice), moving the clock one second first so orderings are distinct.
    @discardableResult
    func create(_ id: String?, name: String? = nil, favorite: Bool = false, tags: [String] = [], identifiers: JSONObject = JSONObject(),
                as caller: Caller? = nil) throws -> ProjectView {
        clock.advance(by: 1)
        let draft = ProjectDraft(projectID: id, name: name ?? "Project \(id ?? "x")", favorite: favorite, tags: tags, identifiers: identifiers)
        return try projects.create(draft, by: caller ?? self.caller("alice"))
    }

    func ids(_ page: PageResult<ProjectView>) -> [String] { page.items.map(\.project.projectID) }
}

/// A `ProjectDeviceCounter` double: fixed counts per pk, and a log of the pks it was asked about.
final class FakeCounter: ProjectDeviceCounter, @unchecked Sendable {
    let counts = Mutex<[Int64: DeviceCounts]>([:])
    let asked = Mutex<[[Int64]]>([])

    func deviceCounts(projectPKs: [Int64]) throws -> [Int64: DeviceCounts] {
        asked.withLock { $0.append(projectPKs) }
        let counts = counts.withLock { $0 }
        return counts.filter { projectPKs.contains($0.key) }
    }
}

/// Every project event published, by name, after commit.
final class EventLog: @unchecked Sendable {
    let names = Mutex<[String]>([])

    func record(on bus: EventBus) {
        bus.subscribe(ProjectCreated.self) { [self] e, _ in self.append("created \(e.project.projectID)") }
        bus.subscribe(ProjectUpdated.self) { [self] e, _ in self.append("updated \(e.project.projectID)") }
        bus.subscribe(ProjectDeleted.self) { [self] e, _ in self.append("deleted \(e.project.projectID)") }
        bus.subscribe(ProjectRestored.self) { [self] e, _ in self.append("restored \(e.project.projectID)") }
        bus.subscribe(ProjectPurged.self) { [self] e, _ in self.append("purged \(e.project.projectID)") }
        bus.subscribe(ProjectTransferred.self) { [self] e, _ in self.append("transferred \(e.project.projectID)") }
    }

    func append(_ name: String) { names.withLock { $0.append(name) } }

    var all: [String] { names.withLock { $0 } }

    func reset() { names.withLock { $0 = [] } }
}

/// The status of an `APIError` thrown by `body`, or 200 when it succeeds.
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

/// The `APIError` thrown by `body`, if any.
func apiError(_ body: () throws -> Void) -> APIError? {
    do {
        try body()
        return nil
    } catch {
        return error as? APIError
    }
}
