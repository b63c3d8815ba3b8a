// Fuzz target `json`: JSONParser on arbitrary bytes. Invariants: never a crash (nesting is limited, invalid UTF-8 is
// rejected); a parsed value written by JSONWriter parses to the same value, and writing that again gives the same bytes.

func fuzzJSON(_ input: [UInt8]) {
    guard let value = try? JSONParser.parse(input) else { return }
    let written = JSONWriter.bytes(value)
    let again: JSON
    do {
        again = try JSONParser.parse(written)
    } catch {
        fuzzCheck(false, "written JSON does not parse (\(error)): \(String(decoding: written, as: UTF8.self))")
        return
    }
    fuzzCheck(again == value, "round trip changed the value: \(value) → \(again)")
    fuzzCheck(JSONWriter.bytes(again) == written, "writing is not stable: \(String(decoding: written, as: UTF8.self))")
    fuzzJSONCheckShape(value, depth: 0)
}

/// Checks what the parser promises of every value: finite numbers, nesting within the limit, unique keys.
func fuzzJSONCheckShape(_ value: JSON, depth: Int) {
    switch value {
    case .number(let n):
        fuzzCheck(n.isFinite, "a non-finite number")
    case .array(let items):
        fuzzCheck(depth < JSONParser.defaultMaxDepth, "nesting deeper than the limit")
        for item in items { fuzzJSONCheckShape(item, depth: depth + 1) }
    case .object(let object):
        fuzzCheck(depth < JSONParser.defaultMaxDepth, "nesting deeper than the limit")
        fuzzCheck(Set(object.keys).count == object.count, "duplicate keys")
        for entry in object.entries { fuzzJSONCheckShape(entry.value, depth: depth + 1) }
    case .null, .bool, .string:
        break
    }
}
