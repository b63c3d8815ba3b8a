import Core
import Foundation
import Persistence
import Platform
import Synchronization

/// Auth's domain API: organizations, users, tokens, login, and the one scope checker every route calls.
public final class AuthService: Sendable, PlatformService {
    package let context: PlatformContext
    let iterations: Int
    let loginTokenLifetime: Double
    /// Failed logins per (address, username): a flood from one address locks only the names it guesses there.
    let loginLimiter: any AttemptLimiter
    /// Failed logins per address, whatever the username (a higher bound: several users may share an address).
    let addressLimiter: any AttemptLimiter
    /// Lifetimes of the UFDL dialect's session tokens (`auth.access_token_ttl` 5 min, `auth.refresh_token_ttl` 8 h).
    public let accessTokenLifetime: Double
    public let refreshTokenLifetime: Double
    private let dummyHash = Mutex<String?>(nil)
    /// Token hash → caller, per thread. Revocations in this process clear it at commit; a revocation by another
    /// process on the same database (`admin-cli token revoke`) is seen within `auth.token_cache_ttl` (≤ 1 s).
    /// A looked-up token: its caller and kind (a refresh token stays refused wherever it is cached).
    struct CachedToken: Sendable {
        let caller: Caller
        let kind: TokenKind
    }

    let tokenCache: ThreadLocalCache<SHA256Digest, CachedToken>

    public init(context: PlatformContext) {
        self.context = context
        iterations = max(1, context.config.int(AuthKeys.pbkdf2Iterations))
        loginTokenLifetime = context.config.seconds(AuthKeys.loginTokenTTL)
        accessTokenLifetime = context.config.seconds(AuthKeys.accessTokenTTL)
        refreshTokenLifetime = context.config.seconds(AuthKeys.refreshTokenTTL)
        let window = context.config.seconds(AuthKeys.loginWindow)
        loginLimiter = context.attemptLimiter("auth.login", maxFailures: context.config.int(AuthKeys.loginMaxFailures), window: window)
        addressLimiter = context.attemptLimiter("auth.address", maxFailures: context.config.int(AuthKeys.loginMaxFailuresPerAddress), window: window)
        tokenCache = ThreadLocalCache(ttl: min(1, max(0, context.config.seconds(AuthKeys.tokenCacheTTL))))
        // A token revoked through another server is refused here at once (the cache's 1 s bound holds regardless).
        context.db.changes.subscribe(Self.tokensTopic) { [tokenCache] _ in tokenCache.invalidateAll() }
    }

    /// The change-feed topic announced when tokens are revoked.
    static let tokensTopic = "auth.tokens"

    var now: String { Timestamp.format(clock.now()) }

    // MARK: - The scope checker

    /// Authenticates a bearer token (the route layer takes it from `Authorization: Bearer …`).
    /// Missing, malformed, unknown, expired or revoked → 401.
    /// A refresh token (UFDL dialect) is refused here: it is good only for `refreshSession`.
    public func authenticate(token: String?) throws(APIError) -> Caller {
        let (caller, kind) = try lookUp(token: token)
        guard kind != .refresh else { throw APIError.unauthorized("A refresh token only refreshes; send its access token") }
        return caller
    }

    /// The caller and kind of any live token (missing, unknown, expired, revoked → 401).
    func lookUp(token: String?) throws(APIError) -> (Caller, TokenKind) {
        guard let secret = token else { throw APIError.unauthorized("Missing Authorization: Bearer <token>") }
        guard !secret.isEmpty, secret.utf8.count <= 256 else { throw APIError.unauthorized }
        let digest = Secrets.sha256Digest(secret)
        let caller: Caller
        let kind: TokenKind
        if let cached = tokenCache.value(for: digest) {
            (caller, kind) = (cached.caller, cached.kind)
        } else {
            let generation = tokenCache.generation
            let found: (Caller, revoked: Bool, kind: TokenKind)?
            do {
                let hash = digest.hex
                found = try db.read { try AuthStore(db: $0).caller(tokenHash: hash) }
            } catch {
                logger.error("token lookup failed", ["error": .string(String(describing: error))])
                throw APIError.unavailable("Authentication is temporarily unavailable",
                                           retryAfter: (error as? any TransientFailure)?.retryAfterSeconds ?? 1)
            }
            guard let (lookedUp, revoked, lookedUpKind) = found, !revoked else { throw APIError.unauthorized }
            tokenCache.store(CachedToken(caller: lookedUp, kind: lookedUpKind), for: digest, generation: generation)
            (caller, kind) = (lookedUp, lookedUpKind)
        }
        if let expiresAt = caller.expiresAt, expiresAt <= clock.unixSeconds() {
            throw APIError.unauthorized("Token expired")
        }
        return (caller, kind)
    }

