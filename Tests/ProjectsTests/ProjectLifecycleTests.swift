import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Synchronization
import Testing
import TestSupport

@Suite struct ProjectUpdateTests {
    @Test func patchIsPartialAndBumpsUpdatedAt() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        let created = try fixture.create("patchy", name: "Before", tags: ["a"], identifiers: ["gtin": .string("1")])
        fixture.clock.advance(by: 10)
        let updated = try fixture.projects.update("patchy", ProjectChanges(name: "After", favorite: true, customFields: ["k": .number(1)]),
                                                  by: alice).project
        #expect(updated.name == "After" && updated.favorite && updated.tags == ["a"] && updated.identifiers["gtin"] == .string("1"))
        #expect(updated.customFields == ["k": .number(1)])
        #expect(updated.updatedAt == created.project.updatedAt + 10_000 && updated.createdAt == created.project.createdAt)
        #expect(fixture.events.all.last == "updated patchy")
        // An empty PATCH changes nothing, not even updated_at, and publishes nothing.
        fixture.clock.advance(by: 10)
        fixture.events.reset()
        #expect(try fixture.projects.update("patchy", ProjectChanges(), by: alice).project == updated)
        #expect(fixture.events.all.isEmpty)
    }
}

@Suite struct ProjectTrashTests {
    @Test func deleteTrashesThenRestoreReinstates() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        try fixture.create("bin-me")
        try fixture.create("keep-me")
        #expect(try fixture.projects.delete("bin-me", hard: false, by: alice) == .trashed)
        #expect(fixture.ids(try fixture.projects.list(for: alice)) == ["keep-me"])
        #expect(apiError { _ = try fixture.projects.project("bin-me", for: alice) }?.code == "PROJECT_NOT_FOUND")
        #expect(status { _ = try fixture.projects.resolve("bin-me", for: alice, access: .read) } == 404)
        #expect(status { _ = try fixture.projects.update("bin-me", ProjectChanges(name: "x"), by: alice) } == 404)
        let trash = try fixture.projects.trash(for: alice)
        #expect(fixture.ids(trash) == ["bin-me"] && trash.items[0].json["deleted_at"] == .string(Timestamp.format(fixture.clock.now())))
        #expect(try fixture.projects.trash(for: fixture.caller("gina")).count == 0)
        #expect(try fixture.projects.trash(for: fixture.caller("bob", TokenRequest(projects: ["keep-me"]))).count == 0)
        #expect(try fixture.projects.trash(for: fixture.caller("bob", TokenRequest(projects: ["bin-me"]))).count == 1)
        fixture.clock.advance(by: 5)
        let restored = try fixture.projects.restore("bin-me", by: alice)
        #expect(restored.project.deletedAt == nil && restored.json["deleted_at"] == .null)
        #expect(fixture.ids(try fixture.projects.list(for: alice)) == ["bin-me", "keep-me"])   // restoring counts as an update
        #expect(try fixture.projects.trash(for: alice).count == 0)
        #expect(apiError { _ = try fixture.projects.restore("bin-me", by: alice) }?.code == "PROJECT_NOT_IN_TRASH")
        #expect(fixture.events.all.suffix(2) == ["deleted bin-me", "restored bin-me"])
    }

    @Test func deletingATrashedProjectOrHardDeletePurges() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        try fixture.create("twice")
        try fixture.create("hard")
        fixture.events.reset()
        #expect(try fixture.projects.delete("twice", hard: false, by: alice) == .trashed)
        #expect(try fixture.projects.delete("twice", hard: false, by: alice) == .purged)
        #expect(try fixture.projects.delete("hard", hard: true, by: alice) == .purged)
        #expect(fixture.events.all == ["deleted twice", "purged twice", "deleted hard", "purged hard"])
        #expect(try fixture.projects.trash(for: alice).count == 0)
        #expect(status { try fixture.projects.delete("twice", hard: false, by: alice) } == 404)
        // The id is free again once purged.
        #expect(status { try fixture.create("twice") } == 200)
    }

    @Test func purgeTrashHonoursTheRetention() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        for id in ["old-1", "old-2", "young", "active"] { try fixture.create(id) }
        try fixture.projects.delete("old-1", hard: false, by: alice)
        try fixture.projects.delete("old-2", hard: false, by: alice)
        fixture.clock.advance(by: 20 * 86_400)
        try fixture.projects.delete("young", hard: false, by: alice)
        fixture.clock.advance(by: 11 * 86_400)
        fixture.events.reset()
        #expect(try fixture.projects.purgeTrash(olderThan: 30 * 86_400) == 2)
        #expect(Set(fixture.events.all) == ["purged old-1", "purged old-2"])
        #expect(fixture.ids(try fixture.projects.trash(for: alice)) == ["young"])
        #expect(try fixture.projects.purgeTrash(olderThan: 30 * 86_400) == 0)
        #expect(try fixture.projects.purgeTrash(olderThan: 0) == 1)
        #expect(fixture.ids(try fixture.projects.list(for: alice)) == ["active"])
    }
}

