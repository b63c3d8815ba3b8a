import Auth
import Core
import DomainTestSupport
import Foundation
import Projects
import Testing
import TestSupport

@Suite struct ProjectCreateTests {
    @Test func createRecordsCreatorOrganizationAndTimes() throws {
        let fixture = try ProjectsFixture()
        let view = try fixture.create("greenhouse-alpha", name: "Greenhouse Alpha", as: fixture.caller("bob"))
        #expect(view.project.createdBy == "bob" && view.organizationSlug == "acme")
        #expect(view.project.createdAt == view.project.updatedAt && view.project.deletedAt == nil)
        let json = view.json
        #expect(json["project_id"] == .string("greenhouse-alpha") && json["organization"] == .string("acme"))
        #expect(json["created_at"] == .string(Timestamp.format(fixture.clock.now())))
        #expect(json["device_count"] == .number(0) && json["offline_device_count"] == .number(0))
        #expect(json["deleted_at"] == .null && json["tags"] == .array([]) && json["custom_fields"] == .object([:]))
        #expect(fixture.events.all == ["created greenhouse-alpha"])
    }

    @Test func omittedProjectIDIsGenerated() throws {
        let fixture = try ProjectsFixture()
        let id = try fixture.create(nil).project.projectID
        #expect(id.hasPrefix("proj_") && ProjectLimits.isValidProjectID(id))
        #expect(try fixture.create(nil).project.projectID != id)
    }

    @Test func projectIDsAreGloballyUniqueTrashIncluded() throws {
        let fixture = try ProjectsFixture()
        try fixture.create("taken")
        let again = apiError { try fixture.create("taken", as: fixture.caller("gina")) }
        #expect(again?.status == 409 && again?.code == "PROJECT_EXISTS")
        try fixture.create("trashed")
        try fixture.projects.delete("trashed", hard: false, by: fixture.caller("alice"))
        #expect(apiError { try fixture.create("trashed") }?.code == "PROJECT_EXISTS")
        #expect(apiError { try fixture.create("trash") }?.code == "VALIDATION_ERROR")
    }

    @Test func onlyManagersWithAllProjectsTokensCreate() throws {
        let fixture = try ProjectsFixture()
        #expect(status { try fixture.create("v1", as: fixture.caller("carol")) } == 403)
        #expect(status { try fixture.create("v2", as: fixture.caller("bob", TokenRequest(projects: ["v2"]))) } == 403)
        #expect(status { try fixture.create("v3", as: fixture.caller("alice", TokenRequest(role: .viewer))) } == 403)
        #expect(status { try fixture.create("v4", as: fixture.caller("bob")) } == 200)
    }
}

