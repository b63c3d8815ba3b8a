import Core

/// The errors of the Auth module (organizations and users); each case's code, status and detail are mapped here
/// only. Credentials and roles answer with the shared `APIError.unauthorized` / `APIError.forbidden`.
public enum AuthError: PlatformError, Equatable {
    /// 404 `ORGANIZATION_NOT_FOUND`: no organization with this slug.
    case organizationNotFound(slug: String)
    /// 409 `ORGANIZATION_EXISTS`: the slug is taken.
    case organizationExists(slug: String)
    /// 404 `USER_NOT_FOUND`: no user with this username.
    case userNotFound(username: String)
    /// 409 `USER_EXISTS`: the username is taken (usernames are global).
    case userExists(username: String)

    public var status: Int {
        switch self {
        case .organizationNotFound, .userNotFound: 404
        case .organizationExists, .userExists: 409
        }
    }

    public var code: String {
        switch self {
        case .organizationNotFound: "ORGANIZATION_NOT_FOUND"
        case .organizationExists: "ORGANIZATION_EXISTS"
        case .userNotFound: "USER_NOT_FOUND"
        case .userExists: "USER_EXISTS"
        }
    }

    public var detail: String {
        switch self {
        case .organizationNotFound(let slug): "Organization \(slug) does not exist"
        case .organizationExists(let slug): "Organization \(slug) already exists"
        case .userNotFound(let username): "No user \(username)"
        case .userExists(let username): "User \(username) already exists"
        }
    }
}
