import Testing
@testable import Postgres

/// The decoder is fed each message whole, one byte at a time, and all of them concatenated, as a socket might deliver them.
@Suite struct BackendMessageDecoderTests {
    static let column = BackendMessage.ColumnDescription(name: "id", tableOID: 16_384, columnNumber: 1, typeOID: PostgresType.int8, typeSize: 8,
                                                         typeModifier: -1, format: 1)
    static let messages: [BackendMessage] = [
        .authentication(.ok),
        .authentication(.cleartextPassword),
        .authentication(.md5Password(salt: [1, 2, 3, 4])),
        .authentication(.sasl(mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])),
        .authentication(.saslContinue(Array("r=abc,s=c2FsdA==,i=4096".utf8))),
        .authentication(.saslFinal(Array("v=c2ln".utf8))),
        .authentication(.unsupported(code: 7)),
        .backendKeyData(processID: 4242, secretKey: -17),
        .bindComplete, .closeComplete, .parseComplete, .noData, .emptyQueryResponse, .portalSuspended, .copyDone,
        .commandComplete(tag: "INSERT 0 3"),
        .copyInResponse(.init(overall: 0, columns: [0, 0, 0])),
        .copyOutResponse(.init(overall: 1, columns: [1])),
        .copyBothResponse(.init(overall: 0, columns: [])),
        .copyData([0, 1, 2, 0xFF]),
        .dataRow([[0, 0, 0, 1], nil, [], Array("text é".utf8)]),
        .errorResponse(ServerMessageFields([(UInt8(ascii: "S"), "ERROR"), (UInt8(ascii: "V"), "ERROR"), (UInt8(ascii: "C"), "23505"),
                                            (UInt8(ascii: "M"), "duplicate key value violates unique constraint \"t_k_key\""),
                                            (UInt8(ascii: "D"), "Key (k)=(1) already exists."), (UInt8(ascii: "n"), "t_k_key")])),
        .noticeResponse(ServerMessageFields([(UInt8(ascii: "S"), "NOTICE"), (UInt8(ascii: "M"), "hello")])),
        .negotiateProtocolVersion(newestMinor: 0, unrecognizedOptions: ["_pq_.x"]),
        .notification(processID: 99, channel: "events", payload: "{\"a\":1}"),
        .parameterDescription([23, 25, 17]),
        .parameterStatus(name: "server_version", value: "15.8"),
        .readyForQuery(.idle), .readyForQuery(.inTransaction), .readyForQuery(.failed),
        .rowDescription([column, .init(name: "名前", tableOID: 0, columnNumber: 0, typeOID: 25, typeSize: -1, typeModifier: -1, format: 0)]),
    ]

    /// Decodes `bytes` fed in pieces of `piece` bytes; returns the messages in order.
    private func decode(_ bytes: [UInt8], piece: Int) throws -> [BackendMessage] {
        var decoder = BackendMessageDecoder()
        var messages: [BackendMessage] = []
        var offset = 0
        while offset < bytes.count {
            decoder.feed(bytes[offset..<min(bytes.count, offset + piece)])
            offset += piece
            while let message = try decoder.next() { messages.append(message) }
        }
        #expect(decoder.bufferedByteCount == 0)
        return messages
    }

    @Test func everyMessageDecodesWholeDripFedAndConcatenated() throws {
        for message in Self.messages {
            #expect(try decode(message.encoded, piece: 1 << 20) == [message])
            #expect(try decode(message.encoded, piece: 1) == [message])
        }
        let all = Self.messages.flatMap(\.encoded)
        #expect(try decode(all, piece: 1) == Self.messages)
        #expect(try decode(all, piece: 7) == Self.messages)
        #expect(try decode(all, piece: all.count) == Self.messages)
    }

    @Test func anIncompleteMessageWaitsForMoreBytes() throws {
        var decoder = BackendMessageDecoder()
        let bytes = BackendMessage.commandComplete(tag: "SELECT 1").encoded
        decoder.feed(bytes.dropLast())
        #expect(try decoder.next() == nil)
        decoder.feed(bytes.suffix(1))
        #expect(try decoder.next() == .commandComplete(tag: "SELECT 1"))
        #expect(try decoder.next() == nil)
    }

    @Test func malformedMessagesAreProtocolErrors() {
        let cases: [[UInt8]] = [
            [UInt8(ascii: "?"), 0, 0, 0, 4],  // unknown type
            [UInt8(ascii: "Z"), 0, 0, 0, 3],  // length below 4
            [UInt8(ascii: "Z"), 0, 0, 0, 5, UInt8(ascii: "X")],  // bad transaction status
            [UInt8(ascii: "K"), 0, 0, 0, 6, 0, 0],  // ends inside an Int32
            [UInt8(ascii: "C"), 0, 0, 0, 6, 0x41, 0x42],  // string without NUL
            [UInt8(ascii: "1"), 0, 0, 0, 5, 0],  // a byte too many
            [UInt8(ascii: "D"), 0, 0, 0, 10, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE],  // column length -2
            [UInt8(ascii: "D"), 0, 0, 0, 10, 0, 1, 0, 0, 0, 9],  // column longer than the message
        ]
        for bytes in cases {
            var decoder = BackendMessageDecoder()
            decoder.feed(bytes)
            #expect(throws: PostgresProtocolError.self, "\(bytes)") { try decoder.next() }
        }
    }

    @Test func aLengthOverTheLimitIsRefusedBeforeItsBytesArrive() {
        var decoder = BackendMessageDecoder(maxMessageLength: 1024)
        decoder.feed([UInt8(ascii: "d"), 0, 0, 0x10, 0])
        #expect(throws: PostgresProtocolError.self) { try decoder.next() }
    }
}
