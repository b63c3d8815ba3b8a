import HTTP
import Testing
import TestSupport

/// Unit tests of `MultipartParser` over bytes only: feeding patterns, boundaries, limits.
@Suite struct MultipartParserTests {
    // MARK: - Helpers

    static let boundary = "----form-boundary-7MA4YWxkTrZu0gW"
    static let contentType = "multipart/form-data; boundary=\(boundary)"

    /// A body of `parts` (headers, content) with `preamble` and `epilogue`, closed unless `closed` is false.
    static func body(_ parts: [([(String, String)], [UInt8])], boundary: String = boundary, preamble: String = "", epilogue: String = "",
                     closed: Bool = true) -> [UInt8] {
        var bytes = Array(preamble.utf8)
        for (headers, content) in parts {
            bytes += Array("--\(boundary)\r\n".utf8)
            for (name, value) in headers { bytes += Array("\(name): \(value)\r\n".utf8) }
            bytes += Array("\r\n".utf8)
            bytes += content
            bytes += Array("\r\n".utf8)
        }
        if closed { bytes += Array("--\(boundary)--\r\n".utf8) + Array(epilogue.utf8) }
        return bytes
    }

    static func field(_ name: String, _ value: String) -> ([(String, String)], [UInt8]) {
        ([("Content-Disposition", "form-data; name=\"\(name)\"")], Array(value.utf8))
    }

    static func file(_ name: String, filename: String, _ content: [UInt8]) -> ([(String, String)], [UInt8]) {
        ([("Content-Disposition", "form-data; name=\"\(name)\"; filename=\"\(filename)\""), ("Content-Type", "application/json")], content)
    }

    /// Feeds `bytes` in chunks of the sizes `sizes` yields, then finishes.
    static func feed(_ bytes: [UInt8], contentType: String = contentType, maxPartBytes: Int = 10_485_760, maxParts: Int = 100,
                     sizes: () -> Int) throws(MultipartError) -> [MultipartPart] {
        var parser = try MultipartParser(contentType: contentType, maxPartBytes: maxPartBytes, maxParts: maxParts)
        var parts: [MultipartPart] = []
        var offset = 0
        while offset < bytes.count {
            let size = max(1, min(sizes(), bytes.count - offset))
            parts += try parser.feed(bytes[offset..<(offset + size)])
            offset += size
        }
        try parser.finish()
        return parts
    }

    static func error(_ body: () throws -> Void) -> MultipartError? {
        do {
            try body()
            return nil
        } catch {
            return error as? MultipartError ?? .malformed("not a MultipartError: \(error)")
        }
    }

