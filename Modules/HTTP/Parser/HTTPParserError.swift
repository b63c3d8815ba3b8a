import Core

/// Why a request could not be parsed. Every case is answered once, with `status`, then the connection closes.
public enum HTTPParserError: PlatformError, Equatable {
    /// Bad request line, header syntax, framing or chunk encoding → 400.
    case malformed(String)
    /// The header block is larger than `maxHeaderBytes` → 431.
    case headerTooLarge
    /// The body is (or would be) larger than `maxBodyBytes` → 413.
    case bodyTooLarge
    /// `HTTP/2.0` and friends on an HTTP/1 socket → 505.
    case unsupportedVersion
    /// A transfer coding other than `chunked` → 501.
    case unsupportedTransferEncoding

    public var status: Int {
        switch self {
        case .malformed: 400
        case .headerTooLarge: 431
        case .bodyTooLarge: 413
        case .unsupportedVersion: 505
        case .unsupportedTransferEncoding: 501
        }
    }

    public var code: String {
        switch self {
        case .malformed: "BAD_REQUEST"
        case .headerTooLarge: "HEADER_TOO_LARGE"
        case .bodyTooLarge: "PAYLOAD_TOO_LARGE"
        case .unsupportedVersion: "HTTP_VERSION_NOT_SUPPORTED"
        case .unsupportedTransferEncoding: "NOT_IMPLEMENTED"
        }
    }

    public var detail: String {
        switch self {
        case .malformed(let why): "Malformed request: \(why)"
        case .headerTooLarge: "Request header block is too large"
        case .bodyTooLarge: "Request body is too large"
        case .unsupportedVersion: "Only HTTP/1.0 and HTTP/1.1 are supported"
        case .unsupportedTransferEncoding: "Only the chunked transfer coding is supported"
        }
    }

    /// Every parser error is the client's own doing, 5xx included: it is answered as it is.
    public var exposesDetail: Bool { true }
}

/// Parser limits, with their defaults (`server.max_header_bytes`, `server.max_body_bytes`).
public struct HTTPLimits: Sendable {
    /// Request line plus header fields, in bytes (default 16 KiB).
    public var maxHeaderBytes = 16_384
    /// Decoded body, in bytes (default 10 MiB).
    public var maxBodyBytes = 10_485_760
    /// Longest chunk-size line (with extensions).
    public var maxChunkLineBytes = 1_024

    public init() {}
}
