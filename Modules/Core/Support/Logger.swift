import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Structured logging: one JSON object per line on standard error (standard output is reserved for
/// the programs' contract lines such as `listening on ...`). Never log tokens, passwords or safe codes.
public final class Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warning", "error"][rawValue] }
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warning", "warn": self = .warning
            case "error": self = .error
            default: return nil
            }
        }
    }

    private let minimum: Level
    private let fd: Int32
    private let lock = Mutex(())

    public init(level: Level = .info, fileDescriptor: Int32 = 2) {
        self.minimum = level
        self.fd = fileDescriptor
    }

    public func isEnabled(_ level: Level) -> Bool { level >= minimum }

    public func log(_ level: Level, _ message: String, _ fields: JSONObject = [:]) {
        guard level >= minimum else { return }
        var object = JSONObject()
        object.append("ts", .string(Timestamp.format(Date())))
        object.append("level", .string(level.name))
        object.append("msg", .string(message))
        for entry in fields.entries where entry.key != "ts" && entry.key != "level" && entry.key != "msg" {
            object.append(entry.key, entry.value)
        }
        writeLine(JSONWriter.bytes(.object(object)))
    }

    /// Writes a pre-rendered JSON line (the access log builds its own).
    public func writeLine(_ bytes: [UInt8]) {
        var line = bytes
        line.append(0x0A)
        lock.withLock { _ in
            line.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { if errno == EINTR { continue }; return }
                    offset += n
                }
            }
        }
    }

    public func debug(_ message: String, _ fields: JSONObject = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: JSONObject = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: JSONObject = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: JSONObject = [:]) { log(.error, message, fields) }
}
