/// Turns the bytes of a server's stream into `BackendMessage`s. Pure: it never touches a socket. Feed it bytes
/// in pieces of any size; `next()` returns each complete message once, nil while one is incomplete.
///
/// ```swift
/// var decoder = BackendMessageDecoder()
/// decoder.feed(bytes)
/// while let message = try decoder.next() { handle(message) }
/// ```
public struct BackendMessageDecoder: Sendable {
    /// A message longer than this (the length field) is refused as a protocol violation.
    public var maxMessageLength: Int

    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxMessageLength: Int = 1 << 30) { self.maxMessageLength = maxMessageLength }

    /// Bytes received but not yet returned as messages.
    public var bufferedByteCount: Int { buffer.count - start }

    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536, start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil when more bytes are needed. After a throw the stream is unusable.
    public mutating func next() throws(PostgresProtocolError) -> BackendMessage? {
        let available = buffer.count - start
        guard available >= 5 else { return nil }
        let type = buffer[start]
        let length = Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8 | Int(buffer[start + 4])
        guard length >= 4 else { throw PostgresProtocolError("message '\(printable(type))' with length \(length)") }
        guard length <= maxMessageLength else {
            throw PostgresProtocolError("message '\(printable(type))' of \(length) bytes exceeds the limit of \(maxMessageLength)")
        }
        guard available >= 1 + length else { return nil }
        let bodyStart = start + 5
        let bodyEnd = start + 1 + length
        let message = try buffer.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) throws(PostgresProtocolError) -> BackendMessage in
            var reader = MessageReader(UnsafeBufferPointer(rebasing: all[bodyStart..<bodyEnd]), type: type)
            return try Self.decode(type: type, &reader)
        }
        start = bodyEnd
        return message
    }

    private static func decode(type: UInt8, _ reader: inout MessageReader) throws(PostgresProtocolError) -> BackendMessage {
        let message: BackendMessage
        switch type {
        case UInt8(ascii: "R"):
            let code = try reader.int32()
            switch code {
            case 0: message = .authentication(.ok)
            case 3: message = .authentication(.cleartextPassword)
            case 5: message = .authentication(.md5Password(salt: try reader.bytes(4)))
            case 10:
                var mechanisms: [String] = []
                while true {
                    let name = try reader.cString()
                    if name.isEmpty { break }
                    mechanisms.append(name)
                }
                message = .authentication(.sasl(mechanisms: mechanisms))
            case 11: message = .authentication(.saslContinue(reader.rest()))
            case 12: message = .authentication(.saslFinal(reader.rest()))
            default:
                _ = reader.rest()
                message = .authentication(.unsupported(code: code))
            }
        case UInt8(ascii: "K"): message = .backendKeyData(processID: try reader.int32(), secretKey: try reader.int32())
        case UInt8(ascii: "2"): message = .bindComplete
        case UInt8(ascii: "3"): message = .closeComplete
        case UInt8(ascii: "C"): message = .commandComplete(tag: try reader.cString())
        case UInt8(ascii: "G"): message = .copyInResponse(try copyFormat(&reader))
        case UInt8(ascii: "H"): message = .copyOutResponse(try copyFormat(&reader))
        case UInt8(ascii: "W"): message = .copyBothResponse(try copyFormat(&reader))
        case UInt8(ascii: "d"): message = .copyData(reader.rest())
        case UInt8(ascii: "c"): message = .copyDone
        case UInt8(ascii: "D"):
            let count = Int(try reader.int16())
            guard count >= 0 else { throw PostgresProtocolError("DataRow with \(count) columns") }
            var columns: [[UInt8]?] = []
            columns.reserveCapacity(count)
            for _ in 0..<count {
                let length = try reader.int32()
                if length == -1 {
                    columns.append(nil)
                } else {
                    guard length >= 0 else { throw PostgresProtocolError("DataRow column of length \(length)") }
                    columns.append(try reader.bytes(Int(length)))
                }
            }
            message = .dataRow(columns)
        case UInt8(ascii: "I"): message = .emptyQueryResponse
        case UInt8(ascii: "E"): message = .errorResponse(try fields(&reader))
        case UInt8(ascii: "N"): message = .noticeResponse(try fields(&reader))
        case UInt8(ascii: "v"):
            let minor = try reader.int32()
            let count = try reader.int32()
            guard count >= 0 else { throw PostgresProtocolError("NegotiateProtocolVersion with \(count) options") }
            var options: [String] = []
            for _ in 0..<count { options.append(try reader.cString()) }
            message = .negotiateProtocolVersion(newestMinor: minor, unrecognizedOptions: options)
        case UInt8(ascii: "n"): message = .noData
        case UInt8(ascii: "A"):
            message = .notification(processID: try reader.int32(), channel: try reader.cString(), payload: try reader.cString())
        case UInt8(ascii: "t"):
            let count = Int(try reader.int16())
            guard count >= 0 else { throw PostgresProtocolError("ParameterDescription with \(count) parameters") }
            var types: [UInt32] = []
            for _ in 0..<count { types.append(UInt32(bitPattern: try reader.int32())) }
            message = .parameterDescription(types)
        case UInt8(ascii: "S"): message = .parameterStatus(name: try reader.cString(), value: try reader.cString())
        case UInt8(ascii: "1"): message = .parseComplete
        case UInt8(ascii: "s"): message = .portalSuspended
        case UInt8(ascii: "Z"):
            let byte = try reader.byte()
            guard let status = BackendMessage.TransactionStatus(rawValue: byte) else {
                throw PostgresProtocolError("ReadyForQuery with status '\(printable(byte))'")
            }
            message = .readyForQuery(status)
        case UInt8(ascii: "T"):
            let count = Int(try reader.int16())
            guard count >= 0 else { throw PostgresProtocolError("RowDescription with \(count) columns") }
            var columns: [BackendMessage.ColumnDescription] = []
            for _ in 0..<count {
                columns.append(BackendMessage.ColumnDescription(
                    name: try reader.cString(), tableOID: UInt32(bitPattern: try reader.int32()), columnNumber: try reader.int16(),
                    typeOID: UInt32(bitPattern: try reader.int32()), typeSize: try reader.int16(), typeModifier: try reader.int32(),
                    format: try reader.int16()))
            }
            message = .rowDescription(columns)
        default:
            throw PostgresProtocolError("unknown message type '\(printable(type))'")
        }
        guard reader.isAtEnd else { throw PostgresProtocolError("message '\(printable(type))' has \(reader.remaining) bytes too many") }
        return message
    }

    private static func copyFormat(_ reader: inout MessageReader) throws(PostgresProtocolError) -> BackendMessage.CopyFormat {
        let overall = Int8(bitPattern: try reader.byte())
        let count = Int(try reader.int16())
        guard count >= 0 else { throw PostgresProtocolError("copy response with \(count) columns") }
        var columns: [Int16] = []
        for _ in 0..<count { columns.append(try reader.int16()) }
        return BackendMessage.CopyFormat(overall: overall, columns: columns)
    }

    private static func fields(_ reader: inout MessageReader) throws(PostgresProtocolError) -> ServerMessageFields {
        var fields: [(code: UInt8, value: String)] = []
        while true {
            let code = try reader.byte()
            if code == 0 { break }
            fields.append((code, try reader.cString()))
        }
        return ServerMessageFields(fields)
    }
}

