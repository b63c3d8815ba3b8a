/// Appends protocol messages to a byte buffer: the frontend's messages the driver sends, and (for tests and the
/// fuzzer) the backend's, through `BackendMessage.encode(into:)`. Pure: bytes in memory, no socket.
public struct MessageWriter: Sendable {
    public var bytes: [UInt8] = []

    public init() {}

    // MARK: Primitives

    public mutating func int16(_ value: Int16) {
        let bits = UInt16(bitPattern: value)
        bytes.append(UInt8(bits >> 8))
        bytes.append(UInt8(bits & 0xFF))
    }

    public mutating func int32(_ value: Int32) {
        let bits = UInt32(bitPattern: value)
        bytes.append(UInt8(bits >> 24))
        bytes.append(UInt8((bits >> 16) & 0xFF))
        bytes.append(UInt8((bits >> 8) & 0xFF))
        bytes.append(UInt8(bits & 0xFF))
    }

    /// A NUL-terminated string (a NUL inside `text` would end it early: callers pass SQL and names, which have none).
    public mutating func cString(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        bytes.append(0)
    }

    /// Starts a message of `type` (0 = the type-less startup packets); returns where its length goes.
    public mutating func begin(_ type: UInt8?) -> Int {
        if let type { bytes.append(type) }
        let at = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        return at
    }

    /// Writes the length of the message begun at `at`.
    public mutating func end(_ at: Int) {
        let length = UInt32(bytes.count - at)
        bytes[at] = UInt8(length >> 24)
        bytes[at + 1] = UInt8((length >> 16) & 0xFF)
        bytes[at + 2] = UInt8((length >> 8) & 0xFF)
        bytes[at + 3] = UInt8(length & 0xFF)
    }

    // MARK: Frontend messages

    /// StartupMessage for protocol 3.0 with `parameters` (user, database, application_name, …).
    public mutating func startup(_ parameters: [(String, String)]) {
        let at = begin(nil)
        int32(196_608)
        for (name, value) in parameters {
            cString(name)
            cString(value)
        }
        bytes.append(0)
        end(at)
    }

    /// SSLRequest: the server answers one byte, `S` (go on with TLS) or `N`.
    public mutating func sslRequest() {
        let at = begin(nil)
        int32(80_877_103)
        end(at)
    }

    /// CancelRequest, sent on a new connection.
    public mutating func cancelRequest(processID: Int32, secretKey: Int32) {
        let at = begin(nil)
        int32(80_877_102)
        int32(processID)
        int32(secretKey)
        end(at)
    }

    /// PasswordMessage (cleartext or `md5…`).
    public mutating func password(_ text: String) {
        let at = begin(UInt8(ascii: "p"))
        cString(text)
        end(at)
    }

    public mutating func saslInitialResponse(mechanism: String, data: [UInt8]) {
        let at = begin(UInt8(ascii: "p"))
        cString(mechanism)
        int32(Int32(data.count))
        bytes.append(contentsOf: data)
        end(at)
    }

    public mutating func saslResponse(_ data: [UInt8]) {
        let at = begin(UInt8(ascii: "p"))
        bytes.append(contentsOf: data)
        end(at)
    }

    /// Query: the simple query protocol.
    public mutating func query(_ sql: String) {
        let at = begin(UInt8(ascii: "Q"))
        cString(sql)
        end(at)
    }

    public mutating func parse(statement: String, sql: String, parameterTypes: [UInt32]) {
        let at = begin(UInt8(ascii: "P"))
        cString(statement)
        cString(sql)
        int16(Int16(parameterTypes.count))
        for type in parameterTypes { int32(Int32(bitPattern: type)) }
        end(at)
    }

    /// Bind with one format code per parameter and per result column.
    public mutating func bind(portal: String, statement: String, parameterFormats: [Int16], parameters: [[UInt8]?], resultFormats: [Int16]) {
        let at = begin(UInt8(ascii: "B"))
        cString(portal)
        cString(statement)
        int16(Int16(parameterFormats.count))
        for format in parameterFormats { int16(format) }
        int16(Int16(parameters.count))
        for parameter in parameters {
            if let parameter {
                int32(Int32(parameter.count))
                bytes.append(contentsOf: parameter)
            } else {
                int32(-1)
            }
        }
        int16(Int16(resultFormats.count))
        for format in resultFormats { int16(format) }
        end(at)
    }

    /// Describe a statement (`S`) or a portal (`P`).
    public mutating func describe(_ kind: UInt8, name: String) {
        let at = begin(UInt8(ascii: "D"))
        bytes.append(kind)
        cString(name)
        end(at)
    }

    public mutating func execute(portal: String, maxRows: Int32 = 0) {
        let at = begin(UInt8(ascii: "E"))
        cString(portal)
        int32(maxRows)
        end(at)
    }

    /// Close a statement (`S`) or a portal (`P`).
    public mutating func close(_ kind: UInt8, name: String) {
        let at = begin(UInt8(ascii: "C"))
        bytes.append(kind)
        cString(name)
        end(at)
    }

    public mutating func sync() { bytes.append(contentsOf: [UInt8(ascii: "S"), 0, 0, 0, 4]) }
    public mutating func flush() { bytes.append(contentsOf: [UInt8(ascii: "H"), 0, 0, 0, 4]) }
    public mutating func terminate() { bytes.append(contentsOf: [UInt8(ascii: "X"), 0, 0, 0, 4]) }
    public mutating func copyDone() { bytes.append(contentsOf: [UInt8(ascii: "c"), 0, 0, 0, 4]) }

