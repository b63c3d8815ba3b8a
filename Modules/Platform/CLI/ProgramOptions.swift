import Core
import Foundation
import Persistence

/// The options every program takes before its subcommand (DESIGN §6): `--db PATH|URL`, `--config FILE`,
/// `--help`. Flags beat the environment, the environment beats the file.
public struct ProgramOptions: Sendable {
    public var config: Config
    public var help = false
    /// Arguments left after the global options (the subcommand and its own arguments).
    public var rest: [String] = []

    /// Extracts the global options (`--db`, `--config`, `--help`, and per-program ones such as `--port`, given as
    /// flag → config key in `extra`/`booleans`) from anywhere in `arguments`. With `passUnknown`, other
    /// arguments stay in `rest` for the subcommand; without it, an unknown option is a usage error.
    public static func parse(_ arguments: [String], extra: [String: String] = [:], booleans: [String: String] = [:],
                             passUnknown: Bool = false,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ProgramOptions {
        var overrides: [String: String] = [:]
        var configPath: String?
        var help = false
        var rest: [String] = []
        var index = 0
        var valueFlags = extra
        valueFlags["db"] = "db.path"
        valueFlags["config"] = ""
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" {
                help = true
                if passUnknown { rest.append(argument) }
                continue
            }
            guard argument.hasPrefix("--") else {
                rest.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if let key = booleans[name], value == nil {
                overrides[key] = "true"
                continue
            }
            guard let key = valueFlags[name] else {
                if passUnknown {
                    rest.append(argument)
                    continue
                }
                throw UsageError("unknown option --\(name)")
            }
            if value == nil {
                guard index < arguments.count else { throw UsageError("--\(name) needs a value") }
                value = arguments[index]
                index += 1
            }
            if name == "config" { configPath = value } else { overrides[key] = value }
        }
        // `--db` takes a SQLite path or a PostgreSQL URL (DESIGN §6): a URL is `db.url`; a path also clears a file's `db.url`.
        if let location = overrides["db.path"] {
            if DatabasePool.isPostgresLocation(location) {
                overrides["db.path"] = nil
                overrides["db.url"] = location
            } else {
                overrides["db.url"] = ""
            }
        }
        let config = try Config.load(file: configPath, environment: environment, overrides: overrides)
        return ProgramOptions(config: config, help: help, rest: rest)
    }
}
