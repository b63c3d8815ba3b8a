import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Synchronization
import Testing
import TestSupport

/// Operations that move a device or a project, run against each other many times (a probe found interleavings that
/// left a device of one organization inside another organization's project, or in an organization with no project).
/// After every round the invariants hold: a bound device's organization is its (active) project's organization, and
/// an unbound device belongs to no organization.
@Suite struct MoveInvariantTests {
    static let rounds = 25

    /// Rows that break the invariants (empty when sound).
    static func violations(_ fixture: PlatformFixture) throws -> [String] {
        try fixture.db.read { db in
            let misplaced = try db.query("""
                SELECT d.id FROM devices d LEFT JOIN projects p ON p.pk = d.project_pk
                WHERE d.project_pk IS NOT NULL
                  AND (p.pk IS NULL OR p.deleted_ms IS NOT NULL OR d.organization_id IS NULL OR p.organization_id != d.organization_id)
                """).map { "device \($0.int(0)) outside its project's organization" }
            let orphaned = try db.query("SELECT id FROM devices WHERE project_pk IS NULL AND organization_id IS NOT NULL")
                .map { "device \($0.int(0)) in an organization without a project" }
            return misplaced + orphaned
        }
    }

    /// Runs `first` and `second` at the same moment on two threads; errors are expected (one of them loses).
    static func race(_ first: @escaping @Sendable () throws -> Void, _ second: @escaping @Sendable () throws -> Void) {
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for work in [first, second] {
            done.enter()
            Thread {
                start.wait()
                _ = try? work()
                done.leave()
            }.start()
        }
        start.signal()
        start.signal()
        done.wait()
    }

    @Test func transferAgainstSetProject() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        let alice = try fixture.caller("alice")
        for round in 0..<Self.rounds {
            try fixture.create("ta-\(round)")
            try fixture.create("tb-\(round)")
            let (_, pk) = try fixture.bound(to: "tb-\(round)")
            Self.race({ _ = try fixture.projects.transfer("ta-\(round)", toOrganization: "globex", by: alice) },
                      { _ = try fixture.devices.setProject(projectID: "tb-\(round)", pk: pk, targetProjectID: "ta-\(round)", caller: alice) })
            let problems = try Self.violations(fixture)
            #expect(problems.isEmpty, "round \(round): \(problems)")
        }
        #expect(try fixture.platform.invariantViolations() == [])
    }

    /// `admin-cli check` asks every module for its invariants: a device whose organization disagrees with its project's,
    /// an unbound device left in an organization and a factor of another project are each named with their ids.
    @Test func checkNamesEveryViolationWithItsIds() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body(device.agriID + "-01"))
        let (_, other) = try fixture.bound(to: "beta")
        #expect(try fixture.platform.invariantViolations() == [])
        let beta = try fixture.projects.resolve("beta", for: alice, access: .read)
        try fixture.db.write { tx in
            try tx.execute("UPDATE devices SET organization_id = 999 WHERE id = ?", [pk])
            try tx.execute("UPDATE devices SET project_pk = NULL WHERE id = ?", [other])
            try tx.execute("UPDATE factors SET project_pk = ? WHERE device_pk = ?", [beta.pk, pk])
        }
        let violations = try fixture.platform.invariantViolations()
        #expect(violations.contains { $0.hasPrefix("devices: device \(pk) has organization 999") })
        #expect(violations.contains("devices: device \(other) belongs to an organization but to no project"))
        #expect(violations.contains { $0.hasPrefix("factors: factor") && $0.contains("but its device \(pk) is in") })
    }

    @Test func bindAgainstTransfer() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        let alice = try fixture.caller("alice")
        for round in 0..<Self.rounds {
            try fixture.create("ba-\(round)")
            let device = try fixture.provision(1)[0]
            Self.race({ _ = try fixture.projects.transfer("ba-\(round)", toOrganization: "globex", by: alice) },
                      { _ = try fixture.devices.bind(projectID: "ba-\(round)", deviceID: device.deviceID, safeCode: device.safeCode, caller: alice) })
            let problems = try Self.violations(fixture)
            #expect(problems.isEmpty, "round \(round): \(problems)")
        }
    }

    @Test func trashAgainstSetProject() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        let alice = try fixture.caller("alice")
        for round in 0..<Self.rounds {
            try fixture.create("xa-\(round)")
            try fixture.create("xb-\(round)")
            let (_, pk) = try fixture.bound(to: "xb-\(round)")
            Self.race({ _ = try fixture.projects.delete("xa-\(round)", hard: false, by: alice) },
                      { _ = try fixture.devices.setProject(projectID: "xb-\(round)", pk: pk, targetProjectID: "xa-\(round)", caller: alice) })
            let problems = try Self.violations(fixture)
            #expect(problems.isEmpty, "round \(round): \(problems)")
        }
    }

    @Test func unbindAndPurgeAgainstTransfer() throws {
        let fixture = try PlatformFixture(seedProjects: false)
        let alice = try fixture.caller("alice")
        for round in 0..<Self.rounds {
            try fixture.create("ua-\(round)")
            let (_, pk) = try fixture.bound(to: "ua-\(round)")
            Self.race({ _ = try fixture.projects.transfer("ua-\(round)", toOrganization: "globex", by: alice) },
                      { try fixture.devices.unbind(projectID: "ua-\(round)", pk: pk, caller: alice) })
            try fixture.create("pa-\(round)")
            _ = try fixture.bound(to: "pa-\(round)")
            Self.race({ _ = try fixture.projects.delete("pa-\(round)", hard: true, by: alice) },
                      { _ = try fixture.projects.transfer("pa-\(round)", toOrganization: "globex", by: alice) })
            let problems = try Self.violations(fixture)
            #expect(problems.isEmpty, "round \(round): \(problems)")
        }
    }
}
