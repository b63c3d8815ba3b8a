import Core
/// The head of a request: request line and header fields, plus the framing facts the parser derived.
public struct RequestHead: Sendable, Equatable {
    public var method: HTTPMethod
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// Declared `Content-Length` (nil when chunked or absent).
    public var contentLength: Int?
    public var chunked: Bool
    /// The client sent `Expect: 100-continue` and will wait before sending the body.
    public var expectsContinue: Bool

    /// Whether the connection stays open after the response (HTTP/1.1 default, HTTP/1.0 opt-in).
    public var keepAlive: Bool {
        guard headers.contains("Connection") else { return version != .http1_0 }
        let tokens = headers.values("Connection").flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpacesAndTabs().asciiLowercased() }
        if version == .http1_0 { return tokens.contains("keep-alive") }
        return !tokens.contains("close")
    }

    /// Whether the request has a body to read.
    public var hasBody: Bool { chunked || (contentLength ?? 0) > 0 }

    public static func == (a: RequestHead, b: RequestHead) -> Bool {
        a.method == b.method && a.target == b.target && a.version == b.version && a.contentLength == b.contentLength
            && a.chunked == b.chunked && a.expectsContinue == b.expectsContinue
            && a.headers.fields.map { "\($0.name):\($0.value)" } == b.headers.fields.map { "\($0.name):\($0.value)" }
    }
}

/// One step of parsing: the head, a piece of the body, or the end of the request.
public enum HTTPPart: Sendable, Equatable {
    case head(RequestHead)
    case body([UInt8])
    case end
}

