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

    /// The kernel's own configuration keys (`db.*`, `server.*`, `log.*`, `debug.*`).
    public static let kernelConfigKeys: [ConfigKey] = [
        ConfigKey("db.readers", .integer(1...256)), ConfigKey("db.synchronous", .choice(["NORMAL", "FULL"])),
        ConfigKey("db.busy_timeout_ms", .integer(0...600_000)), ConfigKey("db.checkpoint_frames", .integer(0...1_000_000)),
        ConfigKey("server.port", .integer(0...65_535)), ConfigKey("server.workers", .integer(1...1024)), ConfigKey("server.event_loops", .integer(0...256)),
        ConfigKey("server.max_body_bytes", .integer(1...1_073_741_824)), ConfigKey("server.max_header_bytes", .integer(512...1_048_576)),
        ConfigKey("server.header_timeout", .duration), ConfigKey("server.idle_timeout", .duration), ConfigKey("server.response_timeout", .duration),
        ConfigKey("server.body_timeout", .duration),
        ConfigKey("server.max_connections", .integer(1...1_000_000)),
        ConfigKey("server.max_connections_per_address", .integer(1...1_000_000)), ConfigKey("server.shutdown_grace", .duration),
        ConfigKey("server.release_startup_memory", .boolean),
        ConfigKey("server.demo", .boolean), ConfigKey("log.level", .choice(["debug", "info", "warning", "error"])),
        ConfigKey("log.access", .boolean), ConfigKey("debug.routes", .boolean),
        ConfigKey("server.tls.certificate", .text), ConfigKey("server.tls.private_key", .text),
    ]

    /// Throws a usage error naming every configuration value that does not have its declared shape.
    public func validateConfiguration() throws {
        let problems = context.config.problems(Self.kernelConfigKeys + modules.flatMap(\.configKeys))
        if !problems.isEmpty { throw UsageError("invalid configuration: " + problems.joined(separator: "; ")) }
    }

    /// The kernel's migrations (the scheduler's table), then every module's, in module order.
    public var migrations: [Migration] { JobScheduler.migrations + modules.flatMap(\.migrations) }

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
