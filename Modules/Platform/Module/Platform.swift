import Core
import Persistence

/// Composes modules over one context: runs their migrations, wires their subscriptions, collects
/// their routes, jobs and commands. Adding a module to an app is one line in its module list.
public final class Platform: Sendable {
    public let context: PlatformContext
    public let modules: [any PlatformModule]

    public init(context: PlatformContext, modules: [any PlatformModule]) {
        self.context = context
        self.modules = modules
        for module in modules { module.subscribe(to: context.bus) }
    }

    /// Every module's migrations, in module order.
    public var migrations: [Migration] { modules.flatMap(\.migrations) }

    /// Applies pending migrations; returns the names applied.
    @discardableResult
    public func migrate() throws -> [String] { try context.db.migrate(migrations) }

    public var commands: [any CLICommand] { modules.flatMap(\.commands) }
    public var jobs: [Job] { modules.flatMap(\.jobs) }

    /// Calls every module's `shutdown()` (in reverse order), for graceful exits.
    public func shutdown() {
        for module in modules.reversed() { module.shutdown() }
    }
}
