#if canImport(Glibc)
import Glibc
#endif

/// A connection's `TLSSession` over its non-blocking socket: what the event loop calls, when TLS is on, where a
/// plain connection calls `recv` and `send`. Owned by the connection's loop thread.
///
/// Reading decrypts everything received into the connection's input at once, so no plaintext ever waits inside
/// OpenSSL where epoll cannot see it. Writing encrypts a bounded slice of plaintext only once the ciphertext of the
/// previous slice is out, so a slow reader holds at most one slice of ciphertext in memory.
final class TLSChannel {
    enum ReceiveOutcome: Equatable {
        /// Ciphertext arrived (plaintext may or may not have come of it: a partial record, handshake messages).
        case progress
        /// Nothing to read now.
        case wouldBlock
        /// The peer sent close_notify or closed its socket.
        case closed
        /// A socket error or a TLS protocol error (a bad record, a failed handshake, plain HTTP on the TLS port).
        case failed(String)
    }

    enum FlushOutcome: Equatable {
        case flushed
        case wouldBlock
        case failed
    }

    /// Plaintext encrypted per step of `EventLoop.flush` (four full TLS records).
    static let encryptSlice = 65_536

    let session: TLSSession
    private var outgoing: [UInt8] = []
    private var outgoingOffset = 0
    /// Ciphertext bytes the socket took so far (a slow reader that keeps reading is not idle).
    private(set) var bytesSent = 0

    init(session: TLSSession) {
        self.session = session
    }

    /// Ciphertext made but not yet taken by the socket.
    var hasPendingCiphertext: Bool { outgoingOffset < outgoing.count || session.pendingCiphertext > 0 }

    /// Reads what the socket has (at most four scratch buffers per call, like a plain connection) and decrypts it,
    /// appending the plaintext to `input` unless `keep` is false (a draining connection discards it).
    func receive(from fd: Int32, scratch: inout [UInt8], into input: inout ByteBuffer, keep: Bool) -> ReceiveOutcome {
        var progressed = false
        var endOfStream = false
        reading: for _ in 0..<4 {
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                progressed = true
                scratch.withUnsafeBytes { session.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                if count < scratch.count { break }
            } else if count == 0 {
                endOfStream = true
                break
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { break reading }
                return .failed("recv: errno \(code)")
            }
        }
        do {
            let state = try session.decrypt { plaintext in if keep { input.append(plaintext) } }
            if state == .closed || endOfStream { return .closed }
        } catch {
            return .failed("\(error)")
        }
        return progressed ? .progress : .wouldBlock
    }

    /// Encrypts up to `encryptSlice` bytes of `plaintext`; returns the bytes consumed, or -1 with `errno` set
    /// when the session failed (the caller's `send` error path then closes the connection).
    func encrypt(_ plaintext: UnsafeRawPointer, count: Int) -> Int {
        do {
            return try session.encrypt(UnsafeRawBufferPointer(start: plaintext, count: min(count, Self.encryptSlice)))
        } catch {
            errno = EIO
            return -1
        }
    }

    /// Sends the ciphertext made so far, as far as the socket takes it.
    func flush(to fd: Int32) -> FlushOutcome {
        while true {
            if outgoingOffset >= outgoing.count {
                guard session.pendingCiphertext > 0 else {
                    outgoing = []   // idle connections hold no buffer (`takeCiphertext` makes a fresh one)
                    outgoingOffset = 0
                    return .flushed
                }
                outgoing = session.takeCiphertext()
                outgoingOffset = 0
            }
            let count = outgoing.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + outgoingOffset, raw.count - outgoingOffset, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                outgoingOffset += count
                bytesSent += count
            } else {
                let code = errno
                if count < 0, code == EINTR { continue }
                if count < 0, code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
                return .failed
            }
        }
    }

    /// Queues close_notify and sends what the socket takes at once (best effort: the connection is closing).
    func close(on fd: Int32) {
        session.close()
        _ = flush(to: fd)
    }
}
