/// The bytes of a JSON document that has not been parsed yet: a service may read a known shape from them directly and
/// parse the tree only when it must (`parsed()`, which answers malformed input with 400 `MALFORMED_JSON`).
public struct JSONDocument: Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The tree; 400 `MALFORMED_JSON` naming the problem and its byte offset when the bytes are not JSON.
    public func parsed() throws(APIError) -> JSON {
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw APIError.malformedJSON("Malformed JSON: \(error.description)")
        }
    }
}
