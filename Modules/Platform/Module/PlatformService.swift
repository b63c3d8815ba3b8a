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

// Inlinable so that each access can be compiled into the calling service. The optimizer does not always do so (the
// release build still calls these generically from most services), so `PlatformContext` is a class: an unspecialized
// call then costs one reference and one field read, not a copy (six retains and releases) of the whole context —
// which was 0.9 % of the server's samples on the project-detail route before.
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
