import Core
#if canImport(Glibc)
import Glibc
#endif

/// HTTPS on a connection: the `ByteStream` that puts a `TLSSession` between the socket (a `SocketStream`, still the
/// only place that makes system calls) and the `ConnectionStateMachine`, which sees only plaintext and knows nothing
/// of TLS. Owned by the connection's loop thread.
///
/// Reading decrypts everything the socket delivered; what does not fit the caller's buffer (and a close_notify that
/// came with data) stays in the stream and is reported by `hasBufferedInput`, so the loop reads it without waiting for
/// epoll, which sees only the socket. Handshake messages and session tickets go out as soon as a read made them.
///
/// Writing encrypts at most `writeSlice` bytes of plaintext, in records, and only once the ciphertext of the previous
/// slice is out, so a slow reader costs one slice of ciphertext. A record's plaintext is acknowledged (`.bytes(n)`)
/// only when its ciphertext is in the socket: until then `write` answers `.wouldBlock` and the caller presents the
/// same bytes again. So the machine's "response written", its idle timer (a record that goes out counts as activity),
/// the half-close and the shutdown drain all wait for the ciphertext, with no TLS knowledge in the machine.
struct TLSStream: ByteStream {
    /// Plaintext per TLS record (the protocol's maximum).
    static let recordSize = 16_384
    /// Plaintext encrypted per `write` (four records).
    static let writeSlice = 4 * recordSize

    let session: TLSSession
    private var socket: SocketStream
    private let logger: Logger
    private let remoteAddress: String
    /// Decrypted plaintext the last read could not return (it did not fit), from `plaintextOffset`.
    private var plaintext: [UInt8] = []
    private var plaintextOffset = 0
    /// What follows the plaintext: the peer's close_notify or its TCP EOF, or a failure; and whether it was returned.
    private var end: StreamResult?
    private var endReturned = false
    /// Ciphertext taken from the session and not yet sent, from `outgoingOffset`.
    private var outgoing: [UInt8] = []
    private var outgoingOffset = 0
    /// Positions in the connection's ciphertext output: bytes taken from the session so far, and bytes sent.
    private var ciphertextTaken = 0
    private var ciphertextSent = 0
    /// Records made from the caller's plaintext and not yet acknowledged: where each ends in the ciphertext output,
    /// and how many plaintext bytes it carries.
    private var unacknowledged: [(end: Int, plaintext: Int)] = []
    /// `shutdownWrite` was asked while ciphertext was pending: the socket's write side shuts once it is out.
    private var shutdownPending = false

    init(socket: SocketStream, session: TLSSession, logger: Logger, remoteAddress: String) {
        self.socket = socket
        self.session = session
        self.logger = logger
        self.remoteAddress = remoteAddress
    }

    // MARK: - Reading

    var hasBufferedInput: Bool { plaintextOffset < plaintext.count || (end != nil && !endReturned) }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamResult {
        if plaintextOffset < plaintext.count { return takeBufferedPlaintext(into: buffer) }
        if let end {
            endReturned = true
            return end
        }
        // The caller's buffer holds the ciphertext until `feed` copied it into the session, then the plaintext.
        for _ in 0..<4 {
            let received = socket.read(into: buffer)
            guard case .bytes(let count) = received else {
                if received == .endOfInput { finish(.endOfInput) }
                return received
            }
            session.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            var produced = 0
            var overflow: [UInt8] = []
            let state: TLSSession.State
            do {
                state = try session.decrypt { piece in
                    let direct = min(buffer.count - produced, piece.count)
                    if direct > 0 {
                        (buffer.baseAddress! + produced).copyMemory(from: piece.baseAddress!, byteCount: direct)
                        produced += direct
                    }
                    if direct < piece.count { overflow.append(contentsOf: piece[direct...]) }
                }
            } catch {
                // The alert OpenSSL made for the peer goes out (best effort); scanners and plain HTTP make these: debug.
                _ = flush()
                logger.debug("tls connection failed", ["remote": .string(remoteAddress), "reason": .string("\(error)")])
                finish(.failed(EPROTO))
                endReturned = true
                return .failed(EPROTO)
            }
            if !overflow.isEmpty {
                plaintext = overflow
                plaintextOffset = 0
            }
            if session.pendingCiphertext > 0 {
                _ = flush()   // handshake messages, tickets: a failure shows at the next read or write
            }
            if state == .closed { finish(.endOfInput) }
            if produced > 0 { return .bytes(produced) }
            if let end {
                endReturned = true
                return end
            }
            // Handshake bytes or a partial record: go on only while the socket filled the buffer.
            if count < buffer.count { return .wouldBlock }
        }
        return .wouldBlock
    }

