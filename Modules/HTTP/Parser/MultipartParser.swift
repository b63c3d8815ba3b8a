import Foundation

/// One part of a `multipart/form-data` body (RFC 7578).
public struct MultipartPart: Sendable, Equatable {
    public let headers: HTTPHeaders
    public let body: [UInt8]

    /// `name` from `Content-Disposition: form-data; name="…"`.
    public var name: String? { disposition["name"] }
    /// `filename` from `Content-Disposition`, when the part is a file.
    public var filename: String? { disposition["filename"] }
    public var contentType: String? { headers["Content-Type"] }
    public var text: String { String(decoding: body, as: UTF8.self) }

    var disposition: [String: String] {
        guard let value = headers["Content-Disposition"] else { return [:] }
        return MultipartParser.parameters(value).parameters
    }

    public static func == (a: MultipartPart, b: MultipartPart) -> Bool {
        a.body == b.body && a.headers.fields.map { "\($0.name):\($0.value)" } == b.headers.fields.map { "\($0.name):\($0.value)" }
    }
}

/// An incremental `multipart/form-data` parser: feed bytes as they arrive (a boundary may be split
/// across feeds), get complete parts, then `finish()` checks that the closing boundary was seen.
///
/// ```swift
/// var parser = try MultipartParser(contentType: request.headers["Content-Type"])
/// var parts = try parser.feed(request.body)
/// try parser.finish()
/// ```
public struct MultipartParser: Sendable {
    enum State: Sendable { case preamble, afterBoundary, headers, body, done }

    let delimiter: [UInt8]
    public let maxPartBytes: Int
    public let maxParts: Int
    public let maxHeaderBytes = 8_192
    var state = State.preamble
    var buffer: [UInt8]
    var partHeaders = HTTPHeaders()
    var partBody: [UInt8] = []
    var partCount = 0

