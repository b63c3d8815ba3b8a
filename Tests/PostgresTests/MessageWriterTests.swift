import Testing
@testable import Postgres

@Suite struct MessageWriterTests {
    @Test func startupAndSpecialPacketsHaveTheDocumentedLayout() {
        var writer = MessageWriter()
        writer.startup([("user", "u")])
        // length 4 + version 4 + "user\0u\0" 7 + terminator 1 = 16
        #expect(writer.bytes == [0, 0, 0, 16, 0, 3, 0, 0] + Array("user\0u\0".utf8) + [0])
        writer = MessageWriter()
        writer.sslRequest()
        #expect(writer.bytes == [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F])
        writer = MessageWriter()
        writer.cancelRequest(processID: 1, secretKey: 2)
        #expect(writer.bytes == [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1, 0, 0, 0, 2])
    }

    @Test func extendedQueryMessages() {
        var writer = MessageWriter()
        writer.parse(statement: "s1", sql: "SELECT $1", parameterTypes: [23])
        #expect(writer.bytes == [UInt8(ascii: "P"), 0, 0, 0, 23] + Array("s1\0SELECT $1\0".utf8) + [0, 1, 0, 0, 0, 23])
        writer = MessageWriter()
        writer.bind(portal: "", statement: "s1", parameterFormats: [1], parameters: [[0, 0, 0, 5], nil], resultFormats: [1])
        #expect(writer.bytes == [UInt8(ascii: "B"), 0, 0, 0, 30, 0] + Array("s1\0".utf8) + [0, 1, 0, 1, 0, 2, 0, 0, 0, 4, 0, 0, 0, 5,
                                                                                              0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 1])
        writer = MessageWriter()
        writer.execute(portal: "")
        writer.sync()
        #expect(writer.bytes == [UInt8(ascii: "E"), 0, 0, 0, 9, 0, 0, 0, 0, 0, UInt8(ascii: "S"), 0, 0, 0, 4])
    }

    @Test func copyTextEscapesAndNulls() {
        var encoder = CopyTextEncoder()
        encoder.append(row: [.int(-120), .null, .text("a\tb\nc\\d\re"), .bool(true), .bytes([0, 0xAB]), .double(1.5)])
        encoder.append(row: [.int(0), .int(Int64.min)])
        #expect(String(decoding: encoder.bytes, as: UTF8.self) == "-120\t\\N\ta\\tb\\nc\\\\d\\re\tt\t\\\\x00ab\t1.5\n0\t-9223372036854775808\n")
    }
}
