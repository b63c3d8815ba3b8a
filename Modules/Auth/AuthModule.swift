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

    public var commands: [any CLICommand] { AuthCommands.all(service) }
}
