import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Synchronization
import Testing
import TestSupport

@Suite struct ProjectCacheTests {
    /// Renames a project behind the service's back, as another process (admin-cli) would.
    func renameBehindTheCache(_ fixture: ProjectsFixture, _ id: String, _ name: String) throws {
        try fixture.test.context.db.write { tx in
            try tx.execute("UPDATE projects SET name = ?, name_folded = ? WHERE project_id = ?", [name, name.lowercased(), id])
        }
    }

    @Test func rowsAndListsAreCachedForTheTTL() throws {
        let fixture = try ProjectsFixture(config: ["projects.cache_ttl": "5s"])
        let alice = try fixture.caller("alice")
        try fixture.create("cached", name: "Original")
        #expect(try fixture.projects.project("cached", for: alice).project.name == "Original")
        #expect(try fixture.projects.list(for: alice).items[0].project.name == "Original")
        try renameBehindTheCache(fixture, "cached", "Elsewhere")
        #expect(try fixture.projects.project("cached", for: alice).project.name == "Original")
        #expect(try fixture.projects.list(for: alice).items[0].project.name == "Original")
        fixture.clock.advance(by: 6)
        #expect(try fixture.projects.project("cached", for: alice).project.name == "Elsewhere")
        #expect(try fixture.projects.list(for: alice).items[0].project.name == "Elsewhere")
    }

    /// The rendered detail (reused per thread while the cache entry, slug and counts are the same) is the view's JSON
    /// at every step: read from the database, reused, after an update to a name Swift's `==` calls equal but whose bytes
    /// differ, after a rename behind the cache once the TTL passed, after the counts moved.
    @Test func renderedDetailIsAlwaysTheViewsJSON() throws {
        let fixture = try ProjectsFixture(config: ["projects.cache_ttl": "5s"])
        let alice = try fixture.caller("alice")
        let created = try fixture.create("rendered", name: "Caf\u{E9}")
        func expectRendered(name: String, devices: Int = 0, _ comment: Comment) throws {
            let bytes = try fixture.projects.renderedProject("rendered", for: alice)
            #expect(bytes == JSONWriter.bytes(try fixture.projects.project("rendered", for: alice).json), comment)
            let document = try JSONParser.parse(bytes)
            #expect(document["name"]?.stringValue.map { Array($0.utf8) } == Array(name.utf8), comment)
            #expect(document["device_count"] == .number(Double(devices)), comment)
        }
        for round in 0..<3 { try expectRendered(name: "Caf\u{E9}", "read \(round)") }
        _ = try fixture.projects.update("rendered", ProjectChanges(name: "Cafe\u{301}"), by: alice)
        #expect("Caf\u{E9}" == "Cafe\u{301}")
        for round in 0..<3 { try expectRendered(name: "Cafe\u{301}", "after update, read \(round)") }
        try renameBehindTheCache(fixture, "rendered", "Elsewhere")
        try expectRendered(name: "Cafe\u{301}", "renamed behind the cache, within the TTL")
        fixture.clock.advance(by: 6)
        for round in 0..<3 { try expectRendered(name: "Elsewhere", "renamed behind the cache, TTL passed, read \(round)") }
        fixture.counter.counts.withLock { $0 = [created.project.pk: DeviceCounts(total: 7, offline: 2)] }
        for round in 0..<3 { try expectRendered(name: "Elsewhere", devices: 7, "counts moved, read \(round)") }
    }

    @Test func ttlZeroDisablesTheCache() throws {
        let fixture = try ProjectsFixture(config: ["projects.cache_ttl": "0"])
        let alice = try fixture.caller("alice")
        try fixture.create("uncached", name: "Original")
        _ = try fixture.projects.list(for: alice)
        try renameBehindTheCache(fixture, "uncached", "Elsewhere")
        #expect(try fixture.projects.project("uncached", for: alice).project.name == "Elsewhere")
        #expect(try fixture.projects.list(for: alice).items[0].project.name == "Elsewhere")
    }

    @Test func aClientNeverReadsItsOwnWriteStale() throws {
        let fixture = try ProjectsFixture(config: ["projects.cache_ttl": "60s"])
        let alice = try fixture.caller("alice")
        let gina = try fixture.caller("gina")
        let projects = fixture.projects
        try fixture.create("ryw", name: "One")
        try fixture.create("other", name: "Other")
        func warm() throws {
            _ = try? projects.project("ryw", for: alice)
            _ = try? projects.project("ryw", for: gina)
            _ = try projects.list(for: alice)
            _ = try projects.list(for: alice, filter: ProjectFilter(search: "o"))
            _ = try projects.list(for: gina)
            _ = try projects.projects(pks: [1, 2])
        }
        try warm()
        _ = try projects.update("ryw", ProjectChanges(name: "Two", favorite: true), by: alice)
        #expect(try projects.project("ryw", for: alice).project.name == "Two")
        #expect(try projects.list(for: alice).items.first?.project.name == "Two")
        #expect(try projects.list(for: alice, filter: ProjectFilter(search: "o")).items.first?.project.name == "Two")
        #expect(try projects.resolve("ryw", for: alice, access: .read).name == "Two")

        try warm()
        _ = try projects.transfer("ryw", toOrganization: "globex", by: alice)
        #expect(status { _ = try projects.project("ryw", for: alice) } == 404)
        #expect(try projects.list(for: alice).items.map(\.project.projectID) == ["other"])
        #expect(try projects.list(for: gina).items.map(\.project.projectID) == ["ryw"])
        #expect(try projects.project("ryw", for: gina).organizationSlug == "globex")

        try warm()
        _ = try projects.list(for: gina)
        try projects.delete("ryw", hard: false, by: gina)
        #expect(status { _ = try projects.project("ryw", for: gina) } == 404)
        #expect(try projects.list(for: gina).count == 0)
        #expect(try projects.projects(pks: [1]).isEmpty)

        _ = try projects.restore("ryw", by: gina)
        #expect(try projects.project("ryw", for: gina).project.name == "Two")
        #expect(try projects.list(for: gina).items.map(\.project.projectID) == ["ryw"])

        _ = try projects.list(for: alice)
        try fixture.create("fresh", name: "Fresh")
        #expect(try projects.list(for: alice).items.map(\.project.projectID).contains("fresh"))
    }

    /// Readers racing a writer may read the old row before a commit and try to store it after the
    /// invalidation: the generation check drops such stores, so every read after a write returns sees it.
    @Test func concurrentReadersNeverPinAStaleRow() throws {
        let fixture = try ProjectsFixture(config: ["projects.cache_ttl": "60s"])
        let alice = try fixture.caller("alice")
        let projects = fixture.projects
        try fixture.create("raced", name: "v0")
        let stop = StopFlag()
        let group = DispatchGroup()
        for _ in 0..<3 {
            group.enter()
            Thread.detachNewThread {
                while !stop.value.load(ordering: .relaxed) {
                    _ = try? projects.project("raced", for: alice)
                    _ = try? projects.list(for: alice)
                }
                group.leave()
            }
        }
        defer {
            stop.value.store(true, ordering: .relaxed)
            group.wait()
        }
        for i in 1...150 {
            _ = try projects.update("raced", ProjectChanges(name: "v\(i)"), by: alice)
            #expect(try projects.project("raced", for: alice).project.name == "v\(i)")
            #expect(try projects.list(for: alice).items.first?.project.name == "v\(i)")
        }
    }
}

final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}
