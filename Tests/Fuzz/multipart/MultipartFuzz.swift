// Fuzz target `multipart`: MultipartParser. Input: a control byte (limits, split sizes), the Content-Type value up to
// the first LF, then the body. Invariants: never a crash; the outcome does not depend on how the body is split
// across feeds; at most maxParts parts of at most maxPartBytes each; parts written back with the same boundary
// parse to the same parts.

struct MultipartFuzzOutcome: Equatable {
    var parts: [MultipartPart] = []
    var error: MultipartError?
}

func fuzzMultipart(_ input: [UInt8]) {
    guard input.count >= 2, let newline = input[1...].firstIndex(of: 0x0A) else { return }
    let control = input[0]
    let contentType = String(decoding: input[1..<newline], as: UTF8.self)
    let body = Array(input[(newline + 1)...])
    var random = FuzzRandom(seed: input.prefix(8))
    let maxPartBytes = control & 1 == 1 ? random.int(in: 0...64) : 10_485_760
    let maxParts = control & 2 == 2 ? random.int(in: 1...4) : 100
    let maxPiece = [1, 2, 3, 7, 16, 64, 256, 4096][Int(control >> 2) & 7]
    guard let parser = try? MultipartParser(contentType: contentType, maxPartBytes: maxPartBytes, maxParts: maxParts) else { return }

    let whole = multipartFuzzRun(parser, [body[...]])
    let split = multipartFuzzRun(parser, fuzzSplits(body, random: &random, maxPiece: maxPiece))
    fuzzCheck(whole == split, "splits changed the outcome:\n whole \(whole)\n split \(split)")
    guard whole.error == nil else { return }
    fuzzCheck(whole.parts.count <= maxParts, "\(whole.parts.count) parts over the limit \(maxParts)")
    for part in whole.parts {
        fuzzCheck(part.body.count <= maxPartBytes, "a part of \(part.body.count) bytes over the limit \(maxPartBytes)")
        _ = (part.name, part.filename, part.contentType, part.text)
    }
    // Written back with the same boundary (each header as `name: value`), the parts parse to themselves.
    var written = parser.delimiter
    for part in whole.parts {
        written += [0x0D, 0x0A]
        for field in part.headers.fields { written += Array("\(field.name): \(field.value)\r\n".utf8) }
        written += [0x0D, 0x0A] + part.body + parser.delimiter
    }
    written += Array("--\r\n".utf8)
    let again = multipartFuzzRun(parser, [written[...]])
    fuzzCheck(again == whole, "round trip changed the parts:\n \(whole)\n \(again)")
}

/// Feeds the pieces to a copy of `parser`, then `finish()`; the first error ends the run.
func multipartFuzzRun(_ parser: MultipartParser, _ pieces: [ArraySlice<UInt8>]) -> MultipartFuzzOutcome {
    var parser = parser
    var outcome = MultipartFuzzOutcome()
    do {
        for piece in pieces { outcome.parts += try parser.feed(piece) }
        try parser.finish()
    } catch {
        // Parts completed before the error are dropped (the request is rejected), so only the error compares.
        outcome = MultipartFuzzOutcome(parts: [], error: error)
    }
    return outcome
}
