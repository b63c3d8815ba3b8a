import Core
import Persistence
import Platform

/// The Auth plugin: organizations, users, tokens and the one scope checker (`service.authenticate`).
public final class AuthModule: PlatformModule {
    public let name = "auth"
    public let service: AuthService
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`, comma-separated; none by default).
    let trustedProxies: Set<String>

    public init(context: PlatformContext) {
        service = AuthService(context: context)
        trustedProxies = Set(context.config.string("server.trusted_proxies", default: "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    public var migrations: [Migration] { AuthMigrations.all }

    public var configKeys: [ConfigKey] {
        [ConfigKey("auth.pbkdf2_iterations", .integer(1...10_000_000)), ConfigKey("auth.login_token_ttl", .duration),
         ConfigKey("auth.login_max_failures", .integer(1...1_000_000)), ConfigKey("auth.login_window", .duration),
         ConfigKey("auth.login_max_failures_per_address", .integer(1...1_000_000)),
         ConfigKey("auth.access_token_ttl", .duration), ConfigKey("auth.refresh_token_ttl", .duration),
         ConfigKey("auth.token_cache_ttl", .duration)]
    }

    public var commands: [any CLICommand] { AuthCommands.all(service) }
}
