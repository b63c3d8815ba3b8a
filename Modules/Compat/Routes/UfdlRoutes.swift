import Auth
import Core
import HTTP
import Projects

extension CompatModule {
    /// Seed 004's routes under `/compat/ufdl` (DESIGN §5.6); each answers with and without a trailing slash.
    func registerUfdl(on api: RouteGroup) {
        let projects = projects
        let auth = auth
        let bearer = auth.bearer
        api.post("/v1/auth/obtain", summary: "UFDL: username + password → access and refresh tokens", body: .json(UfdlSchemas.obtain),
                 responses: [.ok(UfdlSchemas.tokens)], auth: .anonymous) { request in
            var reader = try FieldReader(request.json(), schema: UfdlSchemas.obtain)
            let username = reader.string("username")
            let password = reader.string("password")
            try reader.finish()
            let session = try auth.obtainSession(username: username!, password: password!, clientAddress: Self.clientAddress(request.remoteAddress))
            return .json(JSONObject([("access", .string(session.access.secret)), ("refresh", .string(session.refresh.secret))]))
        }
        api.post("/v1/auth/refresh", summary: "UFDL: a refresh token → a new access token", body: .json(UfdlSchemas.refresh),
                 responses: [.ok(UfdlSchemas.access)], auth: .anonymous) { request in
            var reader = try FieldReader(request.json(), schema: UfdlSchemas.refresh)
            let refresh = reader.string("refresh")
            try reader.finish()
            return .json(JSONObject([("access", .string(try auth.refreshSession(refreshToken: refresh!).secret))]))
        }
        api.post("/v1/auth/verify", summary: "UFDL: 200 when the token is live, else 401", body: .json(UfdlSchemas.verify),
                 responses: [.ok(UfdlSchemas.verified)], auth: .anonymous) { request in
            var reader = try FieldReader(request.json(), schema: UfdlSchemas.verify)
            let token = reader.string("token")
            try reader.finish()
            try auth.verifySession(token: token!)
            return .json(JSONObject())
        }
        api.post("/v1/projects/list", summary: "UFDL: list projects through a FilterSpec (plain JSON array)", body: .json(UfdlSchemas.filter, required: false),
                 responses: [.ok(.array(UfdlSchemas.project))], auth: bearer) { request, caller in
            let spec = try FilterSpec.parse(request.jsonOrEmpty(), schema: UfdlProjectDocument.schema)
            let rows = try projects.projects(visibleTo: caller, includeTrashed: spec.includeInactive).sorted { $0.pk < $1.pk }
            let documents = spec.apply(rows.map(UfdlProjectDocument.init)) { document, field in document.value(of: field) }
            return .json(JSON.array(documents.map(\.json)))
        }
        api.post("/v1/projects/create", summary: "UFDL: create a project {name, team} (201)", body: .json(UfdlSchemas.projectCreate),
                 responses: [.created(UfdlSchemas.project)], auth: bearer) { request, caller in
            let draft = try UfdlProjectDocument.draft(request.json(), callerTeam: caller.organizationID)
            let view = try projects.create(draft, by: caller, uniqueName: true)
            return .created(UfdlProjectDocument(view.project), location: "/compat/ufdl/v1/projects/\(view.project.pk)")
        }
        api.get("/v1/projects/:pk", summary: "UFDL: retrieve a project", responses: [.ok(UfdlSchemas.project)], auth: bearer) { request, caller in
            .json(UfdlProjectDocument(try projects.project(pk: request.parameters.requireInt("pk"), for: caller, includeTrashed: false)))
        }
        let update = { (partial: Bool) in
            { @Sendable (request: Request, caller: Caller) throws -> Response in
                let project = try projects.project(pk: request.parameters.requireInt("pk"), for: caller, includeTrashed: false)
                let changes = try UfdlProjectDocument.changes(request.json(), partial: partial, callerTeam: caller.organizationID)
                return .json(UfdlProjectDocument(try projects.update(project.projectID, changes, by: caller, uniqueName: true).project))
            }
        }
        api.put("/v1/projects/:pk", summary: "UFDL: update {name, team}", body: .json(UfdlSchemas.projectCreate), responses: [.ok(UfdlSchemas.project)],
                auth: bearer, use: update(false))
        api.patch("/v1/projects/:pk", summary: "UFDL: partial update {name?, team?}", body: .json(UfdlSchemas.projectPatch),
                  responses: [.ok(UfdlSchemas.project)], auth: bearer, use: update(true))
        api.delete("/v1/projects/:pk", summary: "UFDL: soft delete (deletion_time set; 204)", responses: [.noContent], auth: bearer) { request, caller in
            let project = try projects.project(pk: request.parameters.requireInt("pk"), for: caller, includeTrashed: false)
            try projects.delete(project.projectID, hard: false, by: caller, activeOnly: true)
            return .noContent
        }
        api.delete("/v1/projects/:pk/hard", summary: "UFDL: delete for good (owner); answers the project", responses: [.ok(UfdlSchemas.project)],
                   auth: bearer) { request, caller in
            let project = try projects.project(pk: request.parameters.requireInt("pk"), for: caller, includeTrashed: true)
            try caller.require(.owner)
            try projects.delete(project.projectID, hard: true, by: caller)
            return .json(UfdlProjectDocument(project))
        }
        api.delete("/v1/projects/:pk/reinstate", summary: "UFDL: undo a soft delete (owner); answers the project", responses: [.ok(UfdlSchemas.project)],
                   auth: bearer) { request, caller in
            let project = try projects.project(pk: request.parameters.requireInt("pk"), for: caller, includeTrashed: true)
            try caller.require(.owner)
            return .json(UfdlProjectDocument(try projects.restore(project.projectID, by: caller).project))
        }
    }

    /// The address part of `host:port` / `[v6]:port`, for the per-address rate limit shared with our login.
    static func clientAddress(_ remote: String) -> String {
        if remote.hasPrefix("["), let end = remote.firstIndex(of: "]") { return String(remote[remote.index(after: remote.startIndex)..<end]) }
        if remote.filter({ $0 == ":" }).count == 1, let colon = remote.lastIndex(of: ":") { return String(remote[..<colon]) }
        return remote
    }
}
