import Core
import Foundation
import Platform

/// `admin-cli modules import FILE.json` (DESIGN §6).
enum ModuleCommands {
    static func all(_ factors: FactorService) -> [any CLICommand] {
        [
            SimpleCommand(["modules", "import"], summary: "Import sensor modules into the catalog (a model imported again is replaced)",
                          usage: "FILE.json [--json]", flags: ["json"]) { arguments, output in
                let path = try arguments.positional(0, "FILE.json")
                try arguments.expectPositionals(1)
                guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path)") }
                let document: JSON
                do { document = try JSONParser.parse(Array(data)) } catch {
                    throw APIError.malformedJSON("\(path) is not valid JSON: \(error)")
                }
                let (added, replaced) = try factors.importCatalog(document)
                if arguments.flag("json") {
                    output.json(.object(["added": .int(added), "replaced": .int(replaced)]))
                } else {
                    output.out("imported \(added + replaced) modules (\(added) new, \(replaced) replaced)")
                }
                return 0
            },
            SimpleCommand(["modules", "list"], summary: "List the sensor-module catalog", usage: "[--json]", flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                let modules = try factors.modules()
                if arguments.flag("json") {
                    output.json(.array(modules.map(\.json)))
                } else {
                    output.rows(modules.map { ["\($0.id)", $0.model, $0.name, "\($0.factors.count) factors"] })
                }
                return 0
            },
        ]
    }
}
