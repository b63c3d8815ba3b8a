import Synchronization

/// A fact a module publishes for others: `ProjectCreated`, `DeviceBound`, ...
public protocol DomainEvent: Sendable {}

/// The unit of work an event is published in. Persistence's write transaction conforms, so an
/// in-transaction subscriber can write in the same transaction and after-commit work runs only on commit.
public protocol TransactionScope: AnyObject {
    /// Runs `action` after the transaction commits; dropped if it rolls back.
    func onCommit(_ action: @escaping @Sendable () -> Void)
}

/// The in-process, typed event bus.
///
/// Delivery semantics, per subscription:
/// - `inTransaction`: runs synchronously inside `publish(_:in:)`, in the publisher's transaction. A throw
///   propagates to the publisher and rolls the whole transaction back. Use it when the subscriber's
///   rows must change atomically with the publisher's (a project transfer moving its devices).
/// - `afterCommit`: runs synchronously on the committing thread right after COMMIT, in subscription
///   order; errors are logged and swallowed (the fact is already durable). Cache invalidation lives here.
/// - `async`: runs on a background queue after COMMIT; for slow reactions that must not delay the caller.
///
/// Events published with `publishCommitted(_:)` describe facts that are already durable (e.g. a group
/// commit of telemetry): only `afterCommit` and `async` subscribers see them.
/// Cross-process facts never travel through the bus (they go through tables).
public final class EventBus: Sendable {
    public enum Delivery: Sendable { case inTransaction, afterCommit, async }

    private struct Subscriber: Sendable {
        let delivery: Delivery
        let handler: @Sendable (any DomainEvent, (any TransactionScope)?) throws -> Void
    }

    private let subscribers = Mutex<[ObjectIdentifier: [Subscriber]]>([:])
    private let onError: @Sendable (any Error, String) -> Void
    private let asyncQueue: DispatchQueueRunner

    public init(onError: @escaping @Sendable (any Error, String) -> Void = { _, _ in }) {
        self.onError = onError
        self.asyncQueue = DispatchQueueRunner()
    }

    /// Subscribes to events of type `E`.
    /// `handler` receives the transaction only for `.inTransaction` delivery; it is `nil` otherwise.
    public func subscribe<E: DomainEvent>(
        _ type: E.Type, delivery: Delivery = .afterCommit,
        _ handler: @escaping @Sendable (E, (any TransactionScope)?) throws -> Void
    ) {
        let subscriber = Subscriber(delivery: delivery) { event, scope in
            if let event = event as? E { try handler(event, scope) }
        }
        subscribers.withLock { $0[ObjectIdentifier(type), default: []].append(subscriber) }
    }

    /// Publishes `event` inside the transaction `scope`.
    public func publish<E: DomainEvent>(_ event: E, in scope: any TransactionScope) throws {
        let list = subscribers.withLock { $0[ObjectIdentifier(E.self)] ?? [] }
        for subscriber in list {
            switch subscriber.delivery {
            case .inTransaction:
                try subscriber.handler(event, scope)
            case .afterCommit:
                scope.onCommit { [onError] in
                    do { try subscriber.handler(event, nil) } catch { onError(error, String(describing: E.self)) }
                }
            case .async:
                scope.onCommit { [asyncQueue, onError] in
                    asyncQueue.run {
                        do { try subscriber.handler(event, nil) } catch { onError(error, String(describing: E.self)) }
                    }
                }
            }
        }
    }

    /// Publishes an event whose facts are already committed.
    public func publishCommitted<E: DomainEvent>(_ event: E) {
        let list = subscribers.withLock { $0[ObjectIdentifier(E.self)] ?? [] }
        for subscriber in list {
            switch subscriber.delivery {
            case .inTransaction:
                continue
            case .afterCommit:
                do { try subscriber.handler(event, nil) } catch { onError(error, String(describing: E.self)) }
            case .async:
                asyncQueue.run { [onError] in
                    do { try subscriber.handler(event, nil) } catch { onError(error, String(describing: E.self)) }
                }
            }
        }
    }

    /// Blocks until every async delivery queued so far has run (tests, shutdown).
    public func drainAsync() { asyncQueue.drain() }
}
