import Core
import Platform

/// `admin-cli` commands of the Projects module: `projects list`, `projects purge-trash`.
enum ProjectCommands {
    static func all(_ projects: ProjectService) -> [any CLICommand] {
        [
            SimpleCommand(["projects", "list"], summary: "List an organization's projects (--trash: its trashed ones)",
                          usage: "--org SLUG [--trash] [--json]", options: ["org"], flags: ["json", "trash"]) { arguments, output in
                try arguments.expectPositionals(0)
                let views = try projects.projects(organizationSlug: arguments.require("org"), trashed: arguments.flag("trash"))
                if arguments.flag("json") {
                    output.json(.array(views.map(\.json)))
                } else {
                    output.rows(views.map { view in
                        let project = view.project
                        return [project.projectID, project.name, project.favorite ? "favorite" : "-",
                                "devices=\(view.counts.total)", "updated \(ProjectView.time(project.updatedAt))"]
                    })
                }
                return 0
            },
            SimpleCommand(["projects", "purge-trash"], summary: "Delete for good the projects trashed longer ago than the retention",
                          usage: "[--older-than 30d]", options: ["older-than"]) { arguments, output in
                try arguments.expectPositionals(0)
                var seconds = projects.trashRetention
                if let text = arguments.option("older-than") {
                    guard let value = DurationText.seconds(text) else { throw UsageError("--older-than takes a duration such as 30d") }
                    seconds = value
                }
                let count = try projects.purgeTrash(olderThan: seconds)
                output.out("purged \(count) project\(count == 1 ? "" : "s")")
                return 0
            },
        ]
    }
}
