import Core
import Foundation
import Synchronization

/// A test sink from `Tools/test-sinks/` (`smtp_sink.py`, `http_sink.py`: Python standard library only) running on a
/// free port; every message or request it received is one JSON line of its output.
public final class SinkProcess: @unchecked Sendable {
    public let process: Process
    public let port: Int
    private let lines = LineCollector()

    public init(_ script: String, _ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", DeviceAPI.root() + "/Tools/test-sinks/" + script, "--port", "0"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        spawnedProcesses.withLock { $0.append(pid) }
        lines.follow(pipe)
        let deadline = Date().addingTimeInterval(20)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            found = lines.lines.withLock { $0.first { $0.hasPrefix("port ") }.flatMap { Int($0.dropFirst(5)) } }
            if found == nil { usleep(20_000) }
        }
        guard let found else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw TestClientError("\(script) did not start")
        }
        port = found
    }

    deinit { stop() }

    /// SIGKILL: children of test threads may inherit a blocked SIGTERM (and the sinks also exit when their parent does).
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// What the sink received so far, one JSON value per message or request.
    public var received: [JSON] {
        lines.lines.withLock { $0.filter { $0.hasPrefix("{") } }.compactMap { try? JSONParser.parse(Array($0.utf8)) }
    }

    /// Waits until the sink received `count` messages (or `timeout` passed); returns what it received.
    public func waitFor(_ count: Int, timeout: Double = 10) -> [JSON] {
        let deadline = Date().addingTimeInterval(timeout)
        while received.count < count, Date() < deadline { usleep(20_000) }
        return received
    }
}

/// Runs a shell command line (test setup: certificates, HMAC checks); returns its standard output.
@discardableResult
public func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw TestClientError("\(command) exited \(process.terminationStatus)") }
    return String(decoding: data, as: UTF8.self)
}
