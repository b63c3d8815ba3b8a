import Core
import Persistence

/// A domain service that reads the process's database, event bus, clock and logger through the `PlatformContext` it
/// was made with, rather than copying each into a stored property of its own. Every domain service (Auth, Projects,
/// Devices, Factors, Alerts, Exports) conforms; the conformance is visible only inside this package.
///
/// ```swift
/// public final class AlertService: Sendable, PlatformService {
///     package let context: PlatformContext
///     public init(context: PlatformContext) { self.context = context }
///     func touch() throws { try db.write { _ in } }   // `db` is `context.db`
/// }
/// ```
package protocol PlatformService {
    /// The context the composition root made the service with.
    var context: PlatformContext { get }
}

// Inlinable so that each access is compiled into the calling service, specialized for its concrete type: a read of one
// field of its stored context, not an unspecialized cross-module call that copies the whole context every time.
extension PlatformService {
    /// The process's database pool (`context.db`).
    @inlinable package var db: DatabasePool { context.db }
    /// The platform's event bus (`context.bus`).
    @inlinable package var bus: PlatformBus { context.bus }
    /// The wall clock (`context.clock`; a manual one in tests).
    @inlinable package var clock: any WallClock { context.clock }
    /// The process's logger (`context.logger`).
    @inlinable package var logger: Logger { context.logger }
}
