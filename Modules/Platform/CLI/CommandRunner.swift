import Core
import Foundation

/// Dispatches `admin-cli` arguments to the command with the longest matching word path, prints
/// help, and maps outcomes to exit codes: 0 ok, 1 failure, 2 usage.
public struct CommandRunner: Sendable {
    public let program: String
    public let commands: [any CLICommand]
    public let output: CommandOutput

    public init(program: String, commands: [any CLICommand], output: CommandOutput = .standard) {
        self.program = program
        self.commands = commands
        self.output = output
    }

    /// The command selected by `words`, and the words after its path.
    public func select(_ words: [String]) -> (any CLICommand, [String])? {
        var best: (any CLICommand, [String])?
        for command in commands where words.count >= command.path.count && Array(words.prefix(command.path.count)) == command.path {
            if best == nil || command.path.count > best!.0.path.count { best = (command, Array(words.dropFirst(command.path.count))) }
        }
        return best
    }

    public func run(_ words: [String], help: Bool) -> Int32 {
        guard let (command, rest) = select(words) else {
            if help || words.isEmpty {
                output.out(overview())
                return words.isEmpty && !help ? 2 : 0
            }
            output.err("\(program): unknown command '\(words.joined(separator: " "))'\n\(overview())")
            return 2
        }
        if help || rest.contains("--help") || rest.contains("-h") {
            output.out(usage(of: command))
            return 0
        }
        do {
            let arguments = try CommandArguments(rest, options: command.options, flags: command.flags)
            return try command.run(arguments, output: output)
        } catch let error as UsageError {
            output.err("\(program): \(error.message)\n\(usage(of: command))")
            return 2
        } catch let error as any PlatformError {
            output.err("\(program): \(error.detail)")
            return 1
        } catch {
            output.err("\(program): \(error)")
            return 1
        }
    }

    public func usage(of command: any CLICommand) -> String {
        "usage: \(program) [--db PATH|URL] [--config FILE] \(command.path.joined(separator: " ")) \(command.usage)\n  \(command.summary)"
    }

    public func overview() -> String {
        var text = "usage: \(program) [--db PATH|URL] [--config FILE] COMMAND [ARGS] [--help]\n\ncommands:\n"
        let width = commands.map { $0.path.joined(separator: " ").count }.max() ?? 0
        for command in commands {
            let name = command.path.joined(separator: " ")
            text += "  \(name)\(String(repeating: " ", count: width - name.count + 2))\(command.summary)\n"
        }
        return text
    }
}

extension CommandOutput {
    /// Lines to standard output and standard error, flushed at once.
    public static let standard = CommandOutput(
        out: { line in FileHandle.standardOutput.write(Data((line.hasSuffix("\n") ? line : line + "\n").utf8)) },
        err: { line in FileHandle.standardError.write(Data((line.hasSuffix("\n") ? line : line + "\n").utf8)) })
}