    public init(boundary: String, maxPartBytes: Int = 10_485_760, maxParts: Int = 100) throws(MultipartError) {
        guard (1...70).contains(boundary.utf8.count), !boundary.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) else {
            throw .malformed("invalid boundary")
        }
        delimiter = Array("\r\n--\(boundary)".utf8)
        self.maxPartBytes = maxPartBytes
        self.maxParts = maxParts
        // The first boundary may start the body without a CRLF: pretend one preceded it.
        buffer = [0x0D, 0x0A]
    }

    /// A parser for a request's `Content-Type` (`multipart/form-data; boundary=…`, quoted or not).
    public init(contentType: String?, maxPartBytes: Int = 10_485_760, maxParts: Int = 100) throws(MultipartError) {
        guard let contentType else { throw .malformed("missing Content-Type") }
        let (media, parameters) = Self.parameters(contentType)
        guard media.lowercased() == "multipart/form-data" else { throw .malformed("Content-Type is not multipart/form-data") }
        guard let boundary = parameters["boundary"] else { throw .malformed("missing boundary parameter") }
        try self.init(boundary: boundary, maxPartBytes: maxPartBytes, maxParts: maxParts)
    }

    /// Parses a whole body at once.
    public static func parse(_ body: [UInt8], contentType: String?, maxPartBytes: Int = 10_485_760) throws(MultipartError) -> [MultipartPart] {
        var parser = try MultipartParser(contentType: contentType, maxPartBytes: maxPartBytes)
        let parts = try parser.feed(body)
        try parser.finish()
        return parts
    }

    /// Consumes `bytes`; returns the parts completed by them.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(MultipartError) -> [MultipartPart] {
        if state == .done { return [] }
        buffer.append(contentsOf: bytes)
        var completed: [MultipartPart] = []
        var progress = true
        while progress {
            progress = false
            switch state {
            case .preamble:
                if let index = find(delimiter) {
                    buffer.removeFirst(index + delimiter.count)
                    state = .afterBoundary
                    progress = true
                } else if buffer.count >= delimiter.count {
                    buffer.removeFirst(buffer.count - delimiter.count + 1)
                }
            case .afterBoundary:
                // "--" closes the body; otherwise optional whitespace, then CRLF starts a part.
                var index = 0
                if buffer.count >= 2, buffer[0] == UInt8(ascii: "-"), buffer[1] == UInt8(ascii: "-") {
                    state = .done
                    buffer.removeAll()
                    return completed
                }
                while index < buffer.count, buffer[index] == 0x20 || buffer[index] == 0x09 { index += 1 }
                if index + 1 < buffer.count {
                    guard buffer[index] == 0x0D, buffer[index + 1] == 0x0A else { throw .malformed("expected CRLF after boundary") }
                    buffer.removeFirst(index + 2)
                    partCount += 1
                    if partCount > maxParts { throw .tooManyParts }
                    partHeaders = HTTPHeaders()
                    partBody = []
                    state = .headers
                    progress = true
                } else if buffer.count > 256 {
                    throw .malformed("expected CRLF after boundary")
                }
            case .headers:
                // A part with no header fields first: its body may itself hold a blank line (CRLF CRLF).
                if buffer.starts(with: [0x0D, 0x0A]) {
                    buffer.removeFirst(2)
                    state = .body
                    progress = true
                } else if let end = find([0x0D, 0x0A, 0x0D, 0x0A]) {
                    if end > maxHeaderBytes { throw .malformed("part headers too large") }
                    try parseHeaders(Array(buffer[0..<end]))
                    buffer.removeFirst(end + 4)
                    state = .body
                    progress = true
                } else if buffer.count > maxHeaderBytes {
                    throw .malformed("part headers too large")
                }
            case .body:
                if let index = find(delimiter) {
                    try appendBody(buffer[0..<index])
                    buffer.removeFirst(index + delimiter.count)
                    completed.append(MultipartPart(headers: partHeaders, body: partBody))
                    partBody = []
                    state = .afterBoundary
                    progress = true
                } else if buffer.count >= delimiter.count {
                    // Keep a tail that could be the start of a split delimiter.
                    let safe = buffer.count - delimiter.count + 1
                    try appendBody(buffer[0..<safe])
                    buffer.removeFirst(safe)
                }
            case .done:
                return completed
            }
        }
        return completed
    }

    /// Throws unless the closing boundary (`--boundary--`) was seen.
    public func finish() throws(MultipartError) {
        guard state == .done else { throw .malformed("missing final boundary") }
    }

    private mutating func appendBody(_ bytes: ArraySlice<UInt8>) throws(MultipartError) {
        if partBody.count + bytes.count > maxPartBytes { throw .partTooLarge }
        partBody.append(contentsOf: bytes)
    }

    private mutating func parseHeaders(_ bytes: [UInt8]) throws(MultipartError) {
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            var text = line
            if text.last == 0x0D { text = text.dropLast() }
            guard let colon = text.firstIndex(of: UInt8(ascii: ":")), colon > text.startIndex else {
                throw .malformed("invalid part header line")
            }
            // Field syntax as in a request head: a token name, a value without control bytes (HTAB aside). A bare CR
            // made a value ending in CR ambiguous with the line's own CR (written back, it lost one), and a blank
            // name could not be written back at all (both found by fuzzing, Tests/Fuzz/multipart).
            var nameBytes = text[text.startIndex..<colon]
            while let first = nameBytes.first, first == 0x20 || first == 0x09 { nameBytes = nameBytes.dropFirst() }
            while let last = nameBytes.last, last == 0x20 || last == 0x09 { nameBytes = nameBytes.dropLast() }
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(HTTPRequestParser.isTokenByte) else { throw .malformed("invalid part header name") }
            guard text[(colon + 1)...].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw .malformed("control character in a part header")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            let value = String(decoding: text[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            partHeaders.add(name, value)
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count, let first = needle.first else { return nil }
        var index = 0
        let last = buffer.count - needle.count
        return buffer.withUnsafeBufferPointer { haystack -> Int? in
            while index <= last {
                if haystack[index] == first {
                    var matched = true
                    for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                        matched = false
                        break
                    }
                    if matched { return index }
                }
                index += 1
            }
            return nil
        }
    }

    /// Splits `type/subtype; a=1; b="quoted \" value"` into the value and its parameters (names lower-cased).
    static func parameters(_ header: String) -> (value: String, parameters: [String: String]) {
        var parameters: [String: String] = [:]
        let scalars = Array(header.unicodeScalars)
        var index = 0
        func skipSpaces() { while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 } }
        var value = ""
        while index < scalars.count, scalars[index] != ";" { value.unicodeScalars.append(scalars[index]); index += 1 }
        while index < scalars.count {
            index += 1   // the ';'
            skipSpaces()
            var name = ""
            while index < scalars.count, scalars[index] != "=", scalars[index] != ";" { name.unicodeScalars.append(scalars[index]); index += 1 }
            guard index < scalars.count, scalars[index] == "=" else { continue }
            index += 1
            var parameter = ""
            if index < scalars.count, scalars[index] == "\"" {
                index += 1
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count { index += 1 }
                    parameter.unicodeScalars.append(scalars[index])
                    index += 1
                }
                index += 1
                while index < scalars.count, scalars[index] != ";" { index += 1 }
            } else {
                while index < scalars.count, scalars[index] != ";" { parameter.unicodeScalars.append(scalars[index]); index += 1 }
                parameter = parameter.trimmingCharacters(in: .whitespaces)
            }
            parameters[name.trimmingCharacters(in: .whitespaces).lowercased()] = parameter
        }
        return (value.trimmingCharacters(in: .whitespaces), parameters)
    }
}