    // MARK: - Session tokens (UFDL dialect)

    /// Username + password → a refresh token (`auth.refresh_token_ttl`) and an access token minted from it
    /// (`auth.access_token_ttl`); the same checks and rate limit as `login`. Both are ordinary, revocable tokens with the
    /// user's role for all projects; revoking the refresh token revokes the access tokens minted from it.
    public func obtainSession(username: String, password: String, clientAddress: String) throws -> (access: IssuedToken, refresh: IssuedToken) {
        let user = try verifyCredentials(username: username, password: password, clientAddress: clientAddress)
        let refreshExpiry = clock.unixSeconds() + Int64(refreshTokenLifetime.rounded())
        let refresh = try store(user: user, name: "session refresh", role: user.role, allProjects: true, projects: [], expiresAt: refreshExpiry,
                                kind: .refresh)
        let access = try accessToken(for: user, role: user.role, parent: refresh.record)
        return (access, refresh)
    }

    /// A live refresh token → a new access token (never outliving the refresh token). Anything else → 401.
    public func refreshSession(refreshToken: String) throws -> IssuedToken {
        let (caller, kind) = try lookUp(token: refreshToken)
        guard kind == .refresh else { throw APIError.unauthorized("Not a refresh token") }
        guard let user = try db.read({ try AuthStore(db: $0).user(id: caller.userID) }) else { throw APIError.unauthorized }
        let parent = TokenRecord(id: caller.tokenID, name: "", userID: user.id, username: user.username, organizationID: user.organizationID,
                                 role: caller.role, allProjects: true, projects: [], createdAt: "", expiresAt: caller.expiresAt, revokedAt: nil)
        return try accessToken(for: user, role: caller.role, parent: parent)
    }

    /// Whether `token` is a live token of any kind (UFDL's `verify`): returns, or throws 401.
    public func verifySession(token: String) throws {
        _ = try lookUp(token: token)
    }

    private func accessToken(for user: User, role: Role, parent: TokenRecord) throws -> IssuedToken {
        var expiresAt = clock.unixSeconds() + Int64(accessTokenLifetime.rounded())
        if let limit = parent.expiresAt { expiresAt = min(expiresAt, limit) }
        return try store(user: user, name: "session access", role: role, allProjects: true, projects: [], expiresAt: expiresAt,
                         parentID: parent.id, kind: .access)
    }

    /// A user of the caller's organization by id (the EVRYTHNG dialect's `/operators/{id}`); another organization's → nil.
    public func user(id: Int64, visibleTo caller: Caller) throws -> User? {
        guard let user = try db.read({ try AuthStore(db: $0).user(id: id) }), user.organizationID == caller.organizationID else { return nil }
        return user
    }

    // MARK: - Organizations and users

    public func createOrganization(slug: String, name: String) throws -> Organization {
        var problems: [String: String] = [:]
        if !AuthPatterns.isValidSlug(slug) { problems["slug"] = "must match ^[a-z0-9][a-z0-9-]{0,62}$" }
        if !(1...200).contains(name.count) { problems["name"] = "length must be 1..200" }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return try db.write { tx in
            let store = AuthStore(db: tx)
            if try store.organization(slug: slug) != nil {
                throw AuthError.organizationExists(slug: slug)
            }
            let organization = try store.insertOrganization(slug: slug, name: name, createdAt: now)
            try bus.publish(OrganizationCreated(organization: organization), in: tx)
            return organization
        }
    }

    public func organizations() throws -> [Organization] {
        try db.read { try AuthStore(db: $0).organizations() }
    }

