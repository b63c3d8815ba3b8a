import Core
import Foundation

/// A logger writing to a file of its own in a temporary directory, for tests that read back what was logged.
///
/// ```swift
/// let log = LogFile()
/// defer { log.remove() }
/// log.logger.info("hello")
/// #expect(try log.text().contains("hello"))
/// ```
public final class LogFile: Sendable {
    public let directory: TemporaryDirectory
    public let path: String
    public let logger: Logger
    private let fd: Int32

    public init(level: Logger.Level = .info) {
        directory = TemporaryDirectory("iot-log")
        path = directory.file("log.txt")
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot open \(path)")
        logger = Logger(level: level, fileDescriptor: fd)
    }

    /// What the file holds now (without flushing the logger's buffers).
    public func written() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// Everything logged so far: the logger's buffered lines are flushed first.
    public func text() throws -> String {
        logger.flush()
        return try written()
    }

    /// Closes the file and removes its directory.
    public func remove() {
        close(fd)
        directory.remove()
    }
}
