import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A response body read from a file: the server streams `length` bytes from `offset` in chunks as the socket
/// accepts them, so a large download is never loaded in memory and never holds a worker or the event loop.
/// The descriptor is closed when the last copy of the body goes away (sent, dropped for HEAD, or connection closed).
///
/// ```swift
/// guard var body = FileBody(path: path) else { throw … }
/// body.select(0...1023)                       // a Range answer
/// return .file(body, contentType: "text/csv", status: 206)
/// ```
public struct FileBody: Sendable {
    /// Owns the descriptor; closes it on deinit.
    final class Handle: Sendable {
        let descriptor: Int32
        init(_ descriptor: Int32) { self.descriptor = descriptor }
        deinit { Glibc.close(descriptor) }
    }

    let handle: Handle
    /// The file's size when it was opened.
    public let size: Int64
    /// First byte sent.
    public private(set) var offset: Int64
    /// Bytes sent.
    public private(set) var length: Int64

    /// Opens a regular file read-only (the whole file); nil when it is missing, unreadable or not a regular file.
    public init?(path: String) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(descriptor)
            return nil
        }
        handle = Handle(descriptor)
        size = Int64(info.st_size)
        offset = 0
        length = size
    }

    /// Restricts the body to `range` (inclusive byte positions within `size`).
    public mutating func select(_ range: ClosedRange<Int64>) {
        precondition(range.lowerBound >= 0 && range.upperBound < size, "range outside the file")
        offset = range.lowerBound
        length = range.upperBound - range.lowerBound + 1
    }

    /// Drops the first `count` bytes of the selection (they were sent).
    mutating func advance(by count: Int64) {
        offset += count
        length -= count
    }

    /// The open descriptor (for `sendfile`).
    var descriptor: Int32 { handle.descriptor }

    /// Reads up to `count` bytes at `position` (absolute) into `buffer`; the bytes read, 0 at end of file, -1 on error.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at position: Int64) -> Int {
        while true {
            let result = pread(handle.descriptor, buffer, count, off_t(position))
            if result < 0, errno == EINTR { continue }
            return result
        }
    }

    /// The selected bytes, read whole (for in-process tests and small files).
    public func bytes() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(length))
        var done = 0
        while done < out.count {
            let count = out.withUnsafeMutableBytes { read(into: $0.baseAddress! + done, count: $0.count - done, at: offset + Int64(done)) }
            if count <= 0 { break }
            done += count
        }
        return Array(out[0..<done])
    }
}

extension Response {
    /// A response whose body is streamed from `file` (`Content-Length` is the selected length).
    public static func file(_ file: FileBody, contentType: String, status: Int = 200) -> Response {
        var headers = HTTPHeaders()
        headers.add("Content-Type", contentType)
        var response = Response(status: status, headers: headers)
        response.file = file
        return response
    }

    /// Bytes of the body, whichever kind it is.
    public var bodyLength: Int { file.map { Int($0.length) } ?? body.count }
}