@Suite struct ProjectListTests {
    @Test func orderedFavoriteThenMostRecentlyUpdatedThenPK() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        try fixture.create("p-a")
        try fixture.create("p-b", favorite: true)
        try fixture.create("p-c")
        try fixture.create("p-d", favorite: true)
        #expect(fixture.ids(try fixture.projects.list(for: alice)) == ["p-d", "p-b", "p-c", "p-a"])
        fixture.clock.advance(by: 1)
        _ = try fixture.projects.update("p-a", ProjectChanges(description: "touched"), by: alice)
        _ = try fixture.projects.update("p-b", ProjectChanges(description: "touched"), by: alice)
        #expect(fixture.ids(try fixture.projects.list(for: alice)) == ["p-b", "p-d", "p-a", "p-c"])
        // Same updated time (the manual clock stands still): pk breaks the tie.
        _ = try fixture.projects.update("p-c", ProjectChanges(favorite: false), by: alice)
        #expect(fixture.ids(try fixture.projects.list(for: alice)) == ["p-b", "p-d", "p-a", "p-c"])
    }

    @Test func paginatesWithCount() throws {
        let fixture = try ProjectsFixture()
        for i in 0..<5 { try fixture.create("page-\(i)") }
        let alice = try fixture.caller("alice")
        let first = try fixture.projects.list(for: alice, page: PageRequest(page: 1, pageSize: 2))
        #expect(first.count == 5 && fixture.ids(first) == ["page-4", "page-3"])
        #expect(fixture.ids(try fixture.projects.list(for: alice, page: PageRequest(page: 3, pageSize: 2))) == ["page-0"])
        let past = try fixture.projects.list(for: alice, page: PageRequest(page: 9, pageSize: 2))
        #expect(past.count == 5 && past.items.isEmpty)
    }

    @Test func filtersBySearchTagFavoriteAndIdentifiers() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        try fixture.create("gh-north", name: "Greenhouse North", favorite: true, tags: ["glass", "north"], identifiers: ["gtin": .string("111")])
        try fixture.create("gh-south", name: "GREENHOUSE South", tags: ["glass"], identifiers: ["gtin": .string("222"), "epc": .string("e1")])
        try fixture.create("cold-100", name: "Cold 100% room", tags: ["cold"])
        try fixture.create("wasser", name: "Wasserwerk Überlingen")
        func ids(_ filter: ProjectFilter) throws -> Set<String> { Set(fixture.ids(try fixture.projects.list(for: alice, filter: filter))) }
        #expect(try ids(ProjectFilter(search: "greenhouse")) == ["gh-north", "gh-south"])
        #expect(try ids(ProjectFilter(search: "SOUTH")) == ["gh-south"])
        #expect(try ids(ProjectFilter(search: "100%")) == ["cold-100"])
        #expect(try ids(ProjectFilter(search: "0_")).isEmpty)   // LIKE wildcards are literal
        #expect(try ids(ProjectFilter(search: "überlingen")) == ["wasser"])
        #expect(try ids(ProjectFilter(tags: ["glass"])) == ["gh-north", "gh-south"])
        #expect(try ids(ProjectFilter(tags: ["glass", "north"])) == ["gh-north"])
        #expect(try ids(ProjectFilter(tags: ["Glass"])).isEmpty)   // tags match exactly
        #expect(try ids(ProjectFilter(favorite: true)) == ["gh-north"])
        #expect(try ids(ProjectFilter(favorite: false)) == ["gh-south", "cold-100", "wasser"])
        #expect(try ids(ProjectFilter(identifiers: [("gtin", "222")])) == ["gh-south"])
        #expect(try ids(ProjectFilter(identifiers: [("gtin", "222"), ("epc", "e1")])) == ["gh-south"])
        #expect(try ids(ProjectFilter(identifiers: [("gtin", "222"), ("epc", "nope")])).isEmpty)
        #expect(try ids(ProjectFilter(search: "green", tags: ["glass"], favorite: false)) == ["gh-south"])
        // Filters follow updates (the tag and identifier index rows are rewritten).
        _ = try fixture.projects.update("gh-north", ProjectChanges(tags: ["cold"], identifiers: [:]), by: alice)
        #expect(try ids(ProjectFilter(tags: ["cold"])) == ["gh-north", "cold-100"])
        #expect(try ids(ProjectFilter(identifiers: [("gtin", "111")])).isEmpty)
    }

    @Test func scopedTokensSeeOnlyTheirProjectsOtherOrgsNothing() throws {
        let fixture = try ProjectsFixture()
        for id in ["s-1", "s-2", "s-3"] { try fixture.create(id) }
        try fixture.create("g-1", as: fixture.caller("gina"))
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["s-1", "s-3", "g-1", "missing"]))
        let page = try fixture.projects.list(for: scoped)
        #expect(Set(fixture.ids(page)) == ["s-1", "s-3"] && page.count == 2)
        #expect(Set(fixture.ids(try fixture.projects.list(for: fixture.caller("alice")))) == ["s-1", "s-2", "s-3"])
        #expect(fixture.ids(try fixture.projects.list(for: fixture.caller("gina"))) == ["g-1"])
        #expect(try fixture.projects.list(for: fixture.caller("carol")).count == 3)
    }

    @Test func deviceCountsComeFromTheCounter() throws {
        let fixture = try ProjectsFixture()
        let a = try fixture.create("count-a")
        let b = try fixture.create("count-b")
        fixture.counter.counts.withLock { $0 = [a.project.pk: DeviceCounts(total: 42, offline: 3)] }
        let alice = try fixture.caller("alice")
        let list = try fixture.projects.list(for: alice)
        #expect(list.items.first { $0.project.projectID == "count-a" }?.counts == DeviceCounts(total: 42, offline: 3))
        #expect(list.items.first { $0.project.projectID == "count-b" }?.counts == .zero)
        #expect(Set(fixture.counter.asked.withLock { $0.last ?? [] }) == [a.project.pk, b.project.pk])
        let detail = try fixture.projects.project("count-a", for: alice)
        #expect(detail.json["device_count"] == .number(42) && detail.json["offline_device_count"] == .number(3))
        // Counts are never cached: a change in the counter shows on the next read.
        fixture.counter.counts.withLock { $0[a.project.pk] = DeviceCounts(total: 43, offline: 0) }
        #expect(try fixture.projects.project("count-a", for: alice).counts.total == 43)
        #expect(try fixture.projects.list(for: alice).items.first { $0.project.pk == a.project.pk }?.counts.total == 43)
    }
}

