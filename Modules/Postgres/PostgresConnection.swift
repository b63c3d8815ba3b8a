import Foundation
import Network

/// One connection to a PostgreSQL server: the v3 protocol over TCP (optionally TLS), synchronous, for one thread at
/// a time (not `Sendable`; the pool hands it to one closure at a time). Statements are prepared once per
/// connection and cached by their SQL text; parameters and results travel in binary where the type allows.
///
/// ```swift
/// let connection = try PostgresConnection.connect(try PostgresConfiguration(url: "postgres://app@db/iot"))
/// let rows = try connection.query("SELECT id, name FROM items WHERE owner = $1", [.int(7)]).rows
/// try connection.transaction { tx in try tx.execute("UPDATE items SET name = $1 WHERE id = $2", [.text("a"), .int(1)]) }
/// ```
public final class PostgresConnection {
    public let configuration: PostgresConfiguration
    let stream: NetworkStream
    var decoder = BackendMessageDecoder()
    var output = MessageWriter()

    public private(set) var processID: Int32 = 0
    var secretKey: Int32 = 0
    /// The server's ParameterStatus values (server_version, TimeZone, …).
    public internal(set) var serverParameters: [String: String] = [:]
    /// The transaction state the server last reported.
    public internal(set) var transactionStatus: BackendMessage.TransactionStatus = .idle
    /// True once the connection cannot be used any more (socket lost, protocol broken, server shut down).
    public internal(set) var isBroken = false

    /// Called for each NOTIFY as it is read (possibly in the middle of a statement: it must not use the connection);
    /// when nil, notifications queue for `waitForNotifications`.
    public var onNotification: ((PostgresNotification) -> Void)?
    /// Called for each NoticeResponse (warnings); ignored when nil.
    public var onNotice: ((ServerMessageFields) -> Void)?
    var queuedNotifications: [PostgresNotification] = []

    /// The deadline of statements run without an explicit timeout (nil = none).
    public var defaultStatementTimeout: Double?
    /// After sending a CancelRequest, how long to wait for the server to give up the statement before
    /// declaring the connection lost.
    public var cancelGrace: Double = 5
    /// A write waits at most this long when the operation has no deadline.
    public var writeTimeout: Double = 60
    /// Prepared statements kept per connection; when full, all are closed and the cache starts again.
    public var maxCachedStatements = 512

    struct PreparedStatement {
        let name: String
        let parameterTypes: [UInt32]
        let columns: PostgresColumns
        let descriptions: [BackendMessage.ColumnDescription]
        let resultFormats: [Int16]
    }

    var statements: [String: PreparedStatement] = [:]
    var statementCounter = 0
    /// A FATAL ErrorResponse: the session is ending (reported when the socket then closes).
    var fatalFields: ServerMessageFields?
    /// The server refused a COPY while rows were still being sent.
    var copyFailure: PostgresError?

    // The running operation's deadline and whether a CancelRequest went out for it.
    var operationDeadline: Deadline = .never
    var operationTimeout: Double?
    var cancellable = false
    var cancelSent = false

    private init(configuration: PostgresConfiguration, stream: NetworkStream) {
        self.configuration = configuration
        self.stream = stream
    }

    deinit { close() }

    /// A token to cancel this connection's running statement from another thread.
    public var cancelToken: PostgresCancelToken {
        PostgresCancelToken(configuration: configuration, processID: processID, secretKey: secretKey)
    }

    /// True when the session runs over TLS.
    public var isTLS: Bool { stream.isTLS }

    // MARK: Connecting

    /// Connects, negotiates TLS as `sslmode` says, and logs in (SCRAM-SHA-256, MD5, cleartext or trust), all within
    /// `connect_timeout`. Failures carry PostgreSQL's own message (wrong password, unknown database, …).
    public static func connect(_ configuration: PostgresConfiguration) throws(PostgresError) -> PostgresConnection {
        let deadline = Deadline.after(seconds: configuration.connectTimeout)
        let stream: NetworkStream
        do {
            stream = try NetworkStream.connect(host: configuration.host, port: configuration.port, timeout: configuration.connectTimeout)
        } catch {
            throw PostgresError(.connectFailed, "cannot connect to PostgreSQL at \(configuration.host):\(configuration.port): \(error.message)")
        }
        stream.timeout = nil  // every call below passes its own deadline
        do {
            if configuration.sslMode != .disable { try negotiateTLS(stream, configuration, deadline: deadline) }
        } catch {
            stream.close()
            throw error
        }
        let connection = PostgresConnection(configuration: configuration, stream: stream)
        connection.operationDeadline = deadline
        do {
            try connection.startup()
        } catch {
            connection.close()
            if error.kind == .connectionLost, deadline.hasPassed {
                throw PostgresError(.connectFailed, "PostgreSQL at \(configuration.host):\(configuration.port) did not complete the login within "
                    + "connect_timeout (\(configuration.connectTimeout) s)")
            }
            throw error
        }
        connection.operationDeadline = .never
        return connection
    }

