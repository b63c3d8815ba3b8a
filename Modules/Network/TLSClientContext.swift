import Glibc
import Synchronization
internal import COpenSSL

/// How a TLS client checks the server: as PostgreSQL's `sslmode` require / verify-ca / verify-full, or SMTP's default.
public struct TLSClientConfiguration: Hashable, Sendable {
    public enum Verification: Hashable, Sendable {
        /// Encrypt only; any certificate is accepted (`sslmode=require`).
        case none
        /// The certificate must chain to a trusted CA; its names are not checked (`verify-ca`).
        case certificate
        /// The chain and the host name (or IP address) the client connected to (`verify-full`; HTTPS, SMTP).
        case full
    }

    public var verification: Verification
    /// PEM file of CAs to trust instead of the system's (nil = the system's trust store).
    public var caFile: String?

    public init(verification: Verification = .full, caFile: String? = nil) {
        self.verification = verification
        self.caFile = caFile
    }
}

/// One `SSL_CTX` for a configuration, shared by every connection made with it (thread-safe: OpenSSL allows
/// `SSL_new` on one context from many threads). `TLSClientContext.shared(for:)` keeps one per configuration
/// and CA file version.
public final class TLSClientContext: @unchecked Sendable {
    public let configuration: TLSClientConfiguration
    let context: OpaquePointer

    /// Makes a context; fails when the CA file cannot be read or parsed.
    public init(_ configuration: TLSClientConfiguration) throws(NetworkError) {
        self.configuration = configuration
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw NetworkError(.tls, "TLS setup failed: \(Crypto.drainOpenSSLErrors())")
        }
        self.context = context
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        if configuration.verification == .none {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        }
        if let caFile = configuration.caFile {
            guard access(caFile, R_OK) == 0 else {
                throw NetworkError(.tls, "cannot read CA file \(caFile): \(String(cString: strerror(errno)))")
            }
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw NetworkError(.tls, "cannot load CA file \(caFile): \(Crypto.drainOpenSSLErrors())")
            }
        } else if configuration.verification != .none {
            _ = SSL_CTX_set_default_verify_paths(context)
        }
    }

    deinit { SSL_CTX_free(context) }

    private struct Key: Hashable {
        var configuration: TLSClientConfiguration
        var caFileModified: Int  // a replaced CA file makes a new context
    }

    private static let cache = Mutex<[Key: TLSClientContext]>([:])

    /// The shared context for `configuration`, made on first use.
    public static func shared(for configuration: TLSClientConfiguration) throws(NetworkError) -> TLSClientContext {
        var modified = 0
        if let caFile = configuration.caFile {
            var info = stat()
            if stat(caFile, &info) == 0 { modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec) }
        }
        let key = Key(configuration: configuration, caFileModified: modified)
        if let existing = cache.withLock({ $0[key] }) { return existing }
        let made = try TLSClientContext(configuration)
        return cache.withLock { entries in
            if let existing = entries[key] { return existing }
            entries[key] = made
            return made
        }
    }
}
