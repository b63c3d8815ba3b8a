import Core

/// An organization: the tenant boundary. Nothing crosses it.
public struct Organization: Sendable, Equatable, JSONRepresentable {
    public let id: Int64
    public let slug: String
    public let name: String
    public let createdAt: String

    public var json: JSON {
        .object(["id": .int64(id), "slug": .string(slug), "name": .string(name), "created_at": .string(createdAt)])
    }
}

/// A user of one organization.
public struct User: Sendable, Equatable, JSONRepresentable {
    public let id: Int64
    public let organizationID: Int64
    public let username: String
    public let role: Role
    public let createdAt: String

    public var json: JSON {
        .object(["id": .int64(id), "username": .string(username), "role": .string(role.rawValue), "created_at": .string(createdAt)])
    }
}

/// A stored API token (never its secret).
public struct TokenRecord: Sendable, Equatable, JSONRepresentable {
    public let id: Int64
    public let name: String
    public let userID: Int64
    public let username: String
    public let organizationID: Int64
    public let role: Role
    public let allProjects: Bool
    public let projects: [String]
    public let createdAt: String
    public let expiresAt: Int64?
    public let revokedAt: String?

    public var json: JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append("name", .string(name))
        object.append("user", .object(["id": .int64(userID), "username": .string(username)]))
        object.append("role", .string(role.rawValue))
        object.append("all_projects", .bool(allProjects))
        object.append("projects", .array(projects.map(JSON.string)))
        object.append("created_at", .string(createdAt))
        object.append("expires_at", expiresAt.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null)
        object.append("revoked", .bool(revokedAt != nil))
        object.append("revoked_at", .optional(revokedAt))
        return .object(object)
    }
}

/// A token just minted: the record plus the secret, shown exactly once.
public struct IssuedToken: Sendable, JSONRepresentable {
    public let record: TokenRecord
    public let secret: String

    public var json: JSON {
        guard case .object(var object) = record.json else { return record.json }
        object["token"] = .string(secret)
        return .object(object)
    }
}

/// What to mint: the new token's rights, checked against the minter's.
public struct TokenRequest: Sendable {
    public var name: String
    public var role: Role?
    public var allProjects: Bool?
    public var projects: [String]?
    /// Lifetime in seconds; nil = as long as the minter allows (no expiry for an unexpiring minter).
    public var expiresIn: Double?

    public init(name: String = "", role: Role? = nil, allProjects: Bool? = nil, projects: [String]? = nil, expiresIn: Double? = nil) {
        self.name = name
        self.role = role
        self.allProjects = allProjects
        self.projects = projects
        self.expiresIn = expiresIn
    }
}

/// Validation patterns shared by the CLI and the API.
public enum AuthPatterns {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`
    public static func isValidSlug(_ slug: String) -> Bool {
        let bytes = Array(slug.utf8)
        guard (1...63).contains(bytes.count), isLowerAlnum(bytes[0]) else { return false }
        return bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// `^[A-Za-z0-9_.@-]{1,64}$`
    public static func isValidUsername(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy { isLowerAlnum($0) || ($0 >= 65 && $0 <= 90) || [UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "@"), UInt8(ascii: "-")].contains($0) }
    }

    /// Project ids as DESIGN §5.1 defines them: `^[a-z0-9][a-z0-9_-]{1,63}$`.
    public static func isValidProjectID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (2...64).contains(bytes.count), isLowerAlnum(bytes[0]) else { return false }
        return bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
}

/// What a token is for: an ordinary API token, or one of the UFDL dialect's session pair (a short-lived `access`
/// token, and a `refresh` token good for nothing but minting access tokens).
public enum TokenKind: String, Sendable {
    case api, access, refresh
}