func printable(_ byte: UInt8) -> String {
    (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
}

/// Reads big-endian integers and C strings from one message body; every read is bounds-checked.
struct MessageReader {
    private let body: UnsafeBufferPointer<UInt8>
    private let type: UInt8
    private var offset = 0

    init(_ body: UnsafeBufferPointer<UInt8>, type: UInt8) {
        self.body = body
        self.type = type
    }

    var isAtEnd: Bool { offset == body.count }
    var remaining: Int { body.count - offset }

    private func short(_ what: String) -> PostgresProtocolError {
        PostgresProtocolError("message '\(printable(type))' ends inside \(what)")
    }

    mutating func byte() throws(PostgresProtocolError) -> UInt8 {
        guard remaining >= 1 else { throw short("a byte") }
        defer { offset += 1 }
        return body[offset]
    }

    mutating func int16() throws(PostgresProtocolError) -> Int16 {
        guard remaining >= 2 else { throw short("an Int16") }
        defer { offset += 2 }
        return Int16(bitPattern: UInt16(body[offset]) << 8 | UInt16(body[offset + 1]))
    }

    mutating func int32() throws(PostgresProtocolError) -> Int32 {
        guard remaining >= 4 else { throw short("an Int32") }
        defer { offset += 4 }
        let value = UInt32(body[offset]) << 24 | UInt32(body[offset + 1]) << 16 | UInt32(body[offset + 2]) << 8 | UInt32(body[offset + 3])
        return Int32(bitPattern: value)
    }

    mutating func bytes(_ count: Int) throws(PostgresProtocolError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw short("a field of \(count) bytes") }
        defer { offset += count }
        return Array(body[offset..<(offset + count)])
    }

    mutating func cString() throws(PostgresProtocolError) -> String {
        guard let end = body[offset...].firstIndex(of: 0) else { throw short("a string") }
        defer { offset = end + 1 }
        return String(decoding: body[offset..<end], as: UTF8.self)
    }

    mutating func rest() -> [UInt8] {
        defer { offset = body.count }
        return Array(body[offset...])
    }
}
