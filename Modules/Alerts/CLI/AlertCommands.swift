import Core
import Platform

/// `admin-cli` commands of the Alerts module: `alerts list` (active alerts), `alerts deliver` (one delivery pass now).
enum AlertCommands {
    static func all(_ alerts: AlertService, _ dispatcher: NotificationDispatcher) -> [any CLICommand] {
        [
            SimpleCommand(["alerts", "list"], summary: "List active alerts of every project (newest first)", usage: "[--limit 100] [--json]",
                          options: ["limit"], flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                var limit = 100
                if let text = arguments.option("limit") {
                    guard let value = Int(text), (1...100_000).contains(value) else { throw UsageError("--limit takes 1..100000") }
                    limit = value
                }
                let items = try alerts.activeItems(limit: limit)
                if arguments.flag("json") {
                    output.json(.array(items.map { item in
                        .object(["id": .int64(item.id), "project_pk": .int64(item.projectPK), "device_id": .string(item.deviceID),
                                 "the_type": .string(item.theType), "description": .string(item.description), "created_at": .string(item.createdAt)])
                    }))
                } else if !items.isEmpty {
                    output.rows(items.map { ["\($0.id)", $0.theType, $0.deviceID, $0.createdAt, $0.description] })
                }
                return 0
            },
            SimpleCommand(["alerts", "deliver"], summary: "Deliver due notifications now (what the scheduler does every 5 s)",
                          usage: "", options: [], flags: []) { arguments, output in
                try arguments.expectPositionals(0)
                let count = try dispatcher.deliverDue()
                output.out("attempted \(count) notification\(count == 1 ? "" : "s")")
                return 0
            },
        ]
    }
}
