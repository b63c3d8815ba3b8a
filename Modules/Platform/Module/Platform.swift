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

    /// The kernel's own configuration keys (`db.*`, `server.*`, `log.*`, `debug.*`): `KernelKeys.all`.
    public static var kernelConfigKeys: [ConfigKey] { KernelKeys.all }

    /// Every key the composed programs read, kernel first, then each module's in module order.
    public var configKeys: [ConfigKey] { Self.kernelConfigKeys + modules.flatMap(\.configKeys) }

    /// Throws a usage error naming every configuration value that does not have its declared shape.
    public func validateConfiguration() throws {
        let problems = context.config.problems(configKeys)
        if !problems.isEmpty { throw UsageError("invalid configuration: " + problems.joined(separator: "; ")) }
    }

    /// The kernel's migrations (the scheduler's table), then every module's, in module order.
    public var migrations: [Migration] { JobScheduler.migrations + RateLimitStore.migrations + modules.flatMap(\.migrations) }

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
