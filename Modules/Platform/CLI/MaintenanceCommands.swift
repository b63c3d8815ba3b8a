import Core
import Persistence

extension Platform {
    /// The platform-wide maintenance commands: `migrate`, `check`, `backup`.
    public var maintenanceCommands: [any CLICommand] {
        [
            SimpleCommand(["migrate"], summary: "Apply pending migrations of every module") { [self] _, output in
                let applied = try migrate()
                output.out(applied.isEmpty ? "database is up to date" : applied.map { "applied \($0)" }.joined(separator: "\n"))
                return 0
            },
            SimpleCommand(["check"], summary: "Check database integrity, foreign keys and migrations", flags: ["json"]) { [self] arguments, output in
                let problems = try context.db.integrityCheck()
                let pending = try context.db.pendingMigrations(migrations)
                if arguments.flag("json") {
                    output.json(.object([
                        "ok": .bool(problems.isEmpty && pending.isEmpty),
                        "integrity": .array(problems.map(JSON.string)),
                        "pending_migrations": .array(pending.map(JSON.string)),
                    ]))
                } else {
                    output.out(problems.isEmpty ? "integrity: ok" : "integrity: \(problems.joined(separator: "; "))")
                    output.out(pending.isEmpty ? "migrations: up to date" : "migrations pending: \(pending.joined(separator: ", "))")
                }
                return problems.isEmpty && pending.isEmpty ? 0 : 1
            },
            SimpleCommand(["backup"], summary: "Write an online, consistent copy of the database to DEST", usage: "DEST") { [self] arguments, output in
                let destination = try arguments.positional(0, "DEST")
                try arguments.expectPositionals(1)
                try context.db.backup(to: destination)
                output.out("backup written to \(destination)")
                return 0
            },
        ]
    }
}
