import Synchronization

/// A fact a module publishes for others: `ProjectCreated`, `DeviceBound`, ...
public protocol DomainEvent: Sendable {}

/// The unit of work an event is published in. Persistence's write transaction conforms, so an
/// in-transaction subscriber can write in the same transaction and after-commit work runs only on commit.
public protocol TransactionScope: AnyObject {
    /// Runs `action` after the transaction commits; dropped if it rolls back.
    func onCommit(_ action: @escaping @Sendable () -> Void)
}

/// The in-process, typed event bus, generic over the transaction type events are published in
/// (`EventBus<Database>` in the programs, see Persistence's `PlatformBus`).
///
/// Three subscription forms, one per delivery:
/// - `subscribe(_:inTransaction:)`: runs synchronously inside `publish(_:in:)` and receives the publisher's
///   transaction with its real type. A throw propagates to the publisher and rolls the whole transaction back.
///   Use it when the subscriber's rows must change atomically with the publisher's (a project transfer
///   moving its devices).
/// - `subscribe(_:afterCommit:)`: runs synchronously on the committing thread right after COMMIT, in
///   subscription order; errors are logged and swallowed (the fact is already durable). Cache invalidation.
/// - `subscribe(_:async:)`: runs on a background queue after COMMIT; for slow reactions that must not delay the caller.
///
/// Events published with `publishCommitted(_:)` describe facts that are already durable (e.g. a group
/// commit of telemetry): only after-commit and async subscribers see them.
/// Cross-process facts never travel through the bus (they go through tables).
public final class EventBus<Transaction: TransactionScope>: Sendable {
    private enum Subscriber: Sendable {
        case inTransaction(@Sendable (any DomainEvent, Transaction) throws -> Void)
        case afterCommit(@Sendable (any DomainEvent) throws -> Void)
        case async(@Sendable (any DomainEvent) throws -> Void)
    }

    private let subscribers = Mutex<[ObjectIdentifier: [Subscriber]]>([:])
    private let onError: @Sendable (any Error, String) -> Void
    private let asyncQueue: DispatchQueueRunner

    public init(onError: @escaping @Sendable (any Error, String) -> Void = { _, _ in }) {
        self.onError = onError
        self.asyncQueue = DispatchQueueRunner()
    }

    /// Runs `handler` inside the publisher's transaction; a throw rolls the publisher back.
    public func subscribe<E: DomainEvent>(_ type: E.Type, inTransaction handler: @escaping @Sendable (E, Transaction) throws -> Void) {
        add(type, .inTransaction { event, tx in try handler(Self.cast(event), tx) })
    }

    /// Runs `handler` right after the publisher's transaction commits (or at `publishCommitted`).
    public func subscribe<E: DomainEvent>(_ type: E.Type, afterCommit handler: @escaping @Sendable (E) throws -> Void) {
        add(type, .afterCommit { event in try handler(Self.cast(event)) })
    }

    /// Runs `handler` on a background queue after commit.
    public func subscribe<E: DomainEvent>(_ type: E.Type, async handler: @escaping @Sendable (E) throws -> Void) {
        add(type, .async { event in try handler(Self.cast(event)) })
    }

    private func add<E: DomainEvent>(_ type: E.Type, _ subscriber: Subscriber) {
        subscribers.withLock { $0[ObjectIdentifier(type), default: []].append(subscriber) }
    }

    /// Subscribers are filed under `ObjectIdentifier(E.self)`, so the cast cannot fail; a failure is a bug, not a skip.
    private static func cast<E: DomainEvent>(_ event: any DomainEvent) -> E {
        guard let typed = event as? E else { preconditionFailure("event \(type(of: event)) filed under \(E.self)") }
        return typed
    }

    /// Publishes `event` inside the transaction `tx`.
    public func publish<E: DomainEvent>(_ event: E, in tx: Transaction) throws {
        let list = subscribers.withLock { $0[ObjectIdentifier(E.self)] ?? [] }
        for subscriber in list {
            switch subscriber {
            case .inTransaction(let handler):
                try handler(event, tx)
            case .afterCommit(let handler):
                tx.onCommit { [onError] in
                    do { try handler(event) } catch { onError(error, String(describing: E.self)) }
                }
            case .async(let handler):
                tx.onCommit { [asyncQueue, onError] in
                    asyncQueue.run {
                        do { try handler(event) } catch { onError(error, String(describing: E.self)) }
                    }
                }
            }
        }
    }

    /// Publishes an event whose facts are already committed (in-transaction subscribers do not see it).
    public func publishCommitted<E: DomainEvent>(_ event: E) {
        let list = subscribers.withLock { $0[ObjectIdentifier(E.self)] ?? [] }
        for subscriber in list {
            switch subscriber {
            case .inTransaction:
                continue
            case .afterCommit(let handler):
                do { try handler(event) } catch { onError(error, String(describing: E.self)) }
            case .async(let handler):
                asyncQueue.run { [onError] in
                    do { try handler(event) } catch { onError(error, String(describing: E.self)) }
                }
            }
        }
    }

    /// Blocks until every async delivery queued so far has run (tests, shutdown).
    public func drainAsync() { asyncQueue.drain() }
}
