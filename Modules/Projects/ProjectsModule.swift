import Auth
import Core
import Persistence
import Platform

/// The Projects plugin: projects of an organization, trash/restore/purge, transfer.
///
/// ```swift
/// let projects = ProjectsModule(context: context, auth: authModule.service)
/// projects.service.setDeviceCounter(devices.service)   // the app wires the counts
/// ```
public final class ProjectsModule: PlatformModule {
    public let name = "projects"
    public let service: ProjectService
    let auth: AuthService

    public init(context: PlatformContext, auth: AuthService) {
        self.auth = auth
        service = ProjectService(context: context, auth: auth)
    }

    public var migrations: [Migration] { ProjectMigrations.all }
    public var copiedTables: [String] { ProjectMigrations.tables }

    public var configKeys: [ConfigKey] { [ProjectService.cacheTTLKey, ProjectService.trashRetentionKey] }

    public var commands: [any CLICommand] { ProjectCommands.all(service) }

    /// The daily trash purge (retention `projects.trash_retention`, default 30 days).
    public var jobs: [Job] {
        let service = service
        return [Job(name: "projects.purge-trash", interval: 86_400) { _ = try service.purgeTrash(olderThan: service.trashRetention) }]
    }
}
