import Glibc

/// A failed system call while writing an export, with the `errno` text, e.g. `write failed: No space left on device (errno 28)`.
public struct ExportIOError: Error, CustomStringConvertible, Equatable {
    /// What failed, e.g. `write`, `open /tmp/x.csv`.
    public var operation: String
    /// The `errno` value.
    public var code: Int32

    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String { "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))" }
}

/// Writes to a blocking POSIX file descriptor through a fixed buffer, tracking the number of bytes written so far.
///
/// `position` counts bytes from where the descriptor stood at creation, so ZIP offsets are relative to the archive start.
final class BufferedFileOutput {
    static let defaultCapacity = 256 * 1024

    let fd: Int32
    private let ownsDescriptor: Bool
    private var closed = false
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var count = 0
    private var flushed: Int64 = 0
    /// The descriptor's file offset at creation; `nil` when it cannot be written at offsets (pipe, socket, `O_APPEND`).
    let baseOffset: Int64?

    /// Bytes written so far, buffered ones included.
    var position: Int64 { flushed + Int64(count) }
    /// Whether `pwrite(_:at:)` can patch bytes that have already left the buffer.
    var isSeekable: Bool { baseOffset != nil }

    init(fileDescriptor: Int32, ownsDescriptor: Bool, capacity: Int = BufferedFileOutput.defaultCapacity) {
        precondition(capacity >= 64)
        fd = fileDescriptor
        self.ownsDescriptor = ownsDescriptor
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
        let offset = lseek(fileDescriptor, 0, SEEK_CUR)
        let flags = fcntl(fileDescriptor, F_GETFL)
        // Linux `pwrite` ignores the offset on O_APPEND descriptors, so treat those as unseekable.
        baseOffset = offset >= 0 && flags >= 0 && flags & O_APPEND == 0 ? Int64(offset) : nil
    }

    /// Creates or truncates `path` (mode 0644); the descriptor is closed by `close()` or on deinit.
    convenience init(path: String, capacity: Int = BufferedFileOutput.defaultCapacity) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ExportIOError(operation: "open \(path)", code: errno) }
        self.init(fileDescriptor: fd, ownsDescriptor: true, capacity: capacity)
    }

    deinit {
        buffer.deallocate()
        if ownsDescriptor && !closed { Glibc.close(fd) }
    }

    @inline(__always) func writeByte(_ byte: UInt8) throws {
        if count == capacity { try flush() }
        buffer[count] = byte
        count += 1
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        if bytes.count > capacity - count {
            try flush()
            if bytes.count >= capacity {
                try writeFully(source, bytes.count)
                flushed += Int64(bytes.count)
                return
            }
        }
        UnsafeMutableRawPointer(buffer + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    func write(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) throws {
        try write(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes)))
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes an ASCII literal.
    @inline(__always) func write(_ text: StaticString) throws {
        try write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Hands out room for up to `maxCount` bytes (at most the buffer capacity); `body` returns how many it filled.
    @inline(__always) func withReservedSpace(_ maxCount: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) throws {
        precondition(maxCount <= capacity)
        if capacity - count < maxCount { try flush() }
        let used = body(buffer + count)
        assert(used <= maxCount)
        count += used
    }

    /// Writes the buffered bytes to the descriptor.
    func flush() throws {
        guard count > 0 else { return }
        try writeFully(buffer, count)
        flushed += Int64(count)
        count = 0
    }

    /// `fsync`; descriptors that cannot be synced (pipes, sockets: EINVAL/EROFS) are accepted silently.
    func sync() throws {
        try flush()
        while Glibc.fsync(fd) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EINVAL || code == EROFS { return }
            throw ExportIOError(operation: "fsync", code: code)
        }
    }

    /// Overwrites bytes at an earlier `position` (e.g. a ZIP local header). Bytes still in the buffer are patched in memory.
    func pwrite(_ bytes: [UInt8], at offset: Int64) throws {
        precondition(offset >= 0 && offset + Int64(bytes.count) <= position, "pwrite beyond the written range")
        if offset >= flushed {
            let start = Int(offset - flushed)
            for (index, byte) in bytes.enumerated() { buffer[start + index] = byte }
            return
        }
        try flush()
        guard let base = baseOffset else { throw ExportIOError(operation: "pwrite", code: ESPIPE) }
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                Glibc.pwrite(fd, raw.baseAddress! + done, bytes.count - done, off_t(base + offset + Int64(done)))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw ExportIOError(operation: "pwrite", code: errno)
            }
            if result == 0 { throw ExportIOError(operation: "pwrite", code: EIO) }
            done += result
        }
    }

    /// Closes the descriptor if this output opened it; otherwise does nothing. Does not flush.
    func close() throws {
        guard ownsDescriptor && !closed else { return }
        closed = true
        if Glibc.close(fd) != 0 && errno != EINTR { throw ExportIOError(operation: "close", code: errno) }
    }

    private func writeFully(_ start: UnsafeRawPointer, _ length: Int) throws {
        var done = 0
        while done < length {
            let result = Glibc.write(fd, start + done, length - done)
            if result < 0 {
                if errno == EINTR { continue }
                throw ExportIOError(operation: "write", code: errno)
            }
            if result == 0 { throw ExportIOError(operation: "write", code: EIO) }
            done += result
        }
    }
}
