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
        trustedProxies = Set(context.config.string(AuthKeys.trustedProxies).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    public var migrations: [Migration] { AuthMigrations.all }
    public var copiedTables: [String] { AuthMigrations.tables }

    public var configKeys: [ConfigKey] { AuthKeys.all }

    public var commands: [any CLICommand] { AuthCommands.all(service) }
}
