import Core
import HTTP
import Platform

extension AuthService {
    /// Routes of users: the handler receives the `Caller` the one scope checker established from
    /// `Authorization: Bearer <token>` (401 before the handler otherwise).
    public var bearer: Authenticator<Caller> {
        Authenticator(scheme: .bearer) { [self] request in
            guard !AuthorizationHeader.isMissing(request) else { throw APIError.unauthorized("Missing Authorization: Bearer <token>") }
            guard let token = AuthorizationHeader.bearerToken(request) else {
                throw APIError.unauthorized("Authorization must be: Bearer <token>")
            }
            return try authenticate(token: token)
        }
    }
}

extension AuthModule {
    public func registerRoutes(on api: RouteGroup) {
        let auth = service
        let bearer = service.bearer
        let trustedProxies = self.trustedProxies
        api.post("/auth/login/", summary: "Exchange username and password for a token", body: .json(AuthSchemas.login),
                 responses: [.ok(AuthSchemas.loginAnswer)], auth: .anonymous) { request in
            var reader = try FieldReader(request.json(), schema: AuthSchemas.login)
            let username = reader.string("username")
            let password = reader.string("password")
            try reader.finish()
            let address = Self.clientAddress(request, trustedProxies: trustedProxies)
            let (issued, caller) = try auth.login(username: username!, password: password!, clientAddress: address)
            guard case .object(var body) = caller.json else { return .json(caller.json) }
            body["token"] = .string(issued.secret)
            body["expires_at"] = issued.record.expiresAt.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null
            return .json(body)
        }
        api.get("/me/", summary: "The caller: user, organization, token scope", responses: [.ok(AuthSchemas.caller)], auth: bearer) { _, caller in
            .json(caller.json)
        }
        api.get("/tokens/", summary: "List tokens (managers: the organization's; viewers: their own)", query: QueryParameter.pagination,
                responses: [.ok(.page(of: AuthSchemas.token))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            return .page(try auth.tokens(visibleTo: caller, page: page), of: page, for: request)
        }
        api.post("/tokens/", summary: "Mint a token with at most the caller's rights; the secret is shown once",
                 body: .json(AuthSchemas.tokenRequest), responses: [.created(AuthSchemas.issuedToken)], auth: bearer) { request, caller in
            try caller.require(.manager)
            let tokenRequest = try Self.tokenRequest(request.json())
            let issued = try auth.mintToken(by: caller, tokenRequest)
            return .created(issued, location: "/api/v2/tokens/\(issued.record.id)/")
        }
        api.get("/tokens/:token_id/", summary: "One token (never its secret)", responses: [.ok(AuthSchemas.token)], auth: bearer) { request, caller in
            let id = try request.parameters.requireInt("token_id")
            return .json(try auth.token(id: id, visibleTo: caller))
        }
        api.delete("/tokens/:token_id/", summary: "Revoke a token", responses: [.noContent], auth: bearer) { request, caller in
            let id = try request.parameters.requireInt("token_id")
            try auth.revokeToken(id: id, by: caller)
            return .noContent
        }
    }

    static func tokenRequest(_ body: JSON) throws -> TokenRequest {
        var reader = try FieldReader(body, schema: AuthSchemas.tokenRequest)
        let name = reader.string("name") ?? ""
        var role: Role?
        if let text = reader.string("role") {
            role = Role(rawValue: text)
            if role == nil { reader.fail("role", "must be one of owner, manager, viewer") }
        }
        let allProjects = reader.bool("all_projects")
        let projects = reader.stringArray("projects")
        if let projects, let bad = projects.first(where: { !AuthPatterns.isValidProjectID($0) }) {
            reader.fail("projects", "\(bad) is not a valid project_id")
        }
        var expiresIn: Double?
        if let value = reader.object["expires_in"] {
            switch value {
            case .number(let seconds) where seconds > 0 && seconds <= 10 * 365 * 86_400: expiresIn = seconds
            case .string(let text):
                if let seconds = DurationText.seconds(text), seconds > 0, seconds <= 10 * 365 * 86_400 { expiresIn = seconds } else {
                    reader.fail("expires_in", "must be a duration such as 30d, 12h or seconds, up to 10 years")
                }
            case .null: break
            default: reader.fail("expires_in", "must be a duration such as 30d, 12h or seconds, up to 10 years")
            }
        }
        if allProjects == true, let projects, !projects.isEmpty {
            reader.fail("projects", "must be empty when all_projects is true")
        }
        try reader.finish()
        return TokenRequest(name: name, role: role, allProjects: allProjects, projects: projects, expiresIn: expiresIn)
    }

    /// The address part of `host:port` / `[v6]:port`, for per-address rate limits.
    /// The client's address for rate limits: the peer, or — when the peer is a trusted proxy (`server.trusted_proxies`,
    /// comma-separated addresses) — the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy.
    static func clientAddress(_ request: Request, trustedProxies: Set<String>) -> String {
        let peer = clientAddress(request.remoteAddress)
        guard trustedProxies.contains(peer) else { return peer }
        let forwarded = request.headers.values("X-Forwarded-For").flatMap { $0.split(separator: ",") }
            .map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0.utf8.count <= 64 }
        return forwarded.last { !trustedProxies.contains($0) } ?? peer
    }

    static func clientAddress(_ remote: String) -> String {
        if remote.hasPrefix("["), let end = remote.firstIndex(of: "]") { return String(remote[remote.index(after: remote.startIndex)..<end]) }
        if remote.filter({ $0 == ":" }).count == 1, let colon = remote.lastIndex(of: ":") { return String(remote[..<colon]) }
        return remote
    }
}