    private static func negotiateTLS(_ stream: NetworkStream, _ configuration: PostgresConfiguration, deadline: Deadline) throws(PostgresError) {
        var writer = MessageWriter()
        writer.sslRequest()
        let answer: [UInt8]
        do {
            try stream.write(writer.bytes, deadline: deadline)
            answer = try stream.read(exactly: 1, deadline: deadline)
        } catch {
            throw PostgresError(.connectFailed, "TLS negotiation with \(configuration.host):\(configuration.port) failed: \(error.message)")
        }
        switch answer[0] {
        case UInt8(ascii: "S"):
            let verification: TLSClientConfiguration.Verification
            switch configuration.sslMode {
            case .disable, .prefer: verification = .none
            case .require: verification = configuration.sslRootCert == nil ? .none : .certificate
            case .verifyCA: verification = .certificate
            case .verifyFull: verification = .full
            }
            do {
                let context = try TLSClientContext.shared(for: TLSClientConfiguration(verification: verification, caFile: configuration.sslRootCert))
                try stream.startTLS(context: context, serverName: configuration.host, deadline: deadline)
            } catch {
                let kind: PostgresError.Kind = error.kind == .timeout || error.kind == .closed ? .connectFailed : .tls
                throw PostgresError(kind, "TLS with PostgreSQL at \(configuration.host):\(configuration.port) failed (sslmode="
                    + "\(configuration.sslMode.rawValue)): \(error.message)")
            }
        case UInt8(ascii: "N"):
            guard configuration.sslMode == .prefer else {
                throw PostgresError(.tls, "PostgreSQL at \(configuration.host):\(configuration.port) does not accept TLS "
                    + "(sslmode=\(configuration.sslMode.rawValue) requires it)")
            }
        default:
            throw PostgresError(.protocolViolation, "unexpected answer to SSLRequest from \(configuration.host):\(configuration.port)")
        }
    }

    private func startup() throws(PostgresError) {
        var parameters = [("user", configuration.user), ("database", configuration.database), ("client_encoding", "UTF8"),
                          ("DateStyle", "ISO")]
        if let name = configuration.applicationName { parameters.append(("application_name", name)) }
        output.startup(parameters)
        try flush()
        var scram: SCRAMClient?
        var scramVerified = false
        while true {
            let message = try receive()
            switch message {
            case .authentication(let request):
                switch request {
                case .ok: continue
                case .cleartextPassword:
                    output.password(try requirePassword())
                    try flush()
                case .md5Password(let salt):
                    let password = try requirePassword()
                    let inner = Crypto.hex(Crypto.md5(Array((password + configuration.user).utf8)))
                    output.password("md5" + Crypto.hex(Crypto.md5(Array(inner.utf8) + salt)))
                    try flush()
                case .sasl(let mechanisms):
                    guard mechanisms.contains("SCRAM-SHA-256") else {
                        throw PostgresError(.authenticationFailed, "the server offers SASL mechanisms \(mechanisms) but not SCRAM-SHA-256")
                    }
                    var client = SCRAMClient(password: try requirePassword())
                    output.saslInitialResponse(mechanism: "SCRAM-SHA-256", data: Array(client.clientFirstMessage().utf8))
                    scram = client
                    try flush()
                case .saslContinue(let data):
                    guard var client = scram else { throw PostgresError(.protocolViolation, "SASL continue without a SASL start") }
                    let final = try client.clientFinalMessage(serverFirst: String(decoding: data, as: UTF8.self))
                    scram = client
                    output.saslResponse(Array(final.utf8))
                    try flush()
                case .saslFinal(let data):
                    guard let client = scram else { throw PostgresError(.protocolViolation, "SASL final without a SASL start") }
                    try client.verify(serverFinal: String(decoding: data, as: UTF8.self))
                    scramVerified = true
                case .unsupported(let code):
                    throw PostgresError(.authenticationFailed, "the server asks for an authentication method we do not support (code \(code))")
                }
            case .backendKeyData(let processID, let secretKey):
                self.processID = processID
                self.secretKey = secretKey
            case .readyForQuery(let status):
                // A server that skips SCRAM's final message has not proven it knows the password.
                if scram != nil, !scramVerified {
                    throw PostgresError(.authenticationFailed, "the server ended SCRAM without proving it knows the password")
                }
                transactionStatus = status
                return
            case .errorResponse(let fields):
                isBroken = true
                throw PostgresError(server: fields)
            case .negotiateProtocolVersion:
                continue  // we ask for no protocol options; 3.0 itself is accepted
            default:
                throw PostgresError(.protocolViolation, "unexpected message during login: \(message)")
            }
        }
    }

    private func requirePassword() throws(PostgresError) -> String {
        guard let password = configuration.password else {
            throw PostgresError(.authenticationFailed, "the server asks for a password for user \"\(configuration.user)\" and none was given "
                + "(in the URL or IOT_DB_PASSWORD)")
        }
        return password
    }

