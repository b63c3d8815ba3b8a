import Core
import Persistence

/// SQL over Auth's own tables: organizations, users, api_tokens.
struct AuthStore {
    let db: Database

    // MARK: Organizations

    func insertOrganization(slug: String, name: String, createdAt: String) throws -> Organization {
        try db.execute("INSERT INTO organizations (slug, name, created_at) VALUES (?, ?, ?)", [slug, name, createdAt])
        return Organization(id: db.lastInsertRowID, slug: slug, name: name, createdAt: createdAt)
    }

    func organization(slug: String) throws -> Organization? {
        try db.queryOne("SELECT id, slug, name, created_at FROM organizations WHERE slug = ?", [slug]).map(Self.organization)
    }

    func organization(id: Int64) throws -> Organization? {
        try db.queryOne("SELECT id, slug, name, created_at FROM organizations WHERE id = ?", [id]).map(Self.organization)
    }

    func organizations() throws -> [Organization] {
        try db.query("SELECT id, slug, name, created_at FROM organizations ORDER BY slug").map(Self.organization)
    }

    func organizationCount() throws -> Int64 {
        try db.queryOne("SELECT COUNT(*) FROM organizations")?.int(0) ?? 0
    }

    static func organization(_ row: Row) -> Organization {
        Organization(id: row.int(0), slug: row.string(1), name: row.string(2), createdAt: row.string(3))
    }

    // MARK: Users

    func insertUser(organizationID: Int64, username: String, role: Role, passwordHash: String, createdAt: String) throws -> User {
        try db.execute("INSERT INTO users (organization_id, username, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                       [organizationID, username, role.rawValue, passwordHash, createdAt])
        return User(id: db.lastInsertRowID, organizationID: organizationID, username: username, role: role, createdAt: createdAt)
    }

    func user(username: String) throws -> (User, passwordHash: String)? {
        guard let row = try db.queryOne(
            "SELECT id, organization_id, username, role, created_at, password_hash FROM users WHERE username = ?", [username])
        else { return nil }
        return (Self.user(row), row.string(5))
    }

    func users(organizationID: Int64) throws -> [User] {
        try db.query("SELECT id, organization_id, username, role, created_at FROM users WHERE organization_id = ? ORDER BY username",
                     [organizationID]).map(Self.user)
    }

    func setPassword(userID: Int64, passwordHash: String) throws {
        try db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [passwordHash, userID])
    }

    static func user(_ row: Row) -> User {
        User(id: row.int(0), organizationID: row.int(1), username: row.string(2), role: Role(rawValue: row.string(3)) ?? .viewer,
             createdAt: row.string(4))
    }

    // MARK: Tokens

    private static let tokenColumns = """
        t.id, t.name, t.user_id, u.username, t.organization_id, t.role, t.all_projects, t.projects, t.created_at, t.expires_at, t.revoked_at
        """

    func insertToken(hash: String, name: String, userID: Int64, organizationID: Int64, role: Role, allProjects: Bool,
                     projects: [String], createdAt: String, expiresAt: Int64?, parentID: Int64?, kind: TokenKind = .api) throws -> Int64 {
        try db.execute("""
            INSERT INTO api_tokens (token_hash, name, user_id, organization_id, role, all_projects, projects, created_at, expires_at,
                                    parent_id, kind)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [hash, name, userID, organizationID, role.rawValue, allProjects, Self.encode(projects), createdAt, expiresAt, parentID,
                  kind.rawValue])
        return db.lastInsertRowID
    }

    func token(id: Int64) throws -> TokenRecord? {
        try db.queryOne("SELECT \(Self.tokenColumns) FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?", [id])
            .map(Self.token)
    }

    /// Tokens of an organization (optionally of one user), newest first, one page.
    func tokens(organizationID: Int64, userID: Int64?, limit: Int, offset: Int) throws -> (count: Int64, items: [TokenRecord]) {
        let filter = userID == nil ? "t.organization_id = ?" : "t.organization_id = ? AND t.user_id = ?"
        var arguments: [any SQLBindable] = [organizationID]
        if let userID { arguments.append(userID) }
        let count = try db.queryOne("SELECT COUNT(*) FROM api_tokens t WHERE \(filter)", arguments)?.int(0) ?? 0
        let items = try db.query(
            "SELECT \(Self.tokenColumns) FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE \(filter) ORDER BY t.id DESC LIMIT ? OFFSET ?",
            arguments + [limit, offset]).map(Self.token)
        return (count, items)
    }

    /// Unrevoked tokens minted by any of `parents`.
    func children(of parents: [Int64]) throws -> [Int64] {
        guard !parents.isEmpty else { return [] }
        let placeholders = Array(repeating: "?", count: parents.count).joined(separator: ", ")
        return try db.query("SELECT id FROM api_tokens WHERE parent_id IN (\(placeholders)) AND revoked_at IS NULL",
                            parents.map { $0 as any SQLBindable }).map { $0.int(0) }
    }

    func revokeToken(id: Int64, at time: String) throws {
        try db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [time, id])
    }

    /// The caller behind a token hash, with its user's and organization's current state.
    func caller(tokenHash: String) throws -> (Caller, revoked: Bool, kind: TokenKind)? {
        guard let row = try db.queryOne("""
            SELECT t.id, t.user_id, u.username, t.organization_id, o.slug, o.name, t.role, u.role, t.all_projects, t.projects,
                   t.expires_at, t.revoked_at, t.kind
            FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN organizations o ON o.id = t.organization_id
            WHERE t.token_hash = ?
            """, [tokenHash])
        else { return nil }
        let tokenRole = Role(rawValue: row.string(6)) ?? .viewer
        let userRole = Role(rawValue: row.string(7)) ?? .viewer
        let caller = Caller(tokenID: row.int(0), userID: row.int(1), username: row.string(2), organizationID: row.int(3),
                            organizationSlug: row.string(4), organizationName: row.string(5), role: min(tokenRole, userRole),
                            allProjects: row.bool(8), projects: Self.decode(row.string(9)), expiresAt: row.optionalInt(10))
        return (caller, row.optionalString(11) != nil, TokenKind(rawValue: row.string(12)) ?? .api)
    }

    func user(id: Int64) throws -> User? {
        try db.queryOne("SELECT id, organization_id, username, role, created_at FROM users WHERE id = ?", [id]).map(Self.user)
    }

    static func token(_ row: Row) -> TokenRecord {
        TokenRecord(id: row.int(0), name: row.string(1), userID: row.int(2), username: row.string(3), organizationID: row.int(4),
                    role: Role(rawValue: row.string(5)) ?? .viewer, allProjects: row.bool(6), projects: decode(row.string(7)),
                    createdAt: row.string(8), expiresAt: row.optionalInt(9), revokedAt: row.optionalString(10))
    }

    static func encode(_ projects: [String]) -> String { JSONWriter.string(.array(projects.map(JSON.string))) }

    static func decode(_ text: String) -> [String] {
        (try? JSONParser.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}
