import COpenSSL

/// The server end of one TLS connection as a pure byte transform over two OpenSSL memory BIOs: no socket, no
/// blocking. The caller moves bytes: ciphertext read from the peer goes in with `feed`, `decrypt` drives the
/// handshake and yields the plaintext, `encrypt` turns plaintext into records, and `takeCiphertext` hands out
/// whatever must be sent to the peer (handshake messages, records, session tickets, alerts, close_notify).
///
/// Not thread-safe: one owner (the connection's event loop) at a time.
public final class TLSSession {
    /// What `decrypt` left the session in.
    public enum State: Equatable, Sendable {
        /// Everything fed so far is consumed; more ciphertext is needed to go on.
        case needsInput
        /// The peer sent close_notify: no more data will come.
        case closed
    }

    private let ssl: OpaquePointer
    /// Ciphertext from the peer (the SSL object reads it).
    private let incoming: OpaquePointer
    /// Ciphertext for the peer (the SSL object writes it).
    private let outgoing: OpaquePointer
    private var failure: TLSError?

    /// Takes ownership of `ssl` (made from a server `SSL_CTX`, see `TLSContext.makeSession`).
    init(ssl: OpaquePointer) throws {
        self.ssl = ssl
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.setup("BIO_new failed")
        }
        // An empty memory BIO answers "retry" (not EOF), so running out of input reads as SSL_ERROR_WANT_READ.
        self.incoming = incoming
        self.outgoing = outgoing
        SSL_set_bio(ssl, incoming, outgoing)   // the SSL object owns both BIOs from here
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    /// True once the handshake finished (application data may flow).
    public var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// The protocol ALPN selected (`http/1.1`), nil when the client offered none.
    public var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The negotiated version, OpenSSL's spelling: `TLSv1.2`, `TLSv1.3`.
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// Bytes of ciphertext waiting in `takeCiphertext`.
    public var pendingCiphertext: Int { Int(BIO_ctrl_pending(outgoing)) }

    /// Hands ciphertext received from the peer to the session (buffered until `decrypt`).
    public func feed(_ ciphertext: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < ciphertext.count {
            let chunk = Int32(min(ciphertext.count - offset, Int(Int32.max)))
            let written = BIO_write(incoming, ciphertext.baseAddress! + offset, chunk)
            guard written > 0 else { return }   // a memory BIO only fails when out of memory
            offset += Int(written)
        }
    }

    /// Runs the handshake as far as the fed bytes allow, then decrypts every complete record, passing the
    /// plaintext to `sink` (possibly in several pieces). Throws `TLSError.protocolError` on a bad record or a failed
    /// handshake; the alert OpenSSL made for the peer is then in `takeCiphertext`. After an error the session stays failed.
    public func decrypt(_ sink: (UnsafeRawBufferPointer) -> Void) throws -> State {
        if let failure { throw failure }
        return try withUnsafeTemporaryAllocation(byteCount: 16_384, alignment: 1) { buffer in
            while true {
                ERR_clear_error()
                var count = 0
                let result = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
                if result == 1 {
                    sink(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    continue
                }
                switch SSL_get_error(ssl, result) {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    return .needsInput
                case SSL_ERROR_ZERO_RETURN:
                    return .closed
                default:
                    let error = TLSError.protocolError(TLSError.drainOpenSSLErrors("connection failed"))
                    failure = error
                    throw error
                }
            }
        }
    }

    /// Encrypts `plaintext` into records (available from `takeCiphertext`); returns the bytes consumed, all of
    /// them once the handshake is complete. Throws after a failure or before the handshake finished.
    @discardableResult
    public func encrypt(_ plaintext: UnsafeRawBufferPointer) throws -> Int {
        if let failure { throw failure }
        guard isHandshakeComplete else { throw TLSError.protocolError("application data before the handshake finished") }
        guard plaintext.count > 0 else { return 0 }
        ERR_clear_error()
        var written = 0
        guard SSL_write_ex(ssl, plaintext.baseAddress, plaintext.count, &written) == 1 else {
            let error = TLSError.protocolError(TLSError.drainOpenSSLErrors("write failed"))
            failure = error
            throw error
        }
        return written
    }

    /// Moves up to `buffer.count` bytes of ciphertext for the peer into `buffer`; returns how many.
    public func takeCiphertext(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard buffer.count > 0, pendingCiphertext > 0 else { return 0 }
        let count = BIO_read(outgoing, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return max(0, Int(count))
    }

    /// All pending ciphertext for the peer.
    public func takeCiphertext() -> [UInt8] {
        let pending = pendingCiphertext
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        let count = bytes.withUnsafeMutableBytes { takeCiphertext(into: $0) }
        bytes.removeLast(pending - count)
        return bytes
    }

    /// Queues close_notify for the peer (no-op before the handshake finished or after a failure).
    public func close() {
        guard failure == nil, isHandshakeComplete else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }
}
