// Fuzz target `http-request`: HTTPRequestParser fed the same bytes whole and in random splits (1-byte trickles
// included). Input: two control bytes (limits profile, split sizes, the split seed), then the byte stream of one
// connection. Invariants: never a crash; parts come as (head, body*, end)*; the outcome does not depend on the
// splits; limits hold (head size, body size, bytes left buffered while waiting); a parsed head re-serialized
// parses to the same head.

enum HTTPFuzzEvent: Equatable {
    case head(RequestHead)
    case body([UInt8])
    case end
}

struct HTTPFuzzOutcome: Equatable {
    var events: [HTTPFuzzEvent] = []
    var error: HTTPParserError?
}

func fuzzHTTPRequest(_ input: [UInt8]) {
    guard input.count >= 2 else { return }
    let control = input[0]
    var random = FuzzRandom(seed: input.prefix(2))
    var limits = HTTPLimits()
    if control & 1 == 1 {
        // Small limits, so the fuzzer reaches every limit check with short inputs.
        limits.maxHeaderBytes = random.int(in: 16...512)
        limits.maxBodyBytes = random.int(in: 0...256)
        limits.maxChunkLineBytes = random.int(in: 1...64)
    }
    let maxPiece = [1, 2, 3, 5, 8, 16, 64, 1024][Int(control >> 1) & 7]
    let stream = Array(input.dropFirst(2))
    let whole = httpFuzzRun([stream[...]], limits: limits)
    let split = httpFuzzRun(fuzzSplits(stream, random: &random, maxPiece: maxPiece), limits: limits)
    fuzzCheck(whole == split, "splits changed the outcome:\n whole \(whole)\n split \(split)")
}

/// Feeds the pieces one by one as a connection does (parse until nil after each), stopping at the first error.
func httpFuzzRun(_ pieces: [ArraySlice<UInt8>], limits: HTTPLimits) -> HTTPFuzzOutcome {
    var parser = HTTPRequestParser(limits: limits)
    var buffer = ByteBuffer()
    var outcome = HTTPFuzzOutcome()
    var current: RequestHead?
    var bodyCount = 0
    for piece in pieces {
        buffer.append(piece)
        while true {
            let part: HTTPPart?
            let before = buffer.readableCount
            let blank = buffer.readableBytes.prefix { $0 == 0x0D || $0 == 0x0A }.count
            do {
                part = try parser.parse(&buffer)
            } catch {
                outcome.error = error
                return outcome
            }
            guard let part else {
                // Waiting for bytes: what stays buffered is bounded by the limits.
                fuzzCheck(buffer.readableCount <= max(limits.maxHeaderBytes, limits.maxChunkLineBytes + 1),
                          "\(buffer.readableCount) bytes buffered while waiting")
                break
            }
            switch part {
            case .head(let head):
                fuzzCheck(current == nil, "a head before the previous request ended")
                fuzzCheck(!parser.isIdle, "idle right after a head")
                httpFuzzCheckHead(head, limits: limits)
                // Blank lines before a request line are skipped (RFC 9112 §2.2) and not part of the head.
                let headBytes = before - buffer.readableCount - blank
                fuzzCheck(headBytes <= limits.maxHeaderBytes, "a head of \(headBytes) bytes over the limit \(limits.maxHeaderBytes)")
                current = head
                bodyCount = 0
                outcome.events.append(.head(head))
            case .body(let bytes):
                guard let head = current else { fuzzCheck(false, "body before a head"); return outcome }
                fuzzCheck(!bytes.isEmpty, "an empty body part")
                bodyCount += bytes.count
                fuzzCheck(bodyCount <= limits.maxBodyBytes, "body of \(bodyCount) bytes over the limit \(limits.maxBodyBytes)")
                if let length = head.contentLength { fuzzCheck(bodyCount <= length, "body longer than Content-Length") }
                fuzzCheck(head.hasBody, "body for a head without one")
                if case .body(let earlier) = outcome.events.last {
                    outcome.events[outcome.events.count - 1] = .body(earlier + bytes)
                } else {
                    outcome.events.append(.body(bytes))
                }
            case .end:
                guard let head = current else { fuzzCheck(false, "end before a head"); return outcome }
                fuzzCheck(parser.isIdle, "not idle after the end of a request")
                if let length = head.contentLength { fuzzCheck(bodyCount == length, "body of \(bodyCount) bytes, Content-Length \(length)") }
                if !head.chunked, head.contentLength == nil { fuzzCheck(bodyCount == 0, "body without framing") }
                current = nil
                outcome.events.append(.end)
            }
        }
    }
    return outcome
}

func httpFuzzCheckHead(_ head: RequestHead, limits: HTTPLimits) {
    fuzzCheck(!(head.chunked && head.contentLength != nil), "both chunked and Content-Length")
    if let length = head.contentLength { fuzzCheck(length >= 0 && length <= limits.maxBodyBytes, "Content-Length \(length) accepted") }
    fuzzCheck(!head.method.rawValue.isEmpty && head.method.rawValue.utf8.allSatisfy(HTTPRequestParser.isTokenByte), "method \(head.method)")
    fuzzCheck(!head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target \(head.target)")
    fuzzCheck(head.version == .http1_1 || head.version == .http1_0, "version")
    if head.version == .http1_1 { fuzzCheck(head.headers.values("Host").count == 1, "HTTP/1.1 without exactly one Host") }
    fuzzCheck(head.headers.values("Authorization").count <= 1, "repeated Authorization")
    if head.chunked { fuzzCheck(head.version == .http1_1, "chunked HTTP/1.0") }
    for field in head.headers.fields {
        fuzzCheck(!field.name.isEmpty && field.name.utf8.allSatisfy(HTTPRequestParser.isTokenByte), "header name \(field.name)")
        fuzzCheck(!field.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 || $0 == 0x7F }, "control byte in a header value")
    }
    _ = head.keepAlive
    fuzzCheck(head.hasBody == (head.chunked || (head.contentLength ?? 0) > 0), "hasBody")
    // The head, written back, parses to itself.
    var text = Array("\(head.method.rawValue) \(head.target) \(head.version == .http1_1 ? "HTTP/1.1" : "HTTP/1.0")\r\n".utf8)
    for field in head.headers.fields { text += Array("\(field.name): \(field.value)\r\n".utf8) }
    text += [0x0D, 0x0A]
    do {
        let again = try HTTPRequestParser.parseHeadBytes(text, limits: limits)
        fuzzCheck(again == head, "head round trip: \(head) → \(again)")
    } catch {
        fuzzCheck(false, "the written head does not parse: \(error)")
    }
}