/// An incremental HTTP/1.1 request parser over bytes (RFC 9112). It never touches a socket:
/// feed it a `ByteBuffer`, get parts; `nil` means "need more bytes".
///
/// ```swift
/// var parser = HTTPRequestParser(limits: HTTPLimits())
/// while let part = try parser.parse(&buffer) { … }
/// ```
public struct HTTPRequestParser: Sendable {
    enum State: Sendable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
    }

    public let limits: HTTPLimits
    var state: State = .head
    /// How far the head scan got (so a trickled head is not rescanned from the start).
    var scanned = 0
    var bodyBytes = 0
    /// Bytes of the trailer section read so far (limited like the header block).
    var trailerBytes = 0

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// True between requests (nothing of the next request consumed yet).
    public var isIdle: Bool {
        if case .head = state { return true }
        return false
    }

    /// Parses the next part from `buffer`, consuming what it used; nil when more bytes are needed.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> HTTPPart? {
        switch state {
        case .head:
            return try parseHead(&buffer)
        case .fixedBody(let remaining):
            if remaining == 0 {
                state = .head
                return .end
            }
            guard !buffer.isEmpty else { return nil }
            let take = min(remaining, buffer.readableCount)
            let bytes = buffer.read(take)
            state = .fixedBody(remaining: remaining - take)
            return .body(bytes)
        case .chunkSize:
            return try parseChunkSize(&buffer)
        case .chunkData(let remaining):
            guard !buffer.isEmpty else { return nil }
            let take = min(remaining, buffer.readableCount)
            let bytes = buffer.read(take)
            state = remaining - take == 0 ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            return .body(bytes)
        case .chunkDataEnd:
            guard let lineEnd = Self.findLineEnd(buffer, from: 0, limit: 2) else {
                if buffer.readableCount >= 2 { throw .malformed("chunk data not followed by CRLF") }
                return nil
            }
            guard lineEnd.contentLength == 0, lineEnd.next == 2 else { throw .malformed("chunk data not followed by CRLF") }
            buffer.moveReader(by: lineEnd.next)
            state = .chunkSize
            return try parseChunkSize(&buffer)
        case .trailers:
            return try parseTrailers(&buffer)
        }
    }

    // MARK: - Head

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> HTTPPart? {
        // Leading empty lines before a request line are ignored (RFC 9112 §2.2).
        while scanned == 0, buffer.readableCount > 0, buffer[0] == 0x0D || buffer[0] == 0x0A {
            if buffer[0] == 0x0D, buffer.readableCount >= 2, buffer[1] != 0x0A { throw .malformed("bare CR") }
            if buffer[0] == 0x0D, buffer.readableCount < 2 { return nil }
            buffer.moveReader(by: buffer[0] == 0x0D ? 2 : 1)
        }
        guard let headLength = findHeadEnd(buffer) else {
            if buffer.readableCount > limits.maxHeaderBytes { throw .headerTooLarge }
            return nil
        }
        if headLength > limits.maxHeaderBytes { throw .headerTooLarge }
        let bytes = buffer.readableBytes.prefix(headLength)
        let head = try Self.parseHeadBytes(Array(bytes), limits: limits)
        buffer.moveReader(by: headLength)
        scanned = 0
        bodyBytes = 0
        if head.chunked {
            state = .chunkSize
        } else {
            state = .fixedBody(remaining: head.contentLength ?? 0)
        }
        return .head(head)
    }

    /// Length of the head including its terminating empty line, or nil when not complete yet.
    private mutating func findHeadEnd(_ buffer: ByteBuffer) -> Int? {
        let bytes = buffer.readableBytes
        let base = bytes.startIndex
        var index = base + max(0, scanned - 3)
        let end = bytes.endIndex
        while index < end {
            if bytes[index] == 0x0A {
                // An empty line: "\n\n" or "\n\r\n".
                if index + 1 < end, bytes[index + 1] == 0x0A { return index + 2 - base }
                if index + 2 < end, bytes[index + 1] == 0x0D, bytes[index + 2] == 0x0A { return index + 3 - base }
                if index + 2 >= end {
                    scanned = index - base
                    return nil
                }
            }
            index += 1
        }
        scanned = end - base
        return nil
    }

    static func parseHeadBytes(_ bytes: [UInt8], limits: HTTPLimits) throws(HTTPParserError) -> RequestHead {
        // One pass over the lines by index: no line, part or value arrays; the framing headers are noted as they pass.
        var lines: [Range<Int>] = []
        lines.reserveCapacity(16)
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            lines.append(start..<(index > start && bytes[index - 1] == 0x0D ? index - 1 : index))
            start = index + 1
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let requestLine = lines.first else { throw .malformed("empty request") }
        for line in lines where bytes[line].contains(0x0D) { throw .malformed("bare CR in header block") }

        // request-line = method SP request-target SP HTTP-version
        guard let firstSpace = bytes[requestLine].firstIndex(of: 0x20),
              let secondSpace = bytes[(firstSpace + 1)..<requestLine.upperBound].firstIndex(of: 0x20),
              !bytes[(secondSpace + 1)..<requestLine.upperBound].contains(0x20),
              firstSpace > requestLine.lowerBound, secondSpace > firstSpace + 1 else { throw .malformed("invalid request line") }
        let methodBytes = bytes[requestLine.lowerBound..<firstSpace]
        let targetBytes = bytes[(firstSpace + 1)..<secondSpace]
        let versionBytes = bytes[(secondSpace + 1)..<requestLine.upperBound]
        guard methodBytes.allSatisfy(isTokenByte) else { throw .malformed("invalid method") }
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .malformed("invalid request target") }
        let version: HTTPVersion
        if versionBytes.elementsEqual("HTTP/1.1".utf8) {
            version = .http1_1
        } else if versionBytes.elementsEqual("HTTP/1.0".utf8) {
            version = .http1_0
        } else {
            let digits = Array(versionBytes)
            if digits.count == 8, digits.starts(with: "HTTP/".utf8), digits[5] >= 0x30 && digits[5] <= 0x39, digits[6] == 0x2E,
               digits[7] >= 0x30 && digits[7] <= 0x39 {
                throw .unsupportedVersion
            }
            throw .malformed("invalid HTTP version")
        }

        var headers = HTTPHeaders()
        headers.reserveCapacity(lines.count - 1)
        var hosts = 0
        var authorizations = 0
        var encodings: [String] = []
        var lengths: [String] = []
        var expect: String?
        for line in lines.dropFirst() {
            if let first = bytes[line].first, first == 0x20 || first == 0x09 { throw .malformed("obsolete line folding") }
            guard let colon = bytes[line].firstIndex(of: 0x3A) else { throw .malformed("header line without colon") }
            let name = bytes[line.lowerBound..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw .malformed("invalid header name") }
            var valueStart = colon + 1
            var valueEnd = line.upperBound
            while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let value = bytes[valueStart..<valueEnd]
            guard value.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else { throw .malformed("control character in header value") }
            let field = (name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            headers.add(field.name, field.value)
            switch FramingHeader(name) {
            case .host: hosts += 1
            case .authorization: authorizations += 1
            case .transferEncoding: encodings.append(field.value)
            case .contentLength: lengths.append(field.value)
            case .expect: if expect == nil { expect = field.value }
            case nil: break
            }
        }

        let method = HTTPMethod(String(decoding: methodBytes, as: UTF8.self))
        var head = RequestHead(method: method, target: String(decoding: targetBytes, as: UTF8.self), version: version, headers: headers,
                               contentLength: nil, chunked: false, expectsContinue: false)
        if version == .http1_1 {
            guard hosts == 1 else { throw .malformed(hosts == 0 ? "missing Host header" : "repeated Host header") }
        }
        // Two credentials in one request: which one counts would depend on who reads it (a proxy, the handler).
        guard authorizations <= 1 else { throw .malformed("repeated Authorization header") }
        try frame(&head, encodings: encodings, lengths: lengths, expect: expect, limits: limits)
        return head
    }

    /// How the body is framed, from the values of every `Transfer-Encoding` and `Content-Length` field and the first
    /// `Expect` (RFC 9112 §6): chunked only as the one coding, one agreed decimal length within the limit, else an error.
    static func frame(_ head: inout RequestHead, encodings: [String], lengths: [String], expect: String?,
                      limits: HTTPLimits) throws(HTTPParserError) {
        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw .malformed("both Transfer-Encoding and Content-Length") }
            guard head.version == .http1_1 else { throw .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            let codings = encodings.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpacesAndTabs().asciiLowercased() }
            guard codings.last == "chunked" else { throw .unsupportedTransferEncoding }
            guard codings.count == 1 else { throw .unsupportedTransferEncoding }
            head.chunked = true
        } else if !lengths.isEmpty {
            let values = Set(lengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { $0.trimmingSpacesAndTabs() })
            guard values.count == 1, let text = values.first, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw .malformed("invalid Content-Length")
            }
            guard text.utf8.count <= 18, let length = Int(text) else { throw .bodyTooLarge }
            if length > limits.maxBodyBytes { throw .bodyTooLarge }
            head.contentLength = length
        }
        if let expect, expect.lowercased() == "100-continue", head.version == .http1_1 { head.expectsContinue = true }
    }

    /// The header fields whose count or value decides how a request is framed or checked, recognised by their bytes.
    enum FramingHeader {
        case host, authorization, transferEncoding, contentLength, expect

        init?(_ name: ArraySlice<UInt8>) {
            // Lengths differ, so the length picks the one candidate to compare.
            let candidate: (FramingHeader, StaticString)
            switch name.count {
            case 4: candidate = (.host, "host")
            case 6: candidate = (.expect, "expect")
            case 13: candidate = (.authorization, "authorization")
            case 14: candidate = (.contentLength, "content-length")
            case 17: candidate = (.transferEncoding, "transfer-encoding")
            default: return nil
            }
            let lower = UnsafeBufferPointer(start: candidate.1.utf8Start, count: candidate.1.utf8CodeUnitCount)
            for (byte, expected) in zip(name, lower) {
                // ASCII letters fold to lower case; `-` is the only other byte in these names.
                let folded = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
                guard folded == expected else { return nil }
            }
            self = candidate.0
        }
    }

    // MARK: - Chunked body

    private mutating func parseChunkSize(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> HTTPPart? {
        guard let line = Self.findLineEnd(buffer, from: 0, limit: limits.maxChunkLineBytes) else {
            // The search covers the longest line and its CRLF: only with that many bytes and no LF is the line too
            // long. (Counting the line alone rejected a line of the maximum length whose CR arrived before its LF,
            // yet accepted it whole — found by fuzzing in splits, Tests/Fuzz/http-request.)
            if buffer.readableCount >= limits.maxChunkLineBytes + 2 { throw .malformed("chunk size line too long") }
            return nil
        }
        // Chunked framing is strict (a bare LF or a control byte is where request smuggling hides): CRLF only, and
        // extensions of visible characters, spaces and tabs.
        guard line.next == line.contentLength + 2 else { throw .malformed("chunk size line not ended by CRLF") }
        let text = buffer.readableBytes.prefix(line.contentLength)
        let sizeBytes = text.prefix { $0 != 0x3B }   // `;` starts chunk extensions
        guard text.dropFirst(sizeBytes.count).allSatisfy({ ($0 >= 0x20 && $0 != 0x7F) || $0 == 0x09 }) else {
            throw .malformed("control character in chunk extension")
        }
        var trimmed = sizeBytes[...]
        while let last = trimmed.last, last == 0x20 || last == 0x09 { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty, trimmed.allSatisfy(Self.isHexByte) else { throw .malformed("invalid chunk size") }
        guard trimmed.count <= 15, let size = Int(String(decoding: trimmed, as: UTF8.self), radix: 16) else { throw .bodyTooLarge }
        buffer.moveReader(by: line.next)
        if size == 0 {
            state = .trailers
            trailerBytes = 0
            return try parseTrailers(&buffer)
        }
        bodyBytes += size
        if bodyBytes > limits.maxBodyBytes { throw .bodyTooLarge }
        state = .chunkData(remaining: size)
        return try parse(&buffer)
    }

    private mutating func parseTrailers(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> HTTPPart? {
        // Trailer fields are read and discarded, up to the header limit.
        while true {
            guard let line = Self.findLineEnd(buffer, from: 0, limit: limits.maxHeaderBytes) else {
                if buffer.readableCount > limits.maxHeaderBytes { throw .headerTooLarge }
                return nil
            }
            trailerBytes += line.next
            if trailerBytes > limits.maxHeaderBytes { throw .headerTooLarge }
            guard line.next == line.contentLength + 2 else { throw .malformed("chunked trailer line not ended by CRLF") }
            buffer.moveReader(by: line.next)
            if line.contentLength == 0 {
                state = .head
                return .end
            }
        }
    }

    /// Finds the next line end in the buffer: the line's length without CR/LF and the offset after the LF.
    static func findLineEnd(_ buffer: ByteBuffer, from start: Int, limit: Int) -> (contentLength: Int, next: Int)? {
        let bytes = buffer.readableBytes
        var index = bytes.startIndex + start
        let end = min(bytes.endIndex, bytes.startIndex + start + limit + 2)
        while index < end {
            if bytes[index] == 0x0A {
                let offset = index - bytes.startIndex
                let content = offset > 0 && bytes[index - 1] == 0x0D ? offset - 1 : offset
                return (content - start, offset + 1)
            }
            index += 1
        }
        return nil
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    static func isHexByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }
}
