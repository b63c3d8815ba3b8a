import COpenSSL
import Synchronization

/// The server side of TLS: a certificate chain and its private key (PEM files) loaded into an OpenSSL `SSL_CTX`
/// with TLS 1.2 as the minimum, forward-secret AEAD ciphers for TLS 1.2 (OpenSSL's defaults for 1.3), no
/// renegotiation, and ALPN that selects `http/1.1`.
///
/// Thread-safe: event loops call `makeSession()` concurrently; `reload()` (on SIGHUP) builds a new `SSL_CTX`
/// from the same files and swaps it in atomically. New handshakes use the new one; a session already made keeps
/// the context it started with (OpenSSL reference-counts it), so reloading drops no connection. A reload that
/// fails throws and leaves the current context in place.
///
/// ```swift
/// let tls = try TLSContext(certificatePath: "cert.pem", privateKeyPath: "key.pem")
/// let session = try tls.makeSession()   // one per accepted connection
/// try tls.reload()                      // later, after the files were replaced
/// ```
public final class TLSContext: Sendable {
    public let certificatePath: String
    public let privateKeyPath: String
    private let current: Mutex<ContextBox>

    /// Loads and checks the files; throws `TLSError` naming the file and the reason when they are unusable.
    public init(certificatePath: String, privateKeyPath: String) throws {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        current = Mutex(try Self.build(certificatePath: certificatePath, privateKeyPath: privateKeyPath))
    }

    /// Re-reads the certificate and key files and makes them the context of every new handshake.
    public func reload() throws {
        let fresh = try Self.build(certificatePath: certificatePath, privateKeyPath: privateKeyPath)
        current.withLock { $0 = fresh }   // the old box is released here; sessions still using it hold their own reference
    }

    /// A server session for one connection, bound to the context current at this moment.
    public func makeSession() throws -> TLSSession {
        let ssl = current.withLock { SSL_new($0.context) }   // SSL_new takes its own reference to the SSL_CTX
        guard let ssl else { throw TLSError.setup(TLSError.drainOpenSSLErrors("SSL_new failed")) }
        return try TLSSession(ssl: ssl)
    }

    /// The subject of the certificate new handshakes present (one line, OpenSSL's format), for logs and tests.
    public var certificateSubject: String {
        current.withLock { box in
            guard let certificate = SSL_CTX_get0_certificate(box.context), let name = X509_get_subject_name(certificate),
                  let text = X509_NAME_oneline(name, nil, 0) else { return "" }
            defer { CRYPTO_free(text, #fileID, #line) }
            return String(cString: text)
        }
    }

    private static func build(certificatePath: String, privateKeyPath: String) throws -> ContextBox {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.setup(TLSError.drainOpenSSLErrors("SSL_CTX_new failed"))
        }
        let box = ContextBox(context)
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        // Memory BIOs may hand SSL_write a different buffer on retry; the loop encrypts from its own arrays.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS), nil)
        _ = SSL_CTX_set_options(context, iot_tls_server_options())
        guard SSL_CTX_set_cipher_list(context, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL") == 1 else {
            throw TLSError.setup(TLSError.drainOpenSSLErrors("no usable TLS 1.2 cipher"))
        }
        SSL_CTX_set_alpn_select_cb(context, selectHTTP11, nil)

        let key = try loadPrivateKey(privateKeyPath)
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw TLSError.certificate(path: certificatePath, reason: TLSError.drainOpenSSLErrors("unreadable"))
        }
        guard SSL_CTX_use_PrivateKey(context, key) == 1, SSL_CTX_check_private_key(context) == 1 else {
            ERR_clear_error()
            throw TLSError.keyMismatch(certificate: certificatePath, privateKey: privateKeyPath)
        }
        return box
    }

    /// Reads a PEM private key without ever prompting for a passphrase (an encrypted key is an error).
    private static func loadPrivateKey(_ path: String) throws -> OpaquePointer {
        guard let file = BIO_new_file(path, "r") else {
            throw TLSError.privateKey(path: path, reason: TLSError.drainOpenSSLErrors("cannot open"))
        }
        defer { BIO_free(file) }
        let noPassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in 0 }
        guard let key = PEM_read_bio_PrivateKey(file, nil, noPassphrase, nil) else {
            throw TLSError.privateKey(path: path, reason: TLSError.drainOpenSSLErrors("not a PEM private key"))
        }
        return key
    }
}

/// One reference to an `SSL_CTX`, released when the box goes (sessions hold references of their own).
private final class ContextBox: @unchecked Sendable {
    let context: OpaquePointer
    init(_ context: OpaquePointer) { self.context = context }
    deinit { SSL_CTX_free(context) }
}

/// ALPN: picks `http/1.1` from the client's list; a client that offers ALPN without it gets a fatal
/// `no_application_protocol` alert (RFC 7301 §3.2). A client that offers no ALPN is not asked.
private let selectHTTP11: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
                                          UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?) -> Int32 = { _, out, outLength, offered, offeredLength, _ in
    guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    let wanted = Array("http/1.1".utf8)
    var index = 0
    let total = Int(offeredLength)
    while index < total {
        let length = Int(offered[index])
        let start = index + 1
        guard start + length <= total else { break }
        if length == wanted.count, (0..<length).allSatisfy({ offered[start + $0] == wanted[$0] }) {
            out.pointee = offered + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL
}
