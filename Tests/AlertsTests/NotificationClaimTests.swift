@testable import Alerts
import Core
import DomainTestSupport
import Foundation
import Persistence
import Synchronization
import Testing
import TestSupport

/// The outbox's claims on PostgreSQL whatever `IOT_TEST_DB` says: two claimers with pools of their own (two
/// processes) race over the same messages for many rounds and never hold one twice; a message whose holder stopped
/// renewing its lease is taken over once the lease ran out, and the old holder's outcome is then refused.
@Suite(.serialized) struct NotificationClaimTests {
    static func postgresFixture(alerts: Int) throws -> (AlertsFixture, [DatabasePool]) {
        let url = try TestDatabase.postgresLocation()
        let fixture = try AlertsFixture(config: ["db.url": url])
        try NotificationDispatcherTests.receiver(fixture, .email, "a@example.com")
        try NotificationDispatcherTests.receiver(fixture, .sms, "+8613800000001")
        try NotificationDispatcherTests.openAlerts(fixture, alerts)
        let pools = try (0..<2).map { _ in try DatabasePool.open(location: url, poolSize: 2) }
        return (fixture, pools)
    }

    @Test func twoClaimersNeverHoldOneMessageTwice() throws {
        let (fixture, pools) = try Self.postgresFixture(alerts: 12)
        defer { pools.forEach { $0.close() } }
        let ids = try fixture.notifications().map(\.id)
        #expect(ids.count == 24)
        let now = fixture.clock.unixSeconds() + 1
        for round in 0..<30 {
            try fixture.db.write { try $0.execute("UPDATE alert_notifications SET lease_owner = NULL, lease_until_s = NULL") }
            let (first, second, failures) = ClaimRace.run { index in
                try pools[index].write { tx in
                    try NotificationStore(db: tx).claim(owner: "claimer-\(index)", now: now, leaseUntil: now + 30, limit: 3) { _, _, _ in true }
                }.map(\.0.id)
            }
            #expect(failures.isEmpty, "round \(round)")
            #expect(Set(first).isDisjoint(with: second), "round \(round): both claimed \(Set(first).intersection(second).sorted())")
            #expect((first + second).sorted() == ids.sorted(), "round \(round): \(first) \(second)")
        }
    }

    @Test func aMessageWhoseHolderStoppedRenewingIsTakenOverAfterItsLease() throws {
        let (fixture, pools) = try Self.postgresFixture(alerts: 1)
        defer { pools.forEach { $0.close() } }
        let start = fixture.clock.unixSeconds() + 1
        func claim(_ index: Int, at now: Int64) throws -> [Int64] {
            try pools[index].write { tx in
                try NotificationStore(db: tx).claim(owner: "claimer-\(index)", now: now, leaseUntil: now + 30, limit: 1) { _, _, _ in true }
            }.map(\.0.id)
        }
        func renew(_ index: Int, _ ids: [Int64], at now: Int64) throws -> Int {
            try pools[index].write { try NotificationStore(db: $0).renew(ids: ids, owner: "claimer-\(index)", leaseUntil: now + 30) }
        }
        let held = try claim(0, at: start)
        #expect(held.count == 1)
        let other = try claim(1, at: start)
        #expect(other.count == 1 && other != held)   // the second receiver's message; the first is held
        #expect(try claim(1, at: start + 30).isEmpty)
        // Both renewed at +20 (deliveries in flight): still held at +31, when the first leases alone would have run out.
        #expect(try renew(0, held, at: start + 20) == 1)
        #expect(try renew(1, other, at: start + 20) == 1)
        #expect(try claim(1, at: start + 31).isEmpty)
        // The first holder stops renewing (killed mid-send): its message is taken once the renewed lease ran out.
        #expect(try renew(1, other, at: start + 45) == 1)
        #expect(try claim(1, at: start + 51) == held)
        // The old holder's late outcome changes nothing: the message is the new holder's.
        let recorded = try pools[0].write { try NotificationStore(db: $0).finish(id: held[0], owner: "claimer-0", status: .sent, attempts: 1,
                                                                                 lastError: nil, nextAttempt: start + 52, sentAt: start + 52) }
        #expect(recorded == false)
        #expect(try renew(0, held, at: start + 52) == 0)
    }
}
