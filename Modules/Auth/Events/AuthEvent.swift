import Core

/// Published when an organization is created.
public struct OrganizationCreated: DomainEvent {
    public let organization: Organization
}

/// Published when a user is created.
public struct UserCreated: DomainEvent {
    public let user: User
}

/// Published when a token is revoked, so in-process caches drop it.
public struct TokenRevoked: DomainEvent {
    public let tokenID: Int64
}
