import Core
import Platform

/// `admin-cli` commands of the Exports module: `exports list` and `exports cancel ID`.
enum ExportCommands {
    static func all(_ exports: ExportService) -> [any CLICommand] {
        [
            SimpleCommand(["exports", "list"], summary: "List data-download tasks of every project (newest first)",
                          usage: "[--status pending|running|succeeded|failed|cancelled|expired] [--limit 100] [--json]",
                          options: ["status", "limit"], flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                var status: ExportTask.Status?
                if let text = arguments.option("status") {
                    guard let value = ExportTask.Status(rawValue: text) else { throw UsageError("--status takes one of pending, running, "
                        + "succeeded, failed, cancelled, expired") }
                    status = value
                }
                var limit = 100
                if let text = arguments.option("limit") {
                    guard let value = Int(text), (1...100_000).contains(value) else { throw UsageError("--limit takes 1..100000") }
                    limit = value
                }
                let tasks = try exports.allTasks(status: status, limit: limit)
                if arguments.flag("json") {
                    output.json(.array(tasks.map { task in
                        .object(["id": .int64(task.id), "project_pk": .int64(task.projectPK), "name": .string(task.name),
                                 "format": .string(task.format.rawValue), "status": .string(task.status.rawValue), "progress": .int64(task.progress),
                                 "row_count": .int64(task.rowCount), "attempts": .int64(task.attempts), "file_path": .string(task.filePath),
                                 "error": .optional(task.error),
                                 "create_time": .string(task.createTime)])
                    }))
                } else {
                    output.rows(tasks.map { task in
                        ["\(task.id)", task.status.rawValue, "\(task.progress)%", "\(task.rowCount) rows", task.format.rawValue, task.name]
                            + (task.error.map { ["error=" + $0] } ?? [])
                    })
                }
                return 0
            },
            SimpleCommand(["exports", "cancel"], summary: "Cancel a pending or running data-download task", usage: "ID") { arguments, output in
                try arguments.expectPositionals(1)
                guard let id = Int64(try arguments.positional(0, "ID")), id > 0 else { throw UsageError("ID must be a task id") }
                let task = try exports.cancel(id: id)
                output.out("task \(task.id) \(task.status.rawValue)")
                return 0
            },
        ]
    }
}
