import Foundation
import Synchronization

/// Finds the built executables (`api-server`, `admin-cli`) next to the running test bundle.
public enum Binaries {
    public static func path(_ name: String, file: String = #filePath) -> String {
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent + "/" + name)
        }
        let root = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        candidates.append(root + "/.build/debug/" + name)
        candidates.append(root + "/.build/release/" + name)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// The environment for spawned programs: fast password hashing for tests, quiet logs unless asked.
    public static func environment(_ extra: [String: String] = [:], arguments: [String] = []) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("IOT_") }
        env["IOT_AUTH_PBKDF2_ITERATIONS"] = "1000"
        // On PostgreSQL `db.path` still places the files derived from its folder (notifications log, exports): keep
        // them in the test database's own folder, never in the working directory's ./data.
        if let flag = arguments.firstIndex(of: "--db"), flag + 1 < arguments.count, TestDatabase.isPostgresURL(arguments[flag + 1]) {
            env["IOT_DB"] = TestDatabase.dataFolder(for: arguments[flag + 1]) + "/iot.db"
        }
        for (key, value) in extra { env[key] = value }
        return env
    }
}

/// The outcome of running a command-line program.
public struct CommandResult: Sendable {
    public let exitCode: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs `admin-cli` (or any built program) to completion.
public func runProgram(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    try runExecutable(Binaries.path(name), arguments, environment: environment)
}

/// Runs a system tool found on PATH (`curl`, `openssl`) to completion, with the programs' test environment.
public func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    try runExecutable("/usr/bin/env", [name] + arguments, environment: environment)
}

private func runExecutable(_ path: String, _ arguments: [String], environment: [String: String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = Binaries.environment(environment, arguments: arguments)
    let directory = TemporaryDirectory("iot-run")
    defer { directory.remove() }
    _ = FileManager.default.createFile(atPath: directory.file("out"), contents: nil)
    _ = FileManager.default.createFile(atPath: directory.file("err"), contents: nil)
    let out = FileHandle(forWritingAtPath: directory.file("out"))!
    let err = FileHandle(forWritingAtPath: directory.file("err"))!
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try? out.close()
    try? err.close()
    let stdout = (try? String(contentsOfFile: directory.file("out"), encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: directory.file("err"), encoding: .utf8)) ?? ""
    return CommandResult(exitCode: process.terminationStatus, stdout: stdout, stderr: stderr)
}

/// Children still running when the test process exits are killed, so no server outlives the run.
let spawnedProcesses: Mutex<[Int32]> = {
    atexit {
        for pid in spawnedProcesses.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
    return Mutex([])
}()

/// A running `api-server` on a free port, started for one test suite.
public final class ServerProcess: @unchecked Sendable {
    public let process: Process
    public let port: Int
    public let adminToken: String?
    public let databasePath: String
    public let directory: TemporaryDirectory
    public let stderrPath: String
    private let lines = LineCollector()

    /// Starts `api-server --port 0` on `databasePath` (a fresh temp database by default) and waits for
    /// the `listening on` line.
    public init(databasePath: String? = nil, arguments: [String] = [], environment: [String: String] = [:]) throws {
        directory = TemporaryDirectory("iot-server")
        self.databasePath = try databasePath ?? TestDatabase.location(sqlitePath: directory.file("iot.db"))
        stderrPath = directory.file("server.log")
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("api-server"))
        process.arguments = ["--db", self.databasePath, "--port", "0"] + arguments
        process.environment = Binaries.environment(environment, arguments: process.arguments ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: stderrPath)!
        process.standardInput = FileHandle.nullDevice
        let collected = lines
        try process.run()
        let pid = process.processIdentifier
        spawnedProcesses.withLock { $0.append(pid) }
        collected.follow(pipe)
        let deadline = Date().addingTimeInterval(60)
        var foundPort: Int?
        while Date() < deadline, foundPort == nil {
            foundPort = collected.lines.withLock { lines in
                lines.first { $0.hasPrefix("listening on http://") || $0.hasPrefix("listening on https://") }.flatMap { Int($0.split(separator: ":").last ?? "") }
            }
            if foundPort == nil {
                if !process.isRunning { break }
                usleep(20_000)
            }
        }
        guard let foundPort else {
            if process.isRunning { process.terminate() }
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw TestClientError("api-server did not start: \(log.suffix(2000))")
        }
        port = foundPort
        adminToken = collected.lines.withLock { lines in
            lines.first { $0.hasPrefix("admin token: ") }.map { String($0.dropFirst("admin token: ".count)) }
        }
    }

    /// Every stdout line so far.
    public var outputLines: [String] { lines.lines.withLock { $0 } }

    public var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    public func client(token: String? = nil) -> HTTPTestClient { HTTPTestClient(port: port, token: token ?? adminToken) }

    /// Sends `signal` and waits for the exit; returns the exit status.
    @discardableResult
    public func stop(signal number: Int32 = SIGTERM, timeout: Double = 30) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, number) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Lines a child process printed, shared with the thread that reads them.
final class LineCollector: Sendable {
    let lines = Mutex<[String]>([])

    /// Reads `pipe` on a thread of its own until EOF, one line at a time.
    func follow(_ pipe: Pipe) {
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            var pending = ""
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<newline])
                    pending = String(pending[pending.index(after: newline)...])
                    lines.withLock { $0.append(line) }
                }
            }
        }
    }
}
