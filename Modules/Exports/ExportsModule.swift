import Auth
import Core
import Devices
import Foundation
import Factors
import Persistence
import Platform
import Projects

/// The Exports plugin (DESIGN §5.5): data-download tasks and schedules, pre-signed downloads, and the scheduler job
/// that writes the files.
public final class ExportsModule: PlatformModule {
    public let name = "exports"
    public let service: ExportService
    public let runner: ExportRunner
    let auth: AuthService

    public init(context: PlatformContext, auth: AuthService, projects: ProjectService, devices: DeviceService, factors: FactorService) {
        self.auth = auth
        service = ExportService(context: context, projects: projects, devices: devices, factors: factors)
        runner = ExportRunner(service: service)
    }

    public var migrations: [Migration] { ExportMigrations.all }
    public var copiedTables: [String] { ExportMigrations.tables }

    public var configKeys: [ConfigKey] { ExportSettings.keys }

    public func subscribe(to bus: PlatformBus) {
        let service = service
        bus.subscribe(ProjectTransferred.self, inTransaction: { event, tx in
            try ExportTaskStore(db: tx).moveProject(projectPK: event.project.pk, toOrganizationID: event.toOrganizationID)
        })
        bus.subscribe(ProjectPurged.self, inTransaction: { event, tx in
            let paths = try ExportTaskStore(db: tx).deleteProject(projectPK: event.project.pk)
            tx.onCommit { for path in paths { service.removeFile(path) } }
        })
    }

    /// One job every 2 s: expire, schedules, then every claimable task. Its job lease is the task lease (both renewed
    /// while it runs), so a killed scheduler's pass is taken over as soon as its tasks' leases are. The scheduler runs it
    /// on a worker of its own: a long export never delays another job (notification delivery).
    public var jobs: [Job] {
        let runner = runner
        return [Job(name: "exports.run", interval: 2, lease: Double(service.settings.lease)) { try runner.runDue() }]
    }

    public var commands: [any CLICommand] { ExportCommands.all(service) }

    /// Running tasks hold a lease, succeeded ones a size, an expiry and their file under `exports.dir`.
    public func invariantViolations(_ db: Database) throws -> [String] {
        let store = ExportTaskStore(db: db)
        var violations = try store.lifecycleViolations()
        for (id, path) in try store.succeededFiles() where access(service.absolutePath(path), F_OK) != 0 {
            violations.append("export task \(id) succeeded but its file \(path) is missing")
        }
        return violations
    }
}