    public func organization(slug: String) throws -> Organization? {
        try db.read { try AuthStore(db: $0).organization(slug: slug) }
    }

    public func organization(id: Int64) throws -> Organization? {
        try db.read { try AuthStore(db: $0).organization(id: id) }
    }

    public func createUser(username: String, organizationSlug: String, role: Role, password: String) throws -> User {
        try validateUser(username: username, password: password)
        let hash = PasswordHasher.hash(password, iterations: iterations)
        return try db.write { tx in
            let store = AuthStore(db: tx)
            guard let organization = try store.organization(slug: organizationSlug) else {
                throw AuthError.organizationNotFound(slug: organizationSlug)
            }
            if try store.user(username: username) != nil { throw AuthError.userExists(username: username) }
            let user = try store.insertUser(organizationID: organization.id, username: username, role: role, passwordHash: hash, createdAt: now)
            try bus.publish(UserCreated(user: user), in: tx)
            return user
        }
    }

    func validateUser(username: String, password: String) throws(APIError) {
        var problems: [String: String] = [:]
        if !AuthPatterns.isValidUsername(username) { problems["username"] = "must match ^[A-Za-z0-9_.@-]{1,64}$" }
        if password.count < 8 || password.utf8.count > 1024 { problems["password"] = "length must be 8..1024" }
        if !problems.isEmpty { throw APIError.validation(problems) }
    }

    public func users(organizationSlug: String) throws -> [User] {
        try db.read { db in
            let store = AuthStore(db: db)
            guard let organization = try store.organization(slug: organizationSlug) else {
                throw AuthError.organizationNotFound(slug: organizationSlug)
            }
            return try store.users(organizationID: organization.id)
        }
    }

    public func setPassword(username: String, password: String) throws {
        try validateUser(username: username, password: password)
        let hash = PasswordHasher.hash(password, iterations: iterations)
        try db.write { tx in
            let store = AuthStore(db: tx)
            guard let (user, _) = try store.user(username: username) else { throw AuthError.userNotFound(username: username) }
            try store.setPassword(userID: user.id, passwordHash: hash)
        }
    }

    /// `admin-cli init`: the organization, its owner and an owner token, in one transaction.
    public func initialize(organizationSlug: String, organizationName: String, username: String, password: String) throws
        -> (Organization, User, IssuedToken) {
        try validateUser(username: username, password: password)
        let organization = try createOrganization(slug: organizationSlug, name: organizationName)
        let user = try createUser(username: username, organizationSlug: organizationSlug, role: .owner, password: password)
        let token = try issueToken(username: username, TokenRequest(name: "init"))
        return (organization, user, token)
    }

    /// First start of `api-server` on an empty database: org `default`, owner `admin` (random password,
    /// set one with `admin-cli user passwd`), and an owner token. Returns the token, or nil if any org exists.
    public func bootstrapIfEmpty() throws -> String? {
        let count = try db.read { try AuthStore(db: $0).organizationCount() }
        guard count == 0 else { return nil }
        _ = try createOrganization(slug: "default", name: "Default organization")
        _ = try createUser(username: "admin", organizationSlug: "default", role: .owner, password: Secrets.token(prefix: ""))
        return try issueToken(username: "admin", TokenRequest(name: "bootstrap")).secret
    }

    // MARK: - Tokens

    /// Mints a token for `username` with at most the user's role (the CLI path: the operator is trusted).
    public func issueToken(username: String, _ request: TokenRequest) throws -> IssuedToken {
        let user = try db.read { db -> User in
            guard let (user, _) = try AuthStore(db: db).user(username: username) else {
                throw AuthError.userNotFound(username: username)
            }
            return user
        }
        let role = request.role ?? user.role
        guard role <= user.role else { throw APIError.forbidden("User \(username) is \(user.role.rawValue); cannot issue a \(role.rawValue) token") }
        let expiresAt = request.expiresIn.map { clock.unixSeconds() + Int64($0.rounded()) }
        return try store(user: user, name: request.name, role: role, allProjects: request.allProjects ?? (request.projects == nil),
                         projects: request.projects ?? [], expiresAt: expiresAt)
    }

