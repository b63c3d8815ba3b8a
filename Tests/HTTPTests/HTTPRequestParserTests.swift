@testable import HTTP
import Testing

/// Unit tests of `HTTPRequestParser` over bytes only (no sockets).
@Suite struct HTTPRequestParserTests {
    // MARK: - Helpers

    /// Feeds `chunks` one after the other, collecting every part; adjacent body parts are merged so that
    /// different feeding patterns compare equal. Throws the parser's error (parts seen so far are in `parts`).
    static func run(_ chunks: [[UInt8]], limits: HTTPLimits, parts: inout [HTTPPart]) throws(HTTPParserError) -> ByteBuffer {
        var parser = HTTPRequestParser(limits: limits)
        var buffer = ByteBuffer()
        for chunk in chunks {
            buffer.append(chunk)
            while let part = try parser.parse(&buffer) {
                if case .body(let bytes) = part, case .body(let previous)? = parts.last {
                    parts[parts.count - 1] = .body(previous + bytes)
                } else {
                    parts.append(part)
                }
            }
        }
        #expect(parser.isIdle, "parser should be between requests after the last part")
        return buffer
    }

    static func collect(_ chunks: [[UInt8]], limits: HTTPLimits = HTTPLimits()) throws(HTTPParserError) -> [HTTPPart] {
        var parts: [HTTPPart] = []
        let rest = try run(chunks, limits: limits, parts: &parts)
        #expect(rest.isEmpty, "every byte should be consumed")
        return parts
    }

