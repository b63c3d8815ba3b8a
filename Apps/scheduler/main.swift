// scheduler: parse global options → open the database → compose modules → migrate → run jobs (run | once | status).
import Composition
import Core
import Foundation
import Platform

do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    var options = try ProgramOptions.parse(arguments, passUnknown: true)
    let words = options.rest.filter { !$0.hasPrefix("-") }
    let wantsHelp = options.help || words.isEmpty
    if wantsHelp { options.config["db.path"] = ":memory:" }   // help never creates a database file
    let context = try PlatformContext.open(config: options.config)
    let platform = Platform(context: context, modules: Composition(context: context).modules)
    try platform.validateConfiguration()
    let runner = CommandRunner(program: "scheduler", commands: platform.schedulerCommands)
    if !wantsHelp, runner.select(words) != nil { try platform.migrate() }
    let code = runner.run(options.rest.filter { $0 != "--help" && $0 != "-h" }, help: options.help)
    context.db.close()
    exit(code)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("scheduler: \(error.message)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("scheduler: \(error)\n".utf8))
    exit(1)
}