@Suite struct ProjectAccessTests {
    @Test func resolveMatrix() throws {
        let fixture = try ProjectsFixture()
        let ref = try fixture.create("matrix").project.ref
        let alice = try fixture.caller("alice")
        let carol = try fixture.caller("carol")
        let scopedIn = try fixture.caller("bob", TokenRequest(projects: ["matrix"]))
        let scopedOut = try fixture.caller("bob", TokenRequest(projects: ["other"]))
        let gina = try fixture.caller("gina")
        #expect(try fixture.projects.resolve("matrix", for: alice, access: .write) == ref)
        #expect(try fixture.projects.resolve("matrix", for: carol, access: .read) == ref)
        #expect(status { _ = try fixture.projects.resolve("matrix", for: carol, access: .write) } == 403)
        #expect(try fixture.projects.resolve("matrix", for: scopedIn, access: .write) == ref)
        #expect(status { _ = try fixture.projects.resolve("matrix", for: scopedOut, access: .read) } == 403)
        let hidden = apiError { _ = try fixture.projects.resolve("matrix", for: gina, access: .read) }
        #expect(hidden?.status == 404 && hidden?.code == "PROJECT_NOT_FOUND")
        #expect(apiError { _ = try fixture.projects.resolve("nope", for: alice, access: .read) }?.code == "PROJECT_NOT_FOUND")
        #expect(apiError { _ = try fixture.projects.resolve("Not Valid", for: alice, access: .read) }?.code == "PROJECT_NOT_FOUND")
    }

    @Test func everyOperationFollowsTheMatrix() throws {
        let fixture = try ProjectsFixture()
        try fixture.create("guarded")
        try fixture.create("trashed-one")
        try fixture.projects.delete("trashed-one", hard: false, by: fixture.caller("alice"))
        let projects = fixture.projects
        let carol = try fixture.caller("carol")
        let scopedOut = try fixture.caller("bob", TokenRequest(projects: ["other"]))
        let gina = try fixture.caller("gina")
        let operations: [(String, (Caller) throws -> Void)] = [
            ("retrieve", { _ = try projects.project("guarded", for: $0) }),
            ("update", { _ = try projects.update("guarded", ProjectChanges(name: "X"), by: $0) }),
            ("delete", { try projects.delete("guarded", hard: false, by: $0) }),
            ("restore", { _ = try projects.restore("trashed-one", by: $0) }),
            ("transfer", { _ = try projects.transfer("guarded", toOrganization: "globex", by: $0) }),
        ]
        for (name, operation) in operations {
            #expect(status { try operation(gina) } == 404, "\(name) by another org")
            #expect(status { try operation(scopedOut) } == 403, "\(name) outside the scope")
            if name != "retrieve" { #expect(status { try operation(carol) } == 403, "\(name) by a viewer") }
        }
        #expect(status { _ = try projects.project("guarded", for: carol) } == 200)
        #expect(fixture.events.all.filter { !$0.hasPrefix("created") } == ["deleted trashed-one"])
    }

    @Test func projectsByPKAreActiveOnly() throws {
        let fixture = try ProjectsFixture()
        let a = try fixture.create("pk-a").project
        let b = try fixture.create("pk-b").project
        try fixture.projects.delete("pk-b", hard: false, by: fixture.caller("alice"))
        #expect(try fixture.projects.project(pk: a.pk) == a.ref)
        #expect(try fixture.projects.project(pk: b.pk) == nil)
        #expect(try fixture.projects.projects(pks: [a.pk, b.pk, 999]) == [a.pk: a.ref])
    }
}
