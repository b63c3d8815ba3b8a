// admin-cli: parse global options → open the database → compose modules → run one maintenance command.
import Composition
import Core
import Foundation
import Platform

do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    var options = try ProgramOptions.parse(arguments, passUnknown: true)
    let words = options.rest.filter { !$0.hasPrefix("-") }
    let wantsHelp = options.help || words.isEmpty
    // Help needs the command list but must not create a database file.
    if wantsHelp { options.config["db.path"] = ":memory:" }
    let context = try PlatformContext.open(config: options.config)
    let platform = Platform(context: context, modules: Composition(context: context).modules)
    try platform.validateConfiguration()
    let runner = CommandRunner(program: "admin-cli", commands: platform.maintenanceCommands + platform.commands)
    // Every command but the ones that inspect or apply migrations themselves works on an up-to-date schema.
    if !wantsHelp, let first = words.first, !["check", "migrate", "backup"].contains(first), runner.select(words) != nil {
        try platform.migrate()
    }
    let code = runner.run(options.rest.filter { $0 != "--help" && $0 != "-h" }, help: options.help)
    context.db.close()
    exit(code)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("admin-cli: \(error.message)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("admin-cli: \(error)\n".utf8))
    exit(1)
}