    /// Checks that `raw` parses to `expected` (a) whole, (b) fed one byte at a time, and (c) concatenated with
    /// a copy of itself in one buffer (pipelining: the expected parts twice).
    func assertParses(_ raw: String, as expected: [HTTPPart], limits: HTTPLimits = HTTPLimits(),
                      sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(raw.utf8)
        do {
            let whole = try Self.collect([bytes], limits: limits)
            #expect(whole == expected, "parsed whole", sourceLocation: sourceLocation)
        } catch {
            Issue.record("parsed whole: unexpected \(error)", sourceLocation: sourceLocation)
        }
        do {
            let trickled = try Self.collect(bytes.map { [$0] }, limits: limits)
            #expect(trickled == expected, "fed one byte at a time", sourceLocation: sourceLocation)
        } catch {
            Issue.record("fed one byte at a time: unexpected \(error)", sourceLocation: sourceLocation)
        }
        do {
            let pipelined = try Self.collect([bytes + bytes], limits: limits)
            #expect(pipelined == expected + expected, "pipelined twice", sourceLocation: sourceLocation)
        } catch {
            Issue.record("pipelined twice: unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Whether two errors are the same case (the `malformed` reason is not compared).
    static func sameCase(_ a: HTTPParserError, _ b: HTTPParserError) -> Bool {
        switch (a, b) {
        case (.malformed, .malformed), (.headerTooLarge, .headerTooLarge), (.bodyTooLarge, .bodyTooLarge),
             (.unsupportedVersion, .unsupportedVersion), (.unsupportedTransferEncoding, .unsupportedTransferEncoding):
            true
        default:
            false
        }
    }

    /// Checks that `raw` fails with `expected` (same case), both parsed whole and fed one byte at a time.
    /// For `.malformed`, a non-empty expected reason must be contained in the actual one.
    func assertFails(_ raw: String, with expected: HTTPParserError, limits: HTTPLimits = HTTPLimits(),
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(raw.utf8)
        for (label, chunks) in [("whole", [bytes]), ("byte at a time", bytes.map { [$0] })] {
            var parts: [HTTPPart] = []
            do {
                _ = try Self.run(chunks, limits: limits, parts: &parts)
                Issue.record("\(label): expected \(expected), parsed \(parts)", sourceLocation: sourceLocation)
            } catch {
                #expect(Self.sameCase(error, expected), "\(label): expected \(expected), got \(error)", sourceLocation: sourceLocation)
                if case .malformed(let want) = expected, !want.isEmpty, case .malformed(let got) = error {
                    #expect(got.contains(want), "\(label): reason \"\(got)\"", sourceLocation: sourceLocation)
                }
            }
        }
    }

    static func head(_ headers: [(String, String)]) -> HTTPPart { head(.get, "/", headers) }

    static func head(_ method: HTTPMethod, _ target: String, version: HTTPVersion = .http1_1,
                     _ headers: [(String, String)], contentLength: Int? = nil, chunked: Bool = false,
                     expectsContinue: Bool = false) -> HTTPPart {
        .head(RequestHead(method: method, target: target, version: version, headers: HTTPHeaders(headers),
                          contentLength: contentLength, chunked: chunked, expectsContinue: expectsContinue))
    }

    /// Parses one complete head.
    static func parseHead(_ raw: String) throws -> RequestHead {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(raw)
        guard case .head(let head)? = try parser.parse(&buffer) else { throw ParserTestFailure() }
        return head
    }

    struct ParserTestFailure: Error {}

    static func body(_ text: String) -> HTTPPart { .body(Array(text.utf8)) }

    // MARK: - Accepted requests

    @Test func simpleGet() {
        assertParses("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
                     as: [Self.head(.get, "/index.html?q=1", [("Host", "example.com"), ("Accept", "*/*")]), .end])
    }

    @Test func bareLFLineEndingsAreAccepted() {
        assertParses("GET / HTTP/1.1\nHost: h\n\n", as: [Self.head([("Host", "h")]), .end])
    }

    @Test func headerValuesHaveOptionalWhitespaceTrimmed() {
        assertParses("GET / HTTP/1.1\r\nHost:example.com\r\nX-Spaced:   spaced  value \t \r\nX-Tab:\tv\r\nX-Empty:   \r\n\r\n",
                     as: [Self.head([("Host", "example.com"), ("X-Spaced", "spaced  value"), ("X-Tab", "v"), ("X-Empty", "")]), .end])
    }

    @Test func contentLengthBody() {
        assertParses("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
                     as: [Self.head(.post, "/p", [("Host", "h"), ("Content-Length", "11")], contentLength: 11), Self.body("hello world"), .end])
        assertParses("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
                     as: [Self.head(.post, "/p", [("Host", "h"), ("Content-Length", "0")], contentLength: 0), .end])
        // Repeated identical lengths are one length.
        assertParses("PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
                     as: [Self.head(.put, "/p", [("Host", "h"), ("Content-Length", "3, 3")], contentLength: 3), Self.body("abc"), .end])
    }

    static let chunkedRequest = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5;ext=1\r\nhello\r\n"
        + "6 ; name=\"quoted value\"\r\n world\r\n"
        + "A\r\n0123456789\r\n"
        + "0;last=yes\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n"
    static let chunkedExpected: [HTTPPart] = [
        head(.post, "/c", [("Host", "h"), ("Transfer-Encoding", "chunked")], chunked: true),
        body("hello world0123456789"), .end,
    ]

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        assertParses(Self.chunkedRequest, as: Self.chunkedExpected)
        // No trailers, lowercase hex, a chunk with a CRLF inside its data.
        assertParses("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\ne\r\nab\r\n\r\ncdefghij\r\n0\r\n\r\n",
                     as: [Self.head(.post, "/c", [("Host", "h"), ("Transfer-Encoding", "Chunked")], chunked: true),
                          Self.body("ab\r\n\r\ncdefghij"), .end])
    }

    /// A probe found bare LF and control bytes accepted in chunked framing, and a second Authorization header ignored.
    @Test func chunkedFramingIsStrictAndCredentialsAreSingle() {
        let head = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertFails(head + "5\nhello\r\n0\r\n\r\n", with: .malformed("chunk size line not ended by CRLF"))
        assertFails(head + "5\r\nhello\n0\r\n\r\n", with: .malformed("chunk data not followed by CRLF"))
        assertFails(head + "5;ext=\u{01}x\r\nhello\r\n0\r\n\r\n", with: .malformed("control character in chunk extension"))
        assertFails(head + "5\r\nhello\r\n0\r\nX-Trailer: 1\n\r\n", with: .malformed("not ended by CRLF"))
        assertParses(head + "5;name=\"v a\"\t\r\nhello\r\n0\r\n\r\n",
                     as: [Self.head(.post, "/c", [("Host", "h"), ("Transfer-Encoding", "chunked")], chunked: true), Self.body("hello"), .end])
        assertFails("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
                    with: .malformed("repeated Authorization header"))
    }

    @Test func chunkBoundariesSplitAcrossFeeds() throws {
        let bytes = Array(Self.chunkedRequest.utf8)
        // Every split into two feeds…
        for split in 1..<bytes.count {
            let parts = try Self.collect([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(parts == Self.chunkedExpected, "split at \(split)")
        }
        // …and every split into three feeds around the chunked body.
        let bodyStart = Array(Self.chunkedRequest.utf8).count - Array("5;ext=1\r\nhello\r\n6 ; name=\"quoted value\"\r\n world\r\nA\r\n0123456789\r\n0;last=yes\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n".utf8).count
        for first in bodyStart..<bytes.count {
            for second in (first + 1)..<bytes.count {
                let parts = try Self.collect([Array(bytes[..<first]), Array(bytes[first..<second]), Array(bytes[second...])])
                #expect(parts == Self.chunkedExpected, "split at \(first), \(second)")
            }
        }
    }

    /// Found by fuzzing in splits (Tests/Fuzz/http-request): a chunk-size line of exactly `maxChunkLineBytes` was
    /// accepted whole but rejected as too long when its CR arrived without its LF; the outcome must not depend on
    /// how the bytes arrive.
    @Test func aChunkSizeLineOfTheMaximumLengthIsAcceptedHoweverItArrives() throws {
        var limits = HTTPLimits()
        limits.maxChunkLineBytes = 16
        let head = Array("POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let sizeLine = Array("5;ext=1234567890\r\n".utf8)   // 16 bytes, then CRLF
        #expect(sizeLine.count == limits.maxChunkLineBytes + 2)
        let rest = Array("hello\r\n0\r\n\r\n".utf8)
        let expected = [Self.head(.post, "/u", [("Host", "x"), ("Transfer-Encoding", "chunked")], chunked: true), Self.body("hello"), .end]
        #expect(try Self.collect([head + sizeLine + rest], limits: limits) == expected)
        // The line up to its CR in one read, the LF in the next.
        #expect(try Self.collect([head + sizeLine.dropLast(), [0x0A] + rest], limits: limits) == expected)
        #expect(try Self.collect((head + sizeLine + rest).map { [$0] }, limits: limits) == expected)
        // One byte longer is too long, however it arrives.
        let longer = Array("5;ext=12345678901\r\n".utf8)
        assertFails(String(decoding: head + longer + rest, as: UTF8.self), with: .malformed(""), limits: limits)
    }

    @Test func http10KeepAliveRules() throws {
        assertParses("GET /old HTTP/1.0\r\n\r\n", as: [Self.head(.get, "/old", version: .http1_0, []), .end])
        #expect(try Self.parseHead("GET / HTTP/1.0\r\n\r\n").keepAlive == false)
        #expect(try Self.parseHead("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive == true)
        #expect(try Self.parseHead("GET / HTTP/1.0\r\nConnection: Upgrade, Keep-Alive\r\n\r\n").keepAlive == true)
        #expect(try Self.parseHead("GET / HTTP/1.0\r\nConnection: close\r\n\r\n").keepAlive == false)
        #expect(try Self.parseHead("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keepAlive == true)
        #expect(try Self.parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n").keepAlive == true)
        #expect(try Self.parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keepAlive == false)
        #expect(try Self.parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n").keepAlive == false)
        #expect(try Self.parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n").keepAlive == false)
    }

    @Test func expectContinueFlag() throws {
        assertParses("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
                     as: [Self.head(.post, "/e", [("Host", "h"), ("Expect", "100-continue"), ("Content-Length", "3")],
                                    contentLength: 3, expectsContinue: true), Self.body("abc"), .end])
        #expect(try Self.parseHead("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
        #expect(try !Self.parseHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n").expectsContinue)
        // HTTP/1.0 clients cannot wait for 100 Continue.
        #expect(try !Self.parseHead("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
    }

    @Test func leadingEmptyLinesBeforeTheRequestLineAreIgnored() {
        assertParses("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", as: [Self.head([("Host", "h")]), .end])
        assertParses("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", as: [Self.head([("Host", "h")]), .end])
    }

    @Test func anIncompleteHeadNeedsMoreBytes() throws {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer("GET / HTTP/1.1\r\nHost: h\r\n")
        #expect(try parser.parse(&buffer) == nil)
        buffer.append(Array("\r\n".utf8))
        #expect(try parser.parse(&buffer) == Self.head([("Host", "h")]))
        #expect(try parser.parse(&buffer) == .end)
        #expect(try parser.parse(&buffer) == nil)
    }

    // MARK: - Rejected requests

    @Test func missingHostOnHTTP11IsMalformed() {
        assertFails("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", with: .malformed("missing Host header"))
        assertFails("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", with: .malformed("repeated Host header"))
    }

    @Test func badRequestLineIsMalformed() {
        assertFails("GARBAGE\r\n\r\n", with: .malformed(""))
        assertFails("GET /\r\nHost: h\r\n\r\n", with: .malformed("invalid request line"))
        assertFails("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", with: .malformed("invalid request line"))
        assertFails("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", with: .malformed("invalid request line"))
        assertFails("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", with: .malformed("invalid method"))
        assertFails("GET / HTTX/1.1\r\nHost: h\r\n\r\n", with: .malformed("invalid HTTP version"))
        assertFails("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", with: .malformed("bare CR"))
    }

    @Test func badHeaderLinesAreMalformed() {
        assertFails("GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n", with: .malformed("header line without colon"))
        assertFails("GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", with: .malformed("invalid header name"))
        assertFails("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", with: .malformed("invalid header name"))
    }

    @Test func obsoleteLineFoldingIsMalformed() {
        assertFails("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n  b\r\n\r\n", with: .malformed("obsolete line folding"))
        assertFails("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n\tb\r\n\r\n", with: .malformed("obsolete line folding"))
    }

    @Test func transferEncodingAndContentLengthTogetherIsMalformed() {
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                    with: .malformed("both Transfer-Encoding and Content-Length"))
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    with: .malformed("both Transfer-Encoding and Content-Length"))
    }

    @Test func invalidContentLengthIsMalformed() {
        for value in ["abc", "-1", "+5", "1 2", "1, 2", "0x10", "", "5;"] {
            assertFails("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(value)\r\n\r\n", with: .malformed("invalid Content-Length"))
        }
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", with: .malformed("invalid Content-Length"))
    }

    @Test func contentLengthOverTheLimitIsBodyTooLarge() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 100
        assertParses("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + String(repeating: "x", count: 100),
                     as: [Self.head(.post, "/", [("Host", "h"), ("Content-Length", "100")], contentLength: 100),
                          Self.body(String(repeating: "x", count: 100)), .end],
                     limits: limits)
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", with: .bodyTooLarge, limits: limits)
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", with: .bodyTooLarge)
    }

    @Test func chunkedTotalOverTheLimitIsBodyTooLarge() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let prefix = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertParses(prefix + "5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n",
                     as: [Self.head(.post, "/", [("Host", "h"), ("Transfer-Encoding", "chunked")], chunked: true),
                          Self.body("abcdefghij"), .end],
                     limits: limits)
        // Each chunk is within the limit, their sum is not.
        assertFails(prefix + "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n", with: .bodyTooLarge, limits: limits)
        // A single chunk size beyond the limit is rejected before its data arrives.
        assertFails(prefix + "b\r\n", with: .bodyTooLarge, limits: limits)
        assertFails(prefix + "ffffffffffffffffffff\r\n", with: .bodyTooLarge)
    }

    @Test func headerBlockOverTheLimitIsHeaderTooLarge() throws {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 64
        let small = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        assertParses(small, as: [Self.head([("Host", "h")]), .end], limits: limits)
        // A complete head over the limit.
        assertFails("GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \(String(repeating: "a", count: 60))\r\n\r\n", with: .headerTooLarge, limits: limits)
        // A head that never terminates: rejected as soon as the buffered bytes exceed the limit.
        let endless = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + String(repeating: "a", count: 100)
        assertFails(endless, with: .headerTooLarge, limits: limits)
        // …but not before: at the limit the parser just waits for more.
        var parser = HTTPRequestParser(limits: limits)
        var buffer = ByteBuffer(Array(Array(endless.utf8).prefix(64)))
        #expect(try parser.parse(&buffer) == nil)
        buffer.append([UInt8(ascii: "a")])
        #expect(throws: HTTPParserError.headerTooLarge) { try parser.parse(&buffer) }
        // Trailers count against the header limit too.
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: \(String(repeating: "t", count: 100))",
                    with: .headerTooLarge, limits: limits)
    }

