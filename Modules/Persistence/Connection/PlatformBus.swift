import Core

/// The bus of the programs: events are published in a `Database` write transaction, and in-transaction
/// subscribers receive that transaction with its real type.
public typealias PlatformBus = EventBus<Database>
