import Core
import Foundation

/// The shape shared by `admin-cli` and `scheduler`: global options → open the database → compose the
/// modules → check the configuration → migrate (unless the command manages the schema itself) → run one
/// command → exit 0 ok, 1 failure, 2 usage. `--help` lists the commands without creating a database file.
///
/// ```swift
/// CommandProgram.main("scheduler", modules: { Composition(context: $0).modules }, commands: \.schedulerCommands)
/// ```
public enum CommandProgram {
    /// Commands whose first word is in `withoutMigration` manage the schema themselves; those in `withoutDatabase` open
    /// the databases they name (`db copy --from --to`), so the `--db` database is neither created nor opened for them.
    public static func main(_ program: String, modules: (PlatformContext) -> [any PlatformModule],
                            commands: (Platform) -> [any CLICommand], withoutMigration: Set<String> = [],
                            withoutDatabase: Set<String> = []) -> Never {
        do {
            var options = try ProgramOptions.parse(Array(CommandLine.arguments.dropFirst()), passUnknown: true)
            let words = options.rest.filter { !$0.hasPrefix("-") }
            let wantsHelp = options.help || words.isEmpty
            if wantsHelp || words.first.map(withoutDatabase.contains) == true {
                options.config["db.path"] = ":memory:"
                options.config["db.url"] = ""
            }
            let context = try PlatformContext.open(config: options.config)
            let platform = Platform(context: context, modules: modules(context))
            try platform.validateConfiguration()
            let runner = CommandRunner(program: program, commands: commands(platform))
            if !wantsHelp, let first = words.first, !withoutMigration.contains(first), !withoutDatabase.contains(first), runner.select(words) != nil {
                try platform.migrate()
            }
            let code = runner.run(options.rest.filter { $0 != "--help" && $0 != "-h" }, help: options.help)
            context.db.close()
            exit(code)
        } catch let error as UsageError {
            FileHandle.standardError.write(Data("\(program): \(error.message)\n".utf8))
            exit(2)
        } catch {
            FileHandle.standardError.write(Data("\(program): \(error)\n".utf8))
            exit(1)
        }
    }
}
