#if canImport(Glibc)
import Glibc
#endif

/// What one read or write on a `ByteStream` did.
enum StreamResult: Equatable {
    /// This many bytes moved (> 0, except a `flush` that had nothing to send).
    case bytes(Int)
    /// The peer closed its write side (reads only).
    case endOfInput
    /// Nothing can move now; wait for the selector.
    case wouldBlock
    /// The connection failed (`errno`).
    case failed(Int32)
}

/// The byte stream between a connection's socket and its `ConnectionStateMachine`: the one place where the event
/// loop reads, writes, half-closes and closes a connection. `SocketStream` is the plain socket; `TLSStream` (HTTPS) is
/// a transform over a `SocketStream`: `read` pulls ciphertext from the socket and returns plaintext, `write` takes
/// plaintext and sends ciphertext. The state machine only ever sees plaintext.
///
/// What a transform may hold, and how the loop copes: input it already took from the socket (`hasBufferedInput`: epoll
/// will not report it, so the loop reads again by itself while the machine wants input), and output the socket has not
/// taken yet (`hasBufferedOutput`: the loop keeps write interest and calls `flush`). A write may answer `.wouldBlock`
/// after it took bytes it has not sent yet; the caller then presents the same bytes again (the front of its output, as
/// the loop always does), and the stream acknowledges them with `.bytes(n)` once they are out.
protocol ByteStream {
    /// Reads plaintext into `buffer`.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamResult
    /// Input taken from the socket that a `read` would return without the socket (decrypted overflow, a close_notify).
    var hasBufferedInput: Bool { get }
    /// Writes plaintext from `bytes`; `.bytes(n)`: the first n were sent.
    mutating func write(_ bytes: UnsafeRawBufferPointer) -> StreamResult
    /// Writes up to `count` bytes of `file` from its current offset (a plain socket uses `sendfile`; a transform reads the
    /// file into plaintext and writes that).
    mutating func write(file: FileBody, count: Int) -> StreamResult
    /// Output the stream made but the socket has not taken (a transform's ciphertext: handshake, records, alerts).
    var hasBufferedOutput: Bool { get }
    /// Sends buffered output: `.bytes(n)` once none is left (n may be 0), `.wouldBlock` while some is left.
    mutating func flush() -> StreamResult
    /// Ends the write side after the final response (a transform sends its close alert first, and shuts the socket's
    /// write side once that is out).
    mutating func shutdownWrite()
    /// Closes the socket.
    mutating func close()
}

/// A connected, non-blocking TCP socket.
struct SocketStream: ByteStream {
    let fd: Int32

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamResult {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return .bytes(count) }
            if count == 0 { return .endOfInput }
            let code = errno
            if code == EINTR { continue }
            return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock : .failed(code)
        }
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) -> StreamResult {
        while true {
            let count = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if count > 0 { return .bytes(count) }
            let code = errno
            if count < 0, code == EINTR { continue }
            return count < 0 && (code == EAGAIN || code == EWOULDBLOCK) ? .wouldBlock : .failed(count < 0 ? code : EPIPE)
        }
    }

    mutating func write(file: FileBody, count: Int) -> StreamResult {
        var offset = off_t(file.offset)
        while true {
            let sent = sendfile(fd, file.descriptor, &offset, count)
            if sent > 0 { return .bytes(sent) }
            let code = errno
            if sent < 0, code == EINTR { continue }
            if sent < 0, code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            // 0: the file ended before its announced length (it shrank): the response cannot be completed.
            return .failed(sent < 0 ? code : EIO)
        }
    }

    var hasBufferedInput: Bool { false }

    var hasBufferedOutput: Bool { false }

    mutating func flush() -> StreamResult { .bytes(0) }

    mutating func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

    mutating func close() { _ = Glibc.close(fd) }
}
