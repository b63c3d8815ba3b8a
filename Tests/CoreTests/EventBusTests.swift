import Core
import Synchronization
import Testing

struct Happened: DomainEvent { let value: Int }

/// A transaction stand-in: collects after-commit actions and runs them on `commit()`.
final class FakeTransaction: TransactionScope {
    var actions: [@Sendable () -> Void] = []
    func onCommit(_ action: @escaping @Sendable () -> Void) { actions.append(action) }
    func commit() { actions.forEach { $0() } }
}

@Suite struct EventBusTests {
    @Test func inTransactionSubscribersRunInsidePublishAndAfterCommitOnesOnlyOnCommit() throws {
        let bus = EventBus<FakeTransaction>()
        let log = Mutex<[String]>([])
        let tx = FakeTransaction()
        let expected = ObjectIdentifier(tx)
        bus.subscribe(Happened.self, inTransaction: { event, received in
            #expect(ObjectIdentifier(received) == expected)
            log.withLock { $0.append("in:\(event.value)") }
        })
        bus.subscribe(Happened.self, afterCommit: { event in
            log.withLock { $0.append("after:\(event.value)") }
        })
        try bus.publish(Happened(value: 1), in: tx)
        #expect(log.withLock { $0 } == ["in:1"])
        tx.commit()
        #expect(log.withLock { $0 } == ["in:1", "after:1"])
    }

    @Test func rolledBackTransactionDeliversNothingAfterCommit() throws {
        let bus = EventBus<FakeTransaction>()
        let count = Mutex(0)
        bus.subscribe(Happened.self, afterCommit: { _ in count.withLock { $0 += 1 } })
        let tx = FakeTransaction()
        try bus.publish(Happened(value: 1), in: tx)
        // Never committed: the action is dropped with the transaction.
        #expect(count.withLock { $0 } == 0)
    }

    @Test func inTransactionFailurePropagatesToThePublisher() {
        struct Veto: Error {}
        let bus = EventBus<FakeTransaction>()
        bus.subscribe(Happened.self, inTransaction: { _, _ in throw Veto() })
        #expect(throws: Veto.self) { try bus.publish(Happened(value: 1), in: FakeTransaction()) }
    }

    @Test func afterCommitFailuresAreReportedNotThrown() throws {
        struct Boom: Error {}
        let reported = Mutex(0)
        let bus = EventBus<FakeTransaction> { _, _ in reported.withLock { $0 += 1 } }
        bus.subscribe(Happened.self, afterCommit: { _ in throw Boom() })
        bus.publishCommitted(Happened(value: 2))
        #expect(reported.withLock { $0 } == 1)
    }

    @Test func asyncSubscribersRunOffThePublisherAndDrain() {
        let bus = EventBus<FakeTransaction>()
        let seen = Mutex<[Int]>([])
        bus.subscribe(Happened.self, async: { event in seen.withLock { $0.append(event.value) } })
        for value in 1...5 { bus.publishCommitted(Happened(value: value)) }
        bus.drainAsync()
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5])
    }

    @Test func subscribersOnlySeeTheirEventType() {
        struct Other: DomainEvent {}
        let bus = EventBus<FakeTransaction>()
        let count = Mutex(0)
        bus.subscribe(Other.self, afterCommit: { _ in count.withLock { $0 += 1 } })
        bus.publishCommitted(Happened(value: 1))
        #expect(count.withLock { $0 } == 0)
    }
}
