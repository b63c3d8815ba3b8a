import Core

/// Why a multipart body was rejected: `malformed` → 400, `partTooLarge` → 413.
public enum MultipartError: PlatformError, Equatable {
    case malformed(String)
    case partTooLarge
    case tooManyParts

    public var status: Int { self == .partTooLarge ? 413 : 400 }
    public var code: String { self == .partTooLarge ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST" }
    public var detail: String {
        switch self {
        case .malformed(let why): "Malformed multipart body: \(why)"
        case .partTooLarge: "A multipart part is too large"
        case .tooManyParts: "Too many multipart parts"
        }
    }
}
