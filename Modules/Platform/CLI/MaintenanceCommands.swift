import Core
import Persistence

extension Platform {
    /// Every module's invariant violations, read in one transaction.
    public func invariantViolations() throws -> [String] {
        try context.db.read { db in try modules.flatMap { module in try module.invariantViolations(db).map { "\(module.name): \($0)" } } }
    }

    /// The platform-wide maintenance commands: `migrate`, `check`, `backup`, `db copy`, `config keys`.
    public var maintenanceCommands: [any CLICommand] {
        [
            SimpleCommand(["config", "keys"], summary: "Every configuration key: shape, default and what it does (--markdown: the README's table)",
                          usage: "[--markdown | --json]", flags: ["markdown", "json"]) { [self] arguments, output in
                try arguments.expectPositionals(0)
                if arguments.flag("markdown") {
                    output.out(Config.markdownTable(configKeys))
                } else if arguments.flag("json") {
                    output.json(.array(configKeys.map { key in
                        .object(["name": .string(key.name), "shape": .string(key.shape), "default": key.defaultValue.map(JSON.string) ?? .null,
                                 "shown_default": .string(key.shownDefault), "summary": .string(key.summary)])
                    }))
                } else {
                    output.rows(configKeys.map { [$0.name, $0.shape, $0.shownDefault, $0.summary] })
                }
                return 0
            },
            SimpleCommand(["migrate"], summary: "Apply pending migrations of every module") { [self] _, output in
                let applied = try migrate()
                output.out(applied.isEmpty ? "database is up to date" : applied.map { "applied \($0)" }.joined(separator: "\n"))
                return 0
            },
            SimpleCommand(["check"], summary: "Check integrity, foreign keys, migrations and every module's invariants",
                          flags: ["json"]) { [self] arguments, output in
                let problems = try context.db.integrityCheck()
                let pending = try context.db.pendingMigrations(migrations)
                // One snapshot for every module, so a write between two modules' checks cannot look like a violation.
                let violations = pending.isEmpty ? try invariantViolations() : []
                let ok = problems.isEmpty && pending.isEmpty && violations.isEmpty
                if arguments.flag("json") {
                    output.json(.object([
                        "ok": .bool(ok),
                        "integrity": .array(problems.map(JSON.string)),
                        "pending_migrations": .array(pending.map(JSON.string)),
                        "invariants": .array(violations.map(JSON.string)),
                    ]))
                } else {
                    output.out(problems.isEmpty ? "integrity: ok" : "integrity: \(problems.joined(separator: "; "))")
                    output.out(pending.isEmpty ? "migrations: up to date" : "migrations pending: \(pending.joined(separator: ", "))")
                    output.out(violations.isEmpty ? "invariants: ok" : "invariants: \(violations.count) violated\n" + violations.joined(separator: "\n"))
                }
                return ok ? 0 : 1
            },
            SimpleCommand(["backup"], summary: "Write an online, consistent copy of the database to DEST", usage: "DEST") { [self] arguments, output in
                let destination = try arguments.positional(0, "DEST")
                try arguments.expectPositionals(1)
                // DESIGN §3.4 / issue 22: a PostgreSQL database is backed up with its own tools (a usage error, exit 2).
                guard !context.db.isPostgreSQL else { throw UsageError("backup is for SQLite files; back a PostgreSQL database up with pg_dump") }
                try context.db.backup(to: destination)
                output.out("backup written to \(destination)")
                return 0
            },
            databaseCopyCommand,
        ]
    }
}