    private mutating func takeBufferedPlaintext(into buffer: UnsafeMutableRawBufferPointer) -> StreamResult {
        let count = min(buffer.count, plaintext.count - plaintextOffset)
        plaintext.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + plaintextOffset, byteCount: count) }
        plaintextOffset += count
        if plaintextOffset == plaintext.count {
            plaintext = []   // an idle connection keeps no buffer
            plaintextOffset = 0
        }
        return .bytes(count)
    }

    private mutating func finish(_ result: StreamResult) {
        if end == nil { end = result }
    }

    // MARK: - Writing

    var hasBufferedOutput: Bool { outgoingOffset < outgoing.count || session.pendingCiphertext > 0 }

    mutating func write(_ bytes: UnsafeRawBufferPointer) -> StreamResult {
        if let settled = settle() { return settled }
        return encrypt(UnsafeRawBufferPointer(rebasing: bytes.prefix(Self.writeSlice)))
    }

    /// Over TLS there is no `sendfile`: a slice of the file is read and encrypted like any plaintext.
    mutating func write(file: FileBody, count: Int) -> StreamResult {
        if let settled = settle() { return settled }
        let wanted = min(count, Self.writeSlice)
        return withUnsafeTemporaryAllocation(byteCount: wanted, alignment: 1) { chunk in
            let read = file.read(into: chunk.baseAddress!, count: wanted, at: file.offset)
            // 0: the file ended before its announced length (it shrank): the response cannot be completed.
            guard read > 0 else { return .failed(read < 0 ? errno : EIO) }
            return encrypt(UnsafeRawBufferPointer(rebasing: chunk[0..<read]))
        }
    }

    /// Sends pending ciphertext and acknowledges the records that went out: `.bytes(n)` (n plaintext bytes of earlier
    /// writes), `.wouldBlock` or `.failed` while the socket is behind, nil when nothing is pending (new plaintext may
    /// be encrypted).
    private mutating func settle() -> StreamResult? {
        if hasBufferedOutput, case .failed(let code) = flush() { return .failed(code) }
        var acknowledged = 0
        var sentRecords = 0
        for record in unacknowledged {
            guard record.end <= ciphertextSent else { break }
            acknowledged += record.plaintext
            sentRecords += 1
        }
        if sentRecords > 0 { unacknowledged.removeFirst(sentRecords) }
        if unacknowledged.isEmpty { unacknowledged = [] }
        if acknowledged > 0 { return .bytes(acknowledged) }
        return hasBufferedOutput ? .wouldBlock : nil
    }

    /// Encrypts `plaintext` record by record, sends what the socket takes, and answers like `settle`.
    private mutating func encrypt(_ plaintext: UnsafeRawBufferPointer) -> StreamResult {
        guard plaintext.count > 0 else { return .failed(EINVAL) }
        var position = 0
        while position < plaintext.count {
            let record = UnsafeRawBufferPointer(rebasing: plaintext[position..<min(plaintext.count, position + Self.recordSize)])
            do {
                position += try session.encrypt(record)
            } catch {
                logger.debug("tls connection failed", ["remote": .string(remoteAddress), "reason": .string("\(error)")])
                return .failed(EPROTO)
            }
            unacknowledged.append((end: ciphertextTaken + session.pendingCiphertext, plaintext: record.count))
        }
        return settle() ?? .wouldBlock
    }

    mutating func flush() -> StreamResult {
        var sent = 0
        while true {
            if outgoingOffset >= outgoing.count {
                guard session.pendingCiphertext > 0 else {
                    outgoing = []   // an idle connection keeps no ciphertext buffer
                    outgoingOffset = 0
                    if shutdownPending {
                        shutdownPending = false
                        socket.shutdownWrite()
                    }
                    return .bytes(sent)
                }
                outgoing = session.takeCiphertext()
                outgoingOffset = 0
                ciphertextTaken += outgoing.count
            }
            let result = outgoing.withUnsafeBytes { socket.write(UnsafeRawBufferPointer(rebasing: $0[outgoingOffset...])) }
            guard case .bytes(let count) = result else { return result }
            outgoingOffset += count
            ciphertextSent += count
            sent += count
        }
    }

    // MARK: - Closing

    /// close_notify first; the socket's write side shuts once it (and any ciphertext before it) is out.
    mutating func shutdownWrite() {
        session.close()
        shutdownPending = true
        _ = flush()
    }

    mutating func close() { socket.close() }
}