    public mutating func copyData(_ data: some Collection<UInt8>) {
        let at = begin(UInt8(ascii: "d"))
        bytes.append(contentsOf: data)
        end(at)
    }

    public mutating func copyFail(_ reason: String) {
        let at = begin(UInt8(ascii: "f"))
        cString(reason)
        end(at)
    }
}

extension BackendMessage {
    /// The message's wire bytes, as a server sends them (tests and the fuzzer use it; the driver only decodes).
    public func encode(into writer: inout MessageWriter) {
        func simple(_ type: Character) { writer.end(writer.begin(type.asciiValue!)) }
        switch self {
        case .authentication(let request):
            let at = writer.begin(UInt8(ascii: "R"))
            switch request {
            case .ok: writer.int32(0)
            case .cleartextPassword: writer.int32(3)
            case .md5Password(let salt):
                writer.int32(5)
                writer.bytes.append(contentsOf: salt)
            case .sasl(let mechanisms):
                writer.int32(10)
                for mechanism in mechanisms { writer.cString(mechanism) }
                writer.bytes.append(0)
            case .saslContinue(let data):
                writer.int32(11)
                writer.bytes.append(contentsOf: data)
            case .saslFinal(let data):
                writer.int32(12)
                writer.bytes.append(contentsOf: data)
            case .unsupported(let code): writer.int32(code)
            }
            writer.end(at)
        case .backendKeyData(let processID, let secretKey):
            let at = writer.begin(UInt8(ascii: "K"))
            writer.int32(processID)
            writer.int32(secretKey)
            writer.end(at)
        case .bindComplete: simple("2")
        case .closeComplete: simple("3")
        case .commandComplete(let tag):
            let at = writer.begin(UInt8(ascii: "C"))
            writer.cString(tag)
            writer.end(at)
        case .copyInResponse(let format): Self.encodeCopy("G", format, &writer)
        case .copyOutResponse(let format): Self.encodeCopy("H", format, &writer)
        case .copyBothResponse(let format): Self.encodeCopy("W", format, &writer)
        case .copyData(let data):
            let at = writer.begin(UInt8(ascii: "d"))
            writer.bytes.append(contentsOf: data)
            writer.end(at)
        case .copyDone: simple("c")
        case .dataRow(let columns):
            let at = writer.begin(UInt8(ascii: "D"))
            writer.int16(Int16(columns.count))
            for column in columns {
                if let column {
                    writer.int32(Int32(column.count))
                    writer.bytes.append(contentsOf: column)
                } else {
                    writer.int32(-1)
                }
            }
            writer.end(at)
        case .emptyQueryResponse: simple("I")
        case .errorResponse(let fields): Self.encodeFields("E", fields, &writer)
        case .noticeResponse(let fields): Self.encodeFields("N", fields, &writer)
        case .negotiateProtocolVersion(let minor, let options):
            let at = writer.begin(UInt8(ascii: "v"))
            writer.int32(minor)
            writer.int32(Int32(options.count))
            for option in options { writer.cString(option) }
            writer.end(at)
        case .noData: simple("n")
        case .notification(let processID, let channel, let payload):
            let at = writer.begin(UInt8(ascii: "A"))
            writer.int32(processID)
            writer.cString(channel)
            writer.cString(payload)
            writer.end(at)
        case .parameterDescription(let types):
            let at = writer.begin(UInt8(ascii: "t"))
            writer.int16(Int16(types.count))
            for type in types { writer.int32(Int32(bitPattern: type)) }
            writer.end(at)
        case .parameterStatus(let name, let value):
            let at = writer.begin(UInt8(ascii: "S"))
            writer.cString(name)
            writer.cString(value)
            writer.end(at)
        case .parseComplete: simple("1")
        case .portalSuspended: simple("s")
        case .readyForQuery(let status):
            let at = writer.begin(UInt8(ascii: "Z"))
            writer.bytes.append(status.rawValue)
            writer.end(at)
        case .rowDescription(let columns):
            let at = writer.begin(UInt8(ascii: "T"))
            writer.int16(Int16(columns.count))
            for column in columns {
                writer.cString(column.name)
                writer.int32(Int32(bitPattern: column.tableOID))
                writer.int16(column.columnNumber)
                writer.int32(Int32(bitPattern: column.typeOID))
                writer.int16(column.typeSize)
                writer.int32(column.typeModifier)
                writer.int16(column.format)
            }
            writer.end(at)
        }
    }

    /// The message's wire bytes.
    public var encoded: [UInt8] {
        var writer = MessageWriter()
        encode(into: &writer)
        return writer.bytes
    }

    private static func encodeCopy(_ type: Character, _ format: CopyFormat, _ writer: inout MessageWriter) {
        let at = writer.begin(type.asciiValue!)
        writer.bytes.append(UInt8(bitPattern: format.overall))
        writer.int16(Int16(format.columns.count))
        for column in format.columns { writer.int16(column) }
        writer.end(at)
    }

    private static func encodeFields(_ type: Character, _ fields: ServerMessageFields, _ writer: inout MessageWriter) {
        let at = writer.begin(type.asciiValue!)
        for field in fields.fields {
            writer.bytes.append(field.code)
            writer.cString(field.value)
        }
        writer.bytes.append(0)
        writer.end(at)
    }
}
