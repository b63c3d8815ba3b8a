/// A message from a PostgreSQL server (protocol 3.0), decoded from bytes by `BackendMessageDecoder`.
public enum BackendMessage: Equatable, Sendable {
    case authentication(AuthenticationRequest)
    case backendKeyData(processID: Int32, secretKey: Int32)
    case bindComplete
    case closeComplete
    case commandComplete(tag: String)
    case copyInResponse(CopyFormat)
    case copyOutResponse(CopyFormat)
    case copyBothResponse(CopyFormat)
    case copyData([UInt8])
    case copyDone
    /// One row: each column's bytes, nil for SQL NULL.
    case dataRow([[UInt8]?])
    case emptyQueryResponse
    case errorResponse(ServerMessageFields)
    case negotiateProtocolVersion(newestMinor: Int32, unrecognizedOptions: [String])
    case noData
    case noticeResponse(ServerMessageFields)
    case notification(processID: Int32, channel: String, payload: String)
    case parameterDescription([UInt32])
    case parameterStatus(name: String, value: String)
    case parseComplete
    case portalSuspended
    case readyForQuery(TransactionStatus)
    case rowDescription([ColumnDescription])

    /// The authentication step the server asks for.
    public enum AuthenticationRequest: Equatable, Sendable {
        case ok
        case cleartextPassword
        case md5Password(salt: [UInt8])
        case sasl(mechanisms: [String])
        case saslContinue([UInt8])
        case saslFinal([UInt8])
        /// Kerberos, GSSAPI, SSPI and other methods we do not speak.
        case unsupported(code: Int32)
    }

    /// The transaction state in ReadyForQuery: idle, inside a block, or inside a failed block.
    public enum TransactionStatus: UInt8, Equatable, Sendable {
        case idle = 0x49  // I
        case inTransaction = 0x54  // T
        case failed = 0x45  // E
    }

    /// The overall and per-column formats (0 text, 1 binary) of a COPY.
    public struct CopyFormat: Equatable, Sendable {
        public var overall: Int8
        public var columns: [Int16]

        public init(overall: Int8, columns: [Int16]) {
            self.overall = overall
            self.columns = columns
        }
    }

    /// One column of a RowDescription.
    public struct ColumnDescription: Equatable, Sendable {
        public var name: String
        public var tableOID: UInt32
        public var columnNumber: Int16
        public var typeOID: UInt32
        public var typeSize: Int16
        public var typeModifier: Int32
        public var format: Int16

        public init(name: String, tableOID: UInt32, columnNumber: Int16, typeOID: UInt32, typeSize: Int16, typeModifier: Int32, format: Int16) {
            self.name = name
            self.tableOID = tableOID
            self.columnNumber = columnNumber
            self.typeOID = typeOID
            self.typeSize = typeSize
            self.typeModifier = typeModifier
            self.format = format
        }
    }
}

/// The fields of an ErrorResponse or NoticeResponse, every one kept, keyed by the protocol's field code
/// (`C` SQLSTATE, `M` message, `D` detail, `H` hint, `n` constraint, …).
public struct ServerMessageFields: Equatable, Sendable, CustomStringConvertible {
    /// The fields in the order the server sent them.
    public var fields: [(code: UInt8, value: String)]

    public init(_ fields: [(code: UInt8, value: String)]) { self.fields = fields }

    public static func == (lhs: ServerMessageFields, rhs: ServerMessageFields) -> Bool {
        lhs.fields.count == rhs.fields.count && zip(lhs.fields, rhs.fields).allSatisfy { $0.code == $1.code && $0.value == $1.value }
    }

    /// The value of field `code` (an ASCII letter), nil when absent.
    public subscript(code: Character) -> String? {
        guard let byte = code.asciiValue else { return nil }
        return fields.first { $0.code == byte }?.value
    }

    public var sqlState: String { self["C"] ?? "" }
    public var message: String { self["M"] ?? "" }
    /// The non-localized severity (`V`, since 9.6), else the localized one.
    public var severity: String { self["V"] ?? self["S"] ?? "" }
    public var detail: String? { self["D"] }
    public var hint: String? { self["H"] }
    public var schema: String? { self["s"] }
    public var table: String? { self["t"] }
    public var column: String? { self["c"] }
    public var constraint: String? { self["n"] }

    public var description: String {
        var text = "\(severity.isEmpty ? "ERROR" : severity): \(message)"
        if !sqlState.isEmpty { text += " (SQLSTATE \(sqlState))" }
        if let detail { text += "; \(detail)" }
        return text
    }
}
