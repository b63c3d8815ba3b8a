import Core

/// The authenticated caller of a request, as the one scope checker established it. A route can only
/// get one by authenticating, so holding a `Caller` means the token was valid.
public struct Caller: Sendable {
    public let tokenID: Int64
    public let userID: Int64
    public let username: String
    public let organizationID: Int64
    public let organizationSlug: String
    public let organizationName: String
    /// Effective role: the lower of the token's and its user's current role.
    public let role: Role
    public let allProjects: Bool
    public let projects: [String]
    public let expiresAt: Int64?

    /// What a route wants to do with a project.
    public enum Access: Sendable { case read, write }

    /// Whether the token's scope includes `projectID` (not whether the project exists).
    public func canSee(projectID: String) -> Bool { allProjects || projects.contains(projectID) }

    /// 403 unless the caller's role is at least `minimum`.
    public func require(_ minimum: Role) throws(APIError) {
        guard role >= minimum else {
            throw APIError.forbidden("This action needs the \(minimum.rawValue) role; the token has \(role.rawValue)")
        }
    }

    /// The check every project-scoped route makes (DESIGN §3.3), in this order:
    /// another organization's project → 404 (`notFound`, never revealing it exists); outside the token's
    /// project scope → 403; a write with a role below manager → 403.
    public func authorize(projectID: String, organizationID projectOrganization: Int64, access: Access,
                          notFound: some PlatformError) throws {
        guard projectOrganization == organizationID else { throw notFound }
        guard canSee(projectID: projectID) else {
            throw APIError.forbidden("The token is not scoped to project \(projectID)")
        }
        if access == .write { try require(.manager) }
    }

    public var json: JSON {
        var token = JSONObject()
        token.append("id", .int64(tokenID))
        token.append("role", .string(role.rawValue))
        token.append("all_projects", .bool(allProjects))
        token.append("projects", .array(projects.map(JSON.string)))
        token.append("expires_at", expiresAt.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null)
        return .object([
            "user": .object(["id": .int64(userID), "username": .string(username), "role": .string(role.rawValue)]),
            "organization": .object(["id": .int64(organizationID), "slug": .string(organizationSlug), "name": .string(organizationName)]),
            "token": .object(token),
        ])
    }
}