@Suite struct ProjectTransferTests {
    @Test func transferMovesTheProjectToTheTargetOrganization() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        let gina = try fixture.caller("gina")
        try fixture.create("moving")
        let insideTransaction = EventLog()
        fixture.test.context.bus.subscribe(ProjectTransferred.self, inTransaction: { event, tx in
            // Runs inside the transfer's transaction: the row already points at the target organization.
            let organization = try tx.queryOne("SELECT organization_id FROM projects WHERE pk = ?", [event.project.pk])
            let text = "\(tx.isWritable) \(organization?.int(0) == event.toOrganizationID) \(event.fromOrganizationID != event.toOrganizationID)"
            insideTransaction.append(text)
        })
        let view = try fixture.projects.transfer("moving", toOrganization: "globex", by: alice)
        #expect(view.organizationSlug == "globex" && view.json["organization"] == .string("globex"))
        #expect(fixture.events.all.last == "transferred moving")
        #expect(status { _ = try fixture.projects.project("moving", for: alice) } == 404)
        #expect(try fixture.projects.project("moving", for: gina).organizationSlug == "globex")
        #expect(fixture.ids(try fixture.projects.list(for: gina)) == ["moving"])
        #expect(try fixture.projects.list(for: alice).count == 0)
        #expect(insideTransaction.all == ["true true true"])
    }

    @Test func transferErrorsCarryTheSeedMessages() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        try fixture.create("stay")
        let unknown = apiError { _ = try fixture.projects.transfer("stay", toOrganization: "no-such-org", by: alice) }
        #expect(unknown?.status == 404 && unknown?.detail == "目标组织不存在")
        let same = apiError { _ = try fixture.projects.transfer("stay", toOrganization: "acme", by: alice) }
        #expect(same?.status == 400 && same?.detail == "项目已属于目标组织")
        // A scoped manager token, even one scoped to the project, cannot move it out of the organization.
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["stay"]))
        #expect(status { _ = try fixture.projects.transfer("stay", toOrganization: "globex", by: scoped) } == 403)
        #expect(status { _ = try fixture.projects.transfer("stay", toOrganization: "globex", by: fixture.caller("bob")) } == 200)
    }

    @Test func aFailingInTransactionSubscriberRollsTheTransferBack() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        try fixture.create("atomic")
        struct DevicesRefused: Error {}
        fixture.test.context.bus.subscribe(ProjectTransferred.self, inTransaction: { _, _ in throw DevicesRefused() })
        #expect(throws: DevicesRefused.self) { _ = try fixture.projects.transfer("atomic", toOrganization: "globex", by: alice) }
        #expect(try fixture.projects.project("atomic", for: alice).organizationSlug == "acme")
        #expect(status { _ = try fixture.projects.project("atomic", for: fixture.caller("gina")) } == 404)
        #expect(!fixture.events.all.contains("transferred atomic"))
        let row = try fixture.test.context.db.read { try $0.queryOne("SELECT organization_id FROM projects WHERE project_id = ?", ["atomic"]) }
        #expect(row?.int(0) == (try fixture.auth.organization(slug: "acme"))?.id)
    }
}