    /// Ends the session (Terminate when the connection is sound) and closes the socket. Safe to call twice.
    public func close() {
        if !stream.isClosed, !isBroken {
            var writer = MessageWriter()
            writer.terminate()
            try? stream.write(writer.bytes, deadline: .after(seconds: 1))
        }
        isBroken = true
        stream.close()
    }

    // MARK: Sending and receiving

    /// Sends everything in `output`.
    func flush() throws(PostgresError) {
        guard !isBroken else { throw PostgresError(.connectionLost, "the connection to PostgreSQL is closed") }
        let bytes = output.bytes
        output.bytes.removeAll(keepingCapacity: true)
        do {
            try stream.write(bytes, deadline: operationDeadline.isNever ? .after(seconds: writeTimeout) : operationDeadline)
        } catch {
            isBroken = true
            throw PostgresError(network: error, doing: "sending to PostgreSQL")
        }
    }

    /// The next message that answers the running operation; NOTIFYs, notices and parameter changes are handled on
    /// the way. When the operation's deadline passes, a CancelRequest goes out and the server gets `cancelGrace`
    /// seconds to answer.
    func receive() throws(PostgresError) -> BackendMessage {
        while true {
            if let message = try nextMessage() {
                if case .errorResponse(let fields) = message, fields.severity == "FATAL" || fields.severity == "PANIC" {
                    // The server closes the session after a fatal error; its message explains the end of stream.
                    fatalFields = fields
                }
                return message
            }
            try fill(deadline: operationDeadline, cancelOnTimeout: true)
        }
    }

    /// Decodes the next buffered message, handling asynchronous ones; nil when more bytes are needed.
    func nextMessage() throws(PostgresError) -> BackendMessage? {
        while true {
            let decoded: BackendMessage?
            do {
                decoded = try decoder.next()
            } catch {
                isBroken = true
                throw PostgresError(.protocolViolation, "PostgreSQL sent bytes we cannot read: \(error.message)")
            }
            guard let message = decoded else { return nil }
            switch message {
            case .parameterStatus(let name, let value): serverParameters[name] = value
            case .noticeResponse(let fields): onNotice?(fields)
            case .notification(let processID, let channel, let payload):
                let notification = PostgresNotification(processID: processID, channel: channel, payload: payload)
                if let onNotification { onNotification(notification) } else { queuedNotifications.append(notification) }
            default: return message
            }
        }
    }

    /// Reads more bytes into the decoder by `deadline`.
    func fill(deadline: Deadline, cancelOnTimeout: Bool) throws(PostgresError) {
        var limit = deadline
        while true {
            do {
                let bytes = try stream.read(max: 65536, deadline: limit)
                if bytes.isEmpty {
                    isBroken = true
                    if let fatalFields { throw PostgresError(.connectionLost, fatalFields.message, fields: fatalFields) }
                    throw PostgresError(.connectionLost, "PostgreSQL closed the connection")
                }
                decoder.feed(bytes)
                return
            } catch let error as PostgresError {
                throw error
            } catch let error as NetworkError {
                if error.kind == .timeout, cancelOnTimeout, cancellable, !cancelSent {
                    cancelSent = true
                    try? cancelToken.cancel()
                    limit = .after(seconds: cancelGrace)
                    operationDeadline = limit
                    continue
                }
                isBroken = true
                if error.kind == .timeout, cancelSent {
                    throw PostgresError(.connectionLost, "PostgreSQL did not give up a statement within \(cancelGrace) s of a cancel request")
                }
                throw PostgresError(network: error, doing: "reading from PostgreSQL")
            } catch {
                isBroken = true
                throw PostgresError(.connectionLost, "reading from PostgreSQL failed: \(error)")
            }
        }
    }

    /// Reads until ReadyForQuery (after an error, the server skips to Sync).
    func drainUntilReady() throws(PostgresError) {
        while true {
            if case .readyForQuery(let status) = try receive() {
                transactionStatus = status
                return
            }
        }
    }

    /// Starts an operation with a deadline of `timeout` seconds (or the default); statements past it are cancelled.
    func beginOperation(timeout: Double?) throws(PostgresError) {
        guard !isBroken else { throw PostgresError(.connectionLost, "the connection to PostgreSQL is closed") }
        operationTimeout = timeout ?? defaultStatementTimeout
        operationDeadline = .after(seconds: operationTimeout)
        cancellable = true
        cancelSent = false
    }

    func endOperation() {
        operationDeadline = .never
        operationTimeout = nil
        cancellable = false
        cancelSent = false
    }

    /// An ErrorResponse as a typed error; a 57014 caused by our own deadline becomes `.statementTimeout`.
    func error(from fields: ServerMessageFields) -> PostgresError {
        if fields.sqlState == "57014", cancelSent {
            return PostgresError(.statementTimeout, "the statement outlived its deadline of \(operationTimeout ?? 0) s and was cancelled",
                                 fields: fields)
        }
        return PostgresError(server: fields)
    }
}
