import Network
import COpenSSL

/// Why TLS could not be set up or a TLS connection failed. Loading errors name the file and OpenSSL's reason,
/// so a misconfigured certificate is refused at startup (or at reload) with a message an operator can act on.
public enum TLSError: Error, Equatable, CustomStringConvertible {
    /// The certificate file (PEM chain) is missing or unreadable as PEM.
    case certificate(path: String, reason: String)
    /// The private key file is missing, encrypted, or unreadable as PEM.
    case privateKey(path: String, reason: String)
    /// The private key does not belong to the certificate.
    case keyMismatch(certificate: String, privateKey: String)
    /// OpenSSL refused to build a context or a session (out of memory, bad settings).
    case setup(String)
    /// The peer broke the protocol: a bad record, a failed handshake, an unexpected message.
    case protocolError(String)

    public var description: String {
        switch self {
        case .certificate(let path, let reason): "TLS certificate \(path): \(reason)"
        case .privateKey(let path, let reason): "TLS private key \(path): \(reason)"
        case .keyMismatch(let certificate, let privateKey): "TLS private key \(privateKey) does not match the certificate \(certificate)"
        case .setup(let reason): "TLS setup failed: \(reason)"
        case .protocolError(let reason): "TLS protocol error: \(reason)"
        }
    }

    /// OpenSSL's queued error reasons, oldest first, joined (and the queue cleared), or `fallback` when it is empty.
    static func drainOpenSSLErrors(_ fallback: String) -> String {
        let text = Crypto.drainOpenSSLErrors()
        return text == "unknown error" ? fallback : text
    }
}
