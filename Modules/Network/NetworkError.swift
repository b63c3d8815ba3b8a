/// A failure of the network client stack, with a message meant for people
/// ("connect to db.example.com:5432 timed out after 10 s", "TLS certificate verification failed for db: hostname mismatch").
public struct NetworkError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for callers that react differently (retry on `.connect`, report `.certificate` as a TLS check).
    public enum Kind: Sendable, Equatable {
        case invalidAddress
        case resolution
        case connect
        case timeout
        /// The peer closed the connection (or reset it) where more was expected.
        case closed
        case io
        case tls
        /// The peer's certificate failed a check (chain or host name); the message names it.
        case certificate
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