    @Test func trailerSectionOverTheHeaderLimitIsHeaderTooLarge() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 64
        let prefix = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
        // Within the limit: the trailers are read and dropped.
        assertParses(prefix + "X-T: t\r\nX-U: u\r\n\r\n",
                     as: [Self.head(.post, "/", [("Host", "h"), ("Transfer-Encoding", "chunked")], chunked: true), Self.body("abc"), .end],
                     limits: limits)
        // Every trailer line is short, but all of them together are far over the limit.
        assertFails(prefix + String(repeating: "X-T: tttttttttt\r\n", count: 100) + "\r\n", with: .headerTooLarge, limits: limits)
    }

    @Test func otherHTTPVersionsAreUnsupported() {
        assertFails("GET / HTTP/2.0\r\nHost: h\r\n\r\n", with: .unsupportedVersion)
        assertFails("GET / HTTP/3.0\r\nHost: h\r\n\r\n", with: .unsupportedVersion)
        assertFails("GET / HTTP/1.2\r\nHost: h\r\n\r\n", with: .unsupportedVersion)
    }

    @Test func transferCodingsOtherThanChunkedAreUnsupported() {
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", with: .unsupportedTransferEncoding)
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", with: .unsupportedTransferEncoding)
        assertFails("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", with: .unsupportedTransferEncoding)
    }

    @Test func badChunkFramingIsMalformed() {
        let prefix = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertFails(prefix + "zz\r\n", with: .malformed("invalid chunk size"))
        assertFails(prefix + "\r\n", with: .malformed("invalid chunk size"))
        assertFails(prefix + "-5\r\nabcde\r\n0\r\n\r\n", with: .malformed("invalid chunk size"))
        assertFails(prefix + ";ext\r\n", with: .malformed("invalid chunk size"))
        assertFails(prefix + "3\r\nabcX\r\n0\r\n\r\n", with: .malformed("chunk data not followed by CRLF"))
        assertFails(prefix + String(repeating: "0", count: 2_000) + "1\r\n", with: .malformed("chunk size line too long"))
    }
}
