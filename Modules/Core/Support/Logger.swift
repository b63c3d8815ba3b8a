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
    /// Serializes writes to `fd`: a line is never split or interleaved with another.
    private let lock = Mutex(())
    /// Buffered lines (the access log), one buffer per writing thread: appending never contends.
    private let buffers = PerThread { LogBuffer() }
    private let registered = Atomic<Bool>(false)
    /// A thread's buffer is written by that thread itself beyond this size (bounded memory, nothing dropped).
    static let bufferLimit = 256 * 1024

    public init(level: Level = .info, fileDescriptor: Int32 = 2) {
        self.minimum = level
        self.fd = fileDescriptor
    }

    deinit { flush() }

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
        var line = JSONWriter.bytes(.object(object))
        line.append(0x0A)
        // Written at once, after whatever this thread buffered before it (its lines keep their order).
        let buffer = registered.load(ordering: .relaxed) ? buffers.local : nil
        lock.withLock { _ in
            if let buffer {
                let pending = buffer.take()
                if !pending.isEmpty { writeAll(pending) }
            }
            writeAll(line)
        }
    }

    /// Queues a pre-rendered JSON line (the access log builds its own) in the calling thread's buffer; a
    /// background thread writes every buffer in batches (every 20 ms), `flush()` writes them now.
    public func writeLine(_ bytes: [UInt8]) {
        if !registered.load(ordering: .relaxed), registered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            LogFlusher.shared.register(self)
        }
        let buffer = buffers.local
        let full = buffer.lines.withLock { lines in
            lines.append(contentsOf: bytes)
            lines.append(0x0A)
            return lines.count >= Self.bufferLimit
        }
        if full {
            lock.withLock { _ in writeAll(buffer.take()) }
        }
    }

    /// Writes every buffered line (the flusher thread, graceful shutdown, deinit).
    public func flush() {
        guard registered.load(ordering: .relaxed) else { return }
        lock.withLock { _ in
            var batch: [UInt8] = []
            for buffer in buffers.all {
                let lines = buffer.take()
                if batch.isEmpty { batch = lines } else { batch.append(contentsOf: lines) }
            }
            if !batch.isEmpty { writeAll(batch) }
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if n < 0, errno == EINTR { continue }; return }
                offset += n
            }
        }
    }

    public func debug(_ message: String, _ fields: JSONObject = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: JSONObject = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: JSONObject = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: JSONObject = [:]) { log(.error, message, fields) }
}

/// One thread's pending log lines.
final class LogBuffer: Sendable {
    let lines = Mutex<[UInt8]>([])

    func take() -> [UInt8] {
        lines.withLock { lines in
            guard !lines.isEmpty else { return [] }
            let taken = lines
            lines.removeAll(keepingCapacity: true)
            return taken
        }
    }
}

/// The one background thread that writes every logger's buffered lines in batches.
final class LogFlusher: Sendable {
    static let shared = LogFlusher()
    private struct WeakLogger: @unchecked Sendable { weak var logger: Logger? }
    private let loggers = Mutex<[WeakLogger]>([])
    private let started = Atomic<Bool>(false)

    func register(_ logger: Logger) {
        loggers.withLock { list in
            list.removeAll { $0.logger == nil }
            list.append(WeakLogger(logger: logger))
        }
        if started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            let thread = Thread { [self] in
                while true {
                    usleep(20_000)
                    for entry in loggers.withLock({ $0 }) { entry.logger?.flush() }
                }
            }
            thread.name = "log-flusher"
            thread.start()
        }
    }
}