    static let document = Array(#"{"format":"iot-platform.factors","version":1,"factors":[]}"#.utf8)

    // MARK: - Tests

    @Test func parsesFieldsAndAFile() throws {
        let bytes = Self.body([Self.field("clear_existing", "true"), Self.file("file", filename: "factors.json", Self.document)])
        let parts = try MultipartParser.parse(bytes, contentType: Self.contentType)
        #expect(parts.count == 2)
        #expect(parts[0].name == "clear_existing")
        #expect(parts[0].filename == nil)
        #expect(parts[0].text == "true")
        #expect(parts[1].name == "file")
        #expect(parts[1].filename == "factors.json")
        #expect(parts[1].contentType == "application/json")
        #expect(parts[1].body == Self.document)
    }

    @Test func byteByByteAndRandomChunksGiveTheSameParts() throws {
        // Content that repeatedly almost matches the delimiter, so split boundaries are exercised.
        let tricky = Array("line\r\n-\r\n--\r\n----form-boundary\r\n----form-boundary-7MA4YWxkTrZu0g\r\nend".utf8)
        let binary = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let bytes = Self.body([Self.field("a", "1"), Self.file("file", filename: "x.bin", tricky), Self.file("bin", filename: "y", binary),
                               Self.field("empty", "")],
                              preamble: "This is a preamble.\r\n", epilogue: "trailing epilogue\r\n")
        let whole = try MultipartParser.parse(bytes, contentType: Self.contentType)
        #expect(whole.count == 4)
        #expect(whole[1].body == tricky)
        #expect(whole[2].body == binary)
        #expect(whole[3].body == [])
        let byteByByte = try Self.feed(bytes) { 1 }
        #expect(byteByByte == whole)
        var random = SplitMix(state: 42)
        for _ in 0..<50 {
            let chunked = try Self.feed(bytes) { Int.random(in: 1...97, using: &random) }
            #expect(chunked == whole)
        }
        // Every split point of the body into two feeds.
        for split in 1..<bytes.count {
            var parser = try MultipartParser(contentType: Self.contentType)
            var parts = try parser.feed(bytes[0..<split])
            parts += try parser.feed(bytes[split...])
            try parser.finish()
            #expect(parts == whole, "split at \(split)")
        }
    }

    @Test func quotedBoundaryInContentType() throws {
        let boundary = "simple boundary:with=odd,chars?()+"
        let bytes = Self.body([Self.field("name", "value")], boundary: boundary)
        let parts = try MultipartParser.parse(bytes, contentType: "multipart/form-data; charset=utf-8; boundary=\"\(boundary)\"")
        #expect(parts.count == 1)
        #expect(parts[0].text == "value")
        // Case-insensitive media type and parameter name, whitespace around.
        let plain = Self.body([Self.field("n", "v")], boundary: "abc123")
        #expect(try MultipartParser.parse(plain, contentType: "Multipart/Form-Data ;  BOUNDARY=abc123").first?.text == "v")
    }

    @Test func crlfInsideFileContentIsKept() throws {
        let content = Array("{\r\n  \"a\": 1\r\n}\r\n\r\n".utf8)
        let bytes = Self.body([Self.file("file", filename: "f.json", content)])
        let parts = try MultipartParser.parse(bytes, contentType: Self.contentType)
        #expect(parts.count == 1)
        #expect(parts[0].body == content)
        #expect(try Self.feed(bytes) { 1 } == parts)
    }

    @Test func preambleAndEpilogueAreIgnored() throws {
        let bytes = Self.body([Self.field("x", "y")], preamble: "ignore me --not-a-boundary\r\n\r\n",
                              epilogue: "--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"late\"\r\n\r\nz\r\n")
        let parts = try MultipartParser.parse(bytes, contentType: Self.contentType)
        #expect(parts.map(\.name) == ["x"])
        #expect(parts[0].text == "y")
    }

    @Test func partWithoutHeaders() throws {
        for content in ["plain", "with\r\n\r\nblank lines", ""] {
            let bytes = Self.body([([], Array(content.utf8)), Self.field("after", "1")])
            let parts = try MultipartParser.parse(bytes, contentType: Self.contentType)
            #expect(parts.count == 2, "content \(content.debugDescription)")
            #expect(parts.first?.headers.fields.isEmpty == true)
            #expect(parts.first?.name == nil)
            #expect(parts.first?.text == content)
            #expect(parts.last?.name == "after")
            #expect(try Self.feed(bytes) { 1 } == parts)
        }
    }

    @Test func missingFinalBoundaryFailsAtFinish() throws {
        let open = Self.body([Self.field("a", "1")], closed: false)
        var parser = try MultipartParser(contentType: Self.contentType)
        let parts = try parser.feed(open)
        #expect(parts.isEmpty)   // a part is complete only when a delimiter follows it
        #expect(Self.error { try parser.finish() } == .malformed("missing final boundary"))
        // Truncated in the middle of a part, and a body that never had a boundary.
        let truncated = Array(Self.body([Self.file("file", filename: "f", Self.document)]).dropLast(30))
        #expect(Self.error { _ = try MultipartParser.parse(truncated, contentType: Self.contentType) } != nil)
        #expect(Self.error { _ = try MultipartParser.parse(Array("no boundary at all".utf8), contentType: Self.contentType) }
            == .malformed("missing final boundary"))
        #expect(Self.error { _ = try MultipartParser.parse([], contentType: Self.contentType) } == .malformed("missing final boundary"))
    }

    @Test func oversizedPartIsPartTooLarge() throws {
        let big = [UInt8](repeating: 0x41, count: 5000)
        let bytes = Self.body([Self.file("file", filename: "big", big)])
        #expect(Self.error { _ = try MultipartParser.parse(bytes, contentType: Self.contentType, maxPartBytes: 4999) } == .partTooLarge)
        #expect(Self.error { _ = try Self.feed(bytes, maxPartBytes: 4999) { 7 } } == .partTooLarge)
        #expect(MultipartError.partTooLarge.status == 413)
        #expect(MultipartError.partTooLarge.code == "PAYLOAD_TOO_LARGE")
        // Exactly at the limit is fine.
        #expect(try MultipartParser.parse(bytes, contentType: Self.contentType, maxPartBytes: 5000).first?.body == big)
    }

