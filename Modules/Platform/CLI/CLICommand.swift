import Core

/// A command-line usage mistake: printed with the usage text, exit code 2.
public struct UsageError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parsed arguments of one subcommand: positionals, `--name value` options and boolean `--flag`s.
public struct CommandArguments: Sendable {
    public private(set) var positionals: [String] = []
    public private(set) var options: [String: String] = [:]
    public private(set) var flags: Set<String> = []

    /// Parses `arguments` against the command's declared options and flags; unknown ones are usage errors.
    public init(_ arguments: [String], options valueOptions: Set<String>, flags booleanFlags: Set<String>) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                positionals.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if booleanFlags.contains(name) {
                guard inlineValue == nil else { throw UsageError("--\(name) takes no value") }
                flags.insert(name)
            } else if valueOptions.contains(name) {
                if let inlineValue {
                    options[name] = inlineValue
                } else {
                    guard index < arguments.count else { throw UsageError("--\(name) needs a value") }
                    options[name] = arguments[index]
                    index += 1
                }
            } else {
                throw UsageError("unknown option --\(name)")
            }
        }
    }

    public func option(_ name: String) -> String? { options[name] }

    public func require(_ name: String) throws(UsageError) -> String {
        guard let value = options[name], !value.isEmpty else { throw UsageError("--\(name) is required") }
        return value
    }

    public func flag(_ name: String) -> Bool { flags.contains(name) }

    public func positional(_ index: Int, _ name: String) throws(UsageError) -> String {
        guard index < positionals.count else { throw UsageError("missing argument \(name)") }
        return positionals[index]
    }

    public func expectPositionals(_ count: Int) throws(UsageError) {
        if positionals.count > count { throw UsageError("unexpected argument \(positionals[count])") }
    }
}

/// Where a command writes: standard output for results, standard error for diagnostics.
public struct CommandOutput: Sendable {
    public let out: @Sendable (String) -> Void
    public let err: @Sendable (String) -> Void

    public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.out = out
        self.err = err
    }

    public func json(_ value: JSON) { out(JSONWriter.string(value)) }

    /// Prints a table: one line per row, fields separated by tabs, each field's control and bidi characters escaped
    /// (tenant-supplied text never moves the cursor, forges a row or reorders what the operator reads). Nothing for no rows.
    public func rows(_ rows: [[String]]) {
        guard !rows.isEmpty else { return }
        out(rows.map { $0.map(TerminalText.escape).joined(separator: "\t") }.joined(separator: "\n"))
    }

    /// Prints one line whose interpolated tenant text has been escaped by the caller, or escapes `text` whole.
    public func line(_ text: String) { out(TerminalText.escape(text)) }
}

/// An `admin-cli` subcommand contributed by a module.
public protocol CLICommand: Sendable {
    /// Words that select the command: `["token", "create"]`.
    var path: [String] { get }
    var summary: String { get }
    /// Usage after the command words, e.g. `--user USERNAME [--role ROLE] [--json]`.
    var usage: String { get }
    var options: Set<String> { get }
    var flags: Set<String> { get }
    /// Runs the command; returns the exit code (0 ok, 1 failure). Throw `UsageError` for exit 2.
    func run(_ arguments: CommandArguments, output: CommandOutput) throws -> Int32
}

extension CLICommand {
    public var options: Set<String> { [] }
    public var flags: Set<String> { [] }
}

/// A command from closures, for small commands.
public struct SimpleCommand: CLICommand {
    public let path: [String]
    public let summary: String
    public let usage: String
    public let options: Set<String>
    public let flags: Set<String>
    let body: @Sendable (CommandArguments, CommandOutput) throws -> Int32

    public init(_ path: [String], summary: String, usage: String = "", options: Set<String> = [], flags: Set<String> = [],
                run body: @escaping @Sendable (CommandArguments, CommandOutput) throws -> Int32) {
        self.path = path
        self.summary = summary
        self.usage = usage
        self.options = options
        self.flags = flags
        self.body = body
    }

    public func run(_ arguments: CommandArguments, output: CommandOutput) throws -> Int32 { try body(arguments, output) }
}
