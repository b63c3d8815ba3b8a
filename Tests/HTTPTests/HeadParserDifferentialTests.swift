@testable import HTTP
import Core
import Testing
import TestSupport

/// The head parser against the plain one it replaced (issue 11, stop 11: one pass by index instead of line, part and
/// value arrays): on random heads built from the pieces that decide framing and errors, both give the same head or the
/// same error.
@Suite struct HeadParserDifferentialTests {
    @Test func indexedParserAgreesWithTheReference() {
        var random = SplitMix(state: 0x5EED)
        let limits = HTTPLimits()
        var agreed = 0
        for _ in 0..<20_000 {
            let bytes = Self.randomHead(&random)
            let expected = Result { () throws(HTTPParserError) in try ReferenceHeadParser.parse(bytes, limits: limits) }
            let actual = Result { () throws(HTTPParserError) in try HTTPRequestParser.parseHeadBytes(bytes, limits: limits) }
            #expect(actual == expected, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
            if actual == expected { agreed += 1 }
        }
        #expect(agreed == 20_000)
    }

    /// A head of a request line and header lines picked from pieces valid and not, joined by CRLF or (rarely) a bare
    /// LF or CR, ending with an empty line.
    static func randomHead(_ random: inout SplitMix) -> [UInt8] {
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        let methods = ["GET", "POST", "HEAD", "PATCH", "", "G@T", "get", "M-SEARCH"]
        let targets = ["/", "/api/v2/projects/p-1/", "/a?b=c%20d", "", "/sp ace", "/\u{7F}", "*", "/ü"]
        let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 ", "http/1.1", "HTTP/1.x", "", "HTTP/9.9", "HTTP/1.1\r"]
        let names = ["Host", "host", "HOST", "Authorization", "authorization", "Content-Length", "content-length",
                     "Transfer-Encoding", "TRANSFER-encoding", "Expect", "Connection", "X-Request-Id", "Hoſt", "Host ", "",
                     "Content_Length", "Expect\t", "Accept"]
        let values = ["example.com", "", "  padded  ", "42", "0", "1, 1", "1,2", "-1", "99999999999999999999", "chunked",
                      "gzip, chunked", "Chunked", "100-continue", "100-CONTINUE", "Bearer abc", "a\u{1}b", "tab\there",
                      "close", "keep-alive", "\u{7F}", "ü"]
        var lines: [String] = []
        let requestLine: String
        switch random.next() % 10 {
        case 0: requestLine = pick(methods) + " " + pick(targets)
        case 1: requestLine = pick(methods) + "  " + pick(targets) + " " + pick(versions)
        default: requestLine = pick(methods) + " " + pick(targets) + " " + pick(versions)
        }
        lines.append(requestLine)
        for _ in 0..<Int(random.next() % 7) {
            switch random.next() % 20 {
            case 0: lines.append(" folded: value")
            case 1: lines.append(pick(names))
            case 2: lines.append(pick(names) + ":" + pick(values) + "\r" + "x")
            default: lines.append(pick(names) + ":" + (random.next() % 2 == 0 ? " " : "") + pick(values))
            }
        }
        var head: [UInt8] = []
        for line in lines {
            head += Array(line.utf8)
            switch random.next() % 30 {
            case 0: head += [0x0A]
            case 1: head += [0x0D, 0x0D, 0x0A]
            default: head += [0x0D, 0x0A]
            }
        }
        head += random.next() % 10 == 0 ? [0x0A] : [0x0D, 0x0A]
        return head
    }
}

/// The head parser as it was before stop 11 (up to the framing rules, which both share), kept as the reference the
/// indexed one is held against.
enum ReferenceHeadParser {
    static func parse(_ bytes: [UInt8], limits: HTTPLimits) throws(HTTPParserError) -> RequestHead {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            var line = bytes[start..<index]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(line)
            start = index + 1
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let requestLine = lines.first else { throw .malformed("empty request") }
        for line in lines where line.contains(0x0D) { throw .malformed("bare CR in header block") }

        // request-line = method SP request-target SP HTTP-version
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { throw .malformed("invalid request line") }
        guard parts[0].allSatisfy(HTTPRequestParser.isTokenByte) else { throw .malformed("invalid method") }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .malformed("invalid request target") }
        let version: HTTPVersion
        switch String(decoding: parts[2], as: UTF8.self) {
        case "HTTP/1.1": version = .http1_1
        case "HTTP/1.0": version = .http1_0
        case let other:
            let digits = Array(other.utf8)
            if digits.count == 8, other.hasPrefix("HTTP/"), digits[5] >= 0x30 && digits[5] <= 0x39, digits[6] == 0x2E,
               digits[7] >= 0x30 && digits[7] <= 0x39 {
                throw .unsupportedVersion
            }
            throw .malformed("invalid HTTP version")
        }

        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            if line.first == 0x20 || line.first == 0x09 { throw .malformed("obsolete line folding") }
            guard let colon = line.firstIndex(of: 0x3A) else { throw .malformed("header line without colon") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(HTTPRequestParser.isTokenByte) else { throw .malformed("invalid header name") }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else { throw .malformed("control character in header value") }
            headers.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }

        let method = HTTPMethod(String(decoding: parts[0], as: UTF8.self))
        var head = RequestHead(method: method, target: String(decoding: parts[1], as: UTF8.self), version: version, headers: headers,
                               contentLength: nil, chunked: false, expectsContinue: false)
        if version == .http1_1 {
            let hosts = headers.values("Host")
            guard hosts.count == 1 else { throw .malformed(hosts.isEmpty ? "missing Host header" : "repeated Host header") }
        }
        // Two credentials in one request: which one counts would depend on who reads it (a proxy, the handler).
        guard headers.values("Authorization").count <= 1 else { throw .malformed("repeated Authorization header") }
        // The framing rules themselves did not change: both parsers share them (`HTTPRequestParser.frame`).
        try HTTPRequestParser.frame(&head, encodings: headers.values("Transfer-Encoding"), lengths: headers.values("Content-Length"),
                                    expect: headers["Expect"], limits: limits)
        return head
    }
}