    @Test func tooManyParts() throws {
        let bytes = Self.body((0..<6).map { Self.field("f\($0)", "v") })
        #expect(Self.error { _ = try Self.feed(bytes, maxParts: 5) { 1000 } } == .tooManyParts)
        #expect(try Self.feed(bytes, maxParts: 6) { 1000 }.count == 6)
        #expect(MultipartError.tooManyParts.status == 400)
    }

    /// Found by fuzzing (Tests/Fuzz/multipart): a part header value could hold bare CRs, so a value ending in CR lost one
    /// each time the part was written and read back; a blank header name could not be written back at all. Part
    /// headers now follow request-head field syntax.
    @Test func partHeadersRejectControlBytesAndBlankNames() throws {
        func parse(_ text: String) throws(MultipartError) -> [MultipartPart] {
            try MultipartParser.parse(Array(text.utf8), contentType: "multipart/form-data; boundary=b")
        }
        #expect(Self.error { _ = try parse("--b\r\nB:2\r\r\u{04}\r\r\r\n\r\nv\r\n--b--") } == .malformed("control character in a part header"))
        #expect(Self.error { _ = try parse("--b\r\nX: a\rb\r\n\r\nv\r\n--b--") } == .malformed("control character in a part header"))
        #expect(Self.error { _ = try parse("--b\r\n : x\r\n\r\nv\r\n--b--") } == .malformed("invalid part header name"))
        #expect(Self.error { _ = try parse("--b\r\nNa me: x\r\n\r\nv\r\n--b--") } == .malformed("invalid part header name"))
        // Still accepted: whitespace around the name and the value, HTAB and UTF-8 in the value, LF-only lines.
        let parts = try parse("--b\r\n Content-Disposition :\tform-data; name=\"f\"; filename=\"r\u{E9}sum\u{E9}.json\" \r\nX-A: 1\t2\nX-B:\r\n\r\nv\r\n--b--")
        #expect(parts.count == 1)
        #expect(parts[0].name == "f")
        #expect(parts[0].filename == "r\u{E9}sum\u{E9}.json")
        #expect(parts[0].headers["X-A"] == "1\t2")
        #expect(parts[0].headers["X-B"] == "")
    }

    @Test func badContentTypesAndGarbage() throws {
        #expect(Self.error { _ = try MultipartParser(contentType: nil) } != nil)
        #expect(Self.error { _ = try MultipartParser(contentType: "application/json") } != nil)
        #expect(Self.error { _ = try MultipartParser(contentType: "multipart/form-data") } != nil)
        #expect(Self.error { _ = try MultipartParser(contentType: "multipart/form-data; boundary=\"\"") } != nil)
        #expect(Self.error { _ = try MultipartParser(boundary: String(repeating: "b", count: 71)) } != nil)
        // Something other than CRLF or "--" after a boundary; a header line without a colon.
        let junk = Array("--\(Self.boundary)XYZ\r\n\r\nv\r\n--\(Self.boundary)--".utf8)
        #expect(Self.error { _ = try MultipartParser.parse(junk, contentType: Self.contentType) } != nil)
        let badHeader = Array("--\(Self.boundary)\r\nno colon here\r\n\r\nv\r\n--\(Self.boundary)--".utf8)
        #expect(Self.error { _ = try MultipartParser.parse(badHeader, contentType: Self.contentType) } != nil)
        // Headers larger than the limit.
        let huge = Array("--\(Self.boundary)\r\nX-Big: \(String(repeating: "h", count: 9000))\r\n\r\nv\r\n--\(Self.boundary)--".utf8)
        #expect(Self.error { _ = try MultipartParser.parse(huge, contentType: Self.contentType) } != nil)
        #expect(Self.error { _ = try Self.feed(huge) { 100 } } != nil)
        // Random garbage never crashes.
        var random = SplitMix(state: 7)
        for _ in 0..<200 {
            let noise = (0..<Int.random(in: 0...300, using: &random)).map { _ in
                [UInt8(ascii: "-"), 0x0D, 0x0A, UInt8(ascii: "a"), UInt8(ascii: ":")].randomElement(using: &random)!
            }
            var parser = try MultipartParser(boundary: "a")
            _ = try? parser.feed(noise)
        }
    }
}