    /// Mints a token through the API: never more rights than the minting token (role, projects, lifetime).
    public func mintToken(by caller: Caller, _ request: TokenRequest) throws -> IssuedToken {
        try caller.require(.manager)
        let role = request.role ?? caller.role
        guard role <= caller.role else {
            throw APIError.forbidden("A \(caller.role.rawValue) token cannot mint a \(role.rawValue) token")
        }
        let allProjects = request.allProjects ?? (request.projects == nil ? caller.allProjects : false)
        let projects = Array(Set(request.projects ?? (allProjects ? [] : caller.projects))).sorted()
        if allProjects, !caller.allProjects {
            throw APIError.forbidden("A token scoped to projects cannot mint an all-projects token")
        }
        if !caller.allProjects, let outside = projects.first(where: { !caller.projects.contains($0) }) {
            throw APIError.forbidden("The token is not scoped to project \(outside)")
        }
        if !allProjects, projects.isEmpty {
            throw APIError.validation(field: "projects", "must name at least one project when all_projects is false")
        }
        var expiresAt = request.expiresIn.map { clock.unixSeconds() + Int64($0.rounded()) }
        if let limit = caller.expiresAt, expiresAt == nil || expiresAt! > limit { expiresAt = limit }
        let user = User(id: caller.userID, organizationID: caller.organizationID, username: caller.username, role: caller.role, createdAt: "")
        return try store(user: user, name: request.name, role: role, allProjects: allProjects, projects: projects, expiresAt: expiresAt,
                         parentID: caller.tokenID)
    }

    private func store(user: User, name: String, role: Role, allProjects: Bool, projects: [String], expiresAt: Int64?,
                       parentID: Int64? = nil, kind: TokenKind = .api) throws -> IssuedToken {
        let secret = Secrets.token()
        let hash = Secrets.sha256Hex(secret)
        let createdAt = now
        let id = try db.write { tx in
            try AuthStore(db: tx).insertToken(hash: hash, name: name, userID: user.id, organizationID: user.organizationID, role: role,
                                              allProjects: allProjects, projects: allProjects ? [] : projects, createdAt: createdAt,
                                              expiresAt: expiresAt, parentID: parentID, kind: kind)
        }
        let record = TokenRecord(id: id, name: name, userID: user.id, username: user.username, organizationID: user.organizationID,
                                 role: role, allProjects: allProjects, projects: allProjects ? [] : projects, createdAt: createdAt,
                                 expiresAt: expiresAt, revokedAt: nil)
        return IssuedToken(record: record, secret: secret)
    }

    /// Tokens the caller may see: all of the organization's for managers and owners, their own for viewers.
    /// A project-scoped token sees, besides its user's own, only tokens scoped within its own projects (never an
    /// all-projects token): its scope bounds what it may learn about the organization.
    public func tokens(visibleTo caller: Caller, page: PageRequest) throws -> PageResult<TokenRecord> {
        let userFilter: Int64? = caller.role >= .manager ? nil : caller.userID
        if caller.allProjects {
            let (count, items) = try db.read {
                try AuthStore(db: $0).tokens(organizationID: caller.organizationID, userID: userFilter, limit: page.limit, offset: page.offset)
            }
            return PageResult(count: count, items: items)
        }
        let all = try db.read {
            try AuthStore(db: $0).tokens(organizationID: caller.organizationID, userID: userFilter, limit: 100_000, offset: 0).items
        }
        let visible = all.filter { Self.isVisible($0, to: caller) }
        return PageResult(count: Int64(visible.count), items: Array(visible.dropFirst(page.offset).prefix(page.limit)))
    }

    public func token(id: Int64, visibleTo caller: Caller) throws -> TokenRecord {
        guard let token = try db.read({ try AuthStore(db: $0).token(id: id) }), token.organizationID == caller.organizationID,
              caller.role >= .manager || token.userID == caller.userID, Self.isVisible(token, to: caller)
        else { throw APIError.notFound("No token \(id)") }
        return token
    }

    /// A token sees (and may revoke) only tokens whose scope lies within its own: an all-projects token sees every
    /// token its role allows; a project-scoped one sees itself and tokens limited to a subset of its projects, never a
    /// wider token, not even one of its own user.
    static func isVisible(_ token: TokenRecord, to caller: Caller) -> Bool {
        if caller.allProjects || token.id == caller.tokenID { return true }
        return !token.allProjects && Set(token.projects).isSubset(of: caller.projects)
    }

