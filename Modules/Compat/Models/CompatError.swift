import Core

/// The errors of the compatibility dialects (EVRYTHNG, UFDL); each case's code, status and detail are mapped here only.
/// Each dialect's error renderer then shapes them (and every other `PlatformError`) as its vendor does.
public enum CompatError: PlatformError, Equatable {
    /// 400 `INVALID_FILTER`: a UFDL FilterSpec or an EVRYTHNG `filter` that does not parse; `detail` says what is wrong.
    case invalidFilter(String)
    /// 400 `INVALID_PAGE_TOKEN`: an EVRYTHNG `nextPageToken` we did not issue.
    case invalidPageToken
    /// 400 `VALIDATION_ERROR` on `team`: UFDL projects belong to the caller's organization only.
    case foreignTeam(Int64)
    /// 400 `VALIDATION_ERROR`: a field of the vendor's schema that this platform does not keep (EVRYTHNG `imageUrl`).
    case unsupportedField(String)
    /// 404 `NOT_FOUND`: no operator (user) with this id in the caller's organization.
    case operatorNotFound(String)

    public var status: Int {
        switch self {
        case .invalidFilter, .invalidPageToken, .foreignTeam, .unsupportedField: 400
        case .operatorNotFound: 404
        }
    }

    public var code: String {
        switch self {
        case .invalidFilter: "INVALID_FILTER"
        case .invalidPageToken: "INVALID_PAGE_TOKEN"
        case .foreignTeam, .unsupportedField: "VALIDATION_ERROR"
        case .operatorNotFound: "NOT_FOUND"
        }
    }

    public var detail: String {
        switch self {
        case .invalidFilter(let problem): problem
        case .invalidPageToken: "nextPageToken is not a token this server issued"
        case .foreignTeam(let team): "team \(team) is not your team"
        case .unsupportedField(let field): "\(field) is not supported by this server"
        case .operatorNotFound(let id): "Operator \(id) not found"
        }
    }

    public var fields: [String: String] {
        switch self {
        case .foreignTeam: ["team": "must be the primary key of your own team"]
        case .unsupportedField(let field): [field: "not supported by this server"]
        default: [:]
        }
    }
}
