import Network

/// A failure of the PostgreSQL driver. `kind` is what callers branch on; `fields` keeps every field of the
/// server's ErrorResponse when there was one (SQLSTATE, message, detail, hint, constraint, …).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// SQLSTATE 23505.
        case uniqueViolation
        /// 40001: the transaction may succeed when run again.
        case serializationFailure
        /// 40P01: the transaction may succeed when run again.
        case deadlock
        /// The socket dropped, the server shut down (57P01/57P02/57P03) or a connection exception (08xxx):
        /// the connection is gone and a new one may work.
        case connectionLost
        /// The server could not be reached (DNS, refused, connect timeout).
        case connectFailed
        /// The server refused the login (28xxx), or the client could not complete it (wrong server signature).
        case authenticationFailed
        /// TLS could not be set up or a certificate check failed; the message says which.
        case tls
        /// The statement outlived its deadline and was cancelled (the connection stays usable).
        case statementTimeout
        /// 57014 without our deadline: cancelled by someone else.
        case queryCanceled
        /// No pool connection became free in time.
        case poolTimeout
        /// The server broke the protocol.
        case protocolViolation
        /// A parameter could not be encoded, or the API was misused.
        case invalidArgument
        /// Any other ErrorResponse.
        case server
    }

    public let kind: Kind
    public let message: String
    /// Every field of the server's ErrorResponse, when the error came from one.
    public let fields: ServerMessageFields?

    public init(_ kind: Kind, _ message: String, fields: ServerMessageFields? = nil) {
        self.kind = kind
        self.message = message
        self.fields = fields
    }

    /// From an ErrorResponse: the kind from its SQLSTATE.
    public init(server fields: ServerMessageFields) {
        self.init(Self.kind(forSQLState: fields.sqlState), fields.message, fields: fields)
    }

    public var sqlState: String? { fields?.sqlState }
    public var constraint: String? { fields?.constraint }

    /// Running the whole transaction again may succeed.
    public var isRetryable: Bool { kind == .serializationFailure || kind == .deadlock }

    /// The connection is unusable; the pool drops it and a new connection may succeed.
    public var isConnectionLost: Bool { kind == .connectionLost || kind == .connectFailed }

    public var description: String {
        guard let fields else { return message }
        return fields.description
    }

    /// The typed kind of a SQLSTATE.
    public static func kind(forSQLState state: String) -> Kind {
        switch state {
        case "23505": .uniqueViolation
        case "40001": .serializationFailure
        case "40P01": .deadlock
        case "57P01", "57P02", "57P03": .connectionLost
        case "57014": .queryCanceled
        case _ where state.hasPrefix("08"): .connectionLost
        case _ where state.hasPrefix("28"): .authenticationFailed
        default: .server
        }
    }

    init(network error: NetworkError, doing: String) {
        switch error.kind {
        case .certificate, .tls: self.init(.tls, error.message)
        case .invalidAddress, .resolution, .connect: self.init(.connectFailed, error.message)
        case .timeout, .closed, .io: self.init(.connectionLost, "\(doing): \(error.message)")
        }
    }
}