    /// Revokes a token: one's own always; others' with a manager role at least as high as the token's.
    public func revokeToken(id: Int64, by caller: Caller) throws {
        let token = try token(id: id, visibleTo: caller)
        if token.userID != caller.userID {
            try caller.require(.manager)
            guard token.role <= caller.role else { throw APIError.forbidden("Cannot revoke a token with a higher role") }
        }
        try revokeToken(id: id)
    }

    /// Revokes without rights checks (the CLI path), with every token minted from it, transitively: a
    /// stolen token's children do not outlive its revocation. Idempotent.
    public func revokeToken(id: Int64) throws {
        try db.write { tx in
            let store = AuthStore(db: tx)
            guard try store.token(id: id) != nil else { throw APIError.notFound("No token \(id)") }
            let time = now
            var revoked = Set<Int64>()
            var wave = [id]
            while !wave.isEmpty {
                for tokenID in wave where revoked.insert(tokenID).inserted {
                    try store.revokeToken(id: tokenID, at: time)
                    try bus.publish(TokenRevoked(tokenID: tokenID), in: tx)
                }
                wave = try store.children(of: wave).filter { !revoked.contains($0) }
            }
            tx.onCommit { [tokenCache] in tokenCache.invalidateAll() }
            tx.announce(Self.tokensTopic)
        }
    }

    /// Every token, optionally of one organization (the CLI path).
    public func allTokens(organizationSlug: String?) throws -> [TokenRecord] {
        try db.read { db in
            let store = AuthStore(db: db)
            let organizations = try organizationSlug.map { slug -> [Organization] in
                guard let organization = try store.organization(slug: slug) else {
                    throw AuthError.organizationNotFound(slug: slug)
                }
                return [organization]
            } ?? store.organizations()
            return try organizations.flatMap { try store.tokens(organizationID: $0.id, userID: nil, limit: 1_000_000, offset: 0).items }
        }
    }

    // MARK: - Login

    /// Username + password → a new all-projects token with the user's role. Failures are rate limited
    /// per username and per client address (429 with `Retry-After`).
    public func login(username: String, password: String, clientAddress: String) throws -> (IssuedToken, Caller) {
        let user = try verifyCredentials(username: username, password: password, clientAddress: clientAddress)
        let issued = try issueToken(username: user.username, TokenRequest(name: "login", expiresIn: loginTokenLifetime))
        let caller = try authenticate(token: issued.secret)
        return (issued, caller)
    }

    /// The password check of `login` and `obtainSession`, rate limited per (client address, username) and per address
    /// (429). Counted before the check, so parallel guesses cannot exceed the limits. No key is the username alone:
    /// nobody can lock a named user out from their own address, and one busy address (a proxy) cannot lock out another.
    func verifyCredentials(username: String, password: String, clientAddress: String) throws -> User {
        let pair = "login:addr:\(clientAddress):user:\(username.lowercased())"
        let address = "login:addr:\(clientAddress)"
        try addressLimiter.attempt([address])
        do {
            try loginLimiter.attempt([pair])
        } catch {
            addressLimiter.forgive([address])
            throw error
        }
        let found = try db.read { try AuthStore(db: $0).user(username: username) }
        let verified: Bool
        if let found {
            verified = PasswordHasher.verify(password, against: found.passwordHash)
        } else {
            // Spend the same time as a real check so timing does not reveal which usernames exist.
            _ = PasswordHasher.verify(password, against: dummyPasswordHash())
            verified = false
        }
        guard verified, let user = found?.0 else { throw APIError.unauthorized("Invalid username or password") }
        addressLimiter.forgive([address])
        loginLimiter.forgive([pair])
        loginLimiter.reset(pair)
        return user
    }

    private func dummyPasswordHash() -> String {
        if let hash = dummyHash.withLock({ $0 }) { return hash }
        let hash = PasswordHasher.hash(Secrets.token(), iterations: iterations)
        dummyHash.withLock { $0 = hash }
        return hash
    }
}
