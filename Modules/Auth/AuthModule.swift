import Core
import Persistence
import Platform

/// The Auth plugin: organizations, users, tokens and the one scope checker (`service.authenticate`).
public final class AuthModule: PlatformModule {
    public let name = "auth"
    public let service: AuthService

    public init(context: PlatformContext) {
        service = AuthService(context: context)
    }

    public var migrations: [Migration] { AuthMigrations.all }

    public var configKeys: [ConfigKey] {
        [ConfigKey("auth.pbkdf2_iterations", .integer(1...10_000_000)), ConfigKey("auth.login_token_ttl", .duration),
         ConfigKey("auth.login_max_failures", .integer(1...1_000_000)), ConfigKey("auth.login_window", .duration),
         ConfigKey("auth.token_cache_ttl", .duration)]
    }

    public var commands: [any CLICommand] { AuthCommands.all(service) }
}
