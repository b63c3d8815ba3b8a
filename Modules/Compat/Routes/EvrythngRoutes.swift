import Auth
import Core
import HTTP
import Projects

extension CompatModule {
    /// `Authorization: <token>` or `Authorization: Token <token>` (our tokens, as EVRYTHNG operator API keys).
    var evrythngKey: Authenticator<Caller> {
        let auth = auth
        return Authenticator(scheme: .apiKey) { request in
            guard let key = AuthorizationHeader.apiKey(request) else { throw APIError.unauthorized("Missing Authorization: <API key>") }
            return try auth.authenticate(token: key)
        }
    }

    /// Seed 002's routes under `/compat/evrythng` (DESIGN §5.6).
    func registerEvrythng(on api: RouteGroup) {
        let projects = projects
        let auth = auth
        let key = evrythngKey
        api.get("/access", summary: "EVRYTHNG: who the API key belongs to", responses: [.ok(EvrythngSchemas.access)], auth: key) { _, caller in
            .json(JSONObject([("actor", .object(["id": .string(String(caller.userID))])), ("type", .string("operator")),
                              ("account", .string(caller.organizationSlug))]))
        }
        api.get("/operators/:operator_id", summary: "EVRYTHNG: an operator (a user of the caller's organization)",
                responses: [.ok(EvrythngSchemas.operator)], auth: key) { request, caller in
            let id = try request.parameters.require("operator_id")
            guard let pk = Int64(id), let user = try auth.user(id: pk, visibleTo: caller) else { throw CompatError.operatorNotFound(id) }
            return .json(JSONObject([("id", .string(String(user.id))), ("email", .string(user.username.contains("@") ? user.username : "")),
                                     ("firstName", .string(user.username)), ("lastName", .string(""))]))
        }
        api.post("/projects", summary: "EVRYTHNG: create a project (201 + Location)", body: .json(EvrythngSchemas.projectCreate),
                 responses: [.created(EvrythngSchemas.project)], auth: key) { request, caller in
            let draft = try ProjectDraft.parse(EvrythngProjectDocument.nativeBody(request.json()))
            let view = try projects.create(draft, by: caller)
            let location = Self.absoluteURL(request, "/compat/evrythng/projects/\(Self.segment(view.project.projectID))")
            return .created(EvrythngProjectDocument(view.project), location: location)
        }
        api.get("/projects", summary: "EVRYTHNG: list projects (perPage, sortOrder, filter, nextPageToken; Link rel=next)",
                query: EvrythngListQuery.parameters, responses: [.ok(.array(EvrythngSchemas.project))], auth: key) { request, caller in
            let query = try EvrythngListQuery.parse(perPage: request.query["perPage"], sortOrder: request.query["sortOrder"],
                                                    filter: request.query["filter"], pageToken: request.query["nextPageToken"])
            let (items, more) = query.page(of: try projects.projects(visibleTo: caller, filter: query.filter))
            var response = Response.json(JSON.array(items.map { EvrythngProjectDocument($0).json }))
            if more, let last = items.last {
                response.headers.add("Link", "<\(request.link(replacing: "nextPageToken", with: EvrythngListQuery.token(after: last)))>; rel=\"next\"")
            }
            return response
        }
        api.get("/projects/:project_id", summary: "EVRYTHNG: read a project", responses: [.ok(EvrythngSchemas.project)], auth: key) { request, caller in
            .json(EvrythngProjectDocument(try projects.project(request.parameters.require("project_id"), for: caller).project))
        }
        api.put("/projects/:project_id", summary: "EVRYTHNG: update a project (partial; null or absent = unchanged)",
                body: .json(EvrythngSchemas.projectUpdate), responses: [.ok(EvrythngSchemas.project)], auth: key) { request, caller in
            let changes = try ProjectChanges.parse(EvrythngProjectDocument.nativeBody(request.json(), partial: true))
            return .json(EvrythngProjectDocument(try projects.update(request.parameters.require("project_id"), changes, by: caller).project))
        }
        api.delete("/projects/:project_id", summary: "EVRYTHNG: delete a project (to our trash)",
                   responses: [ResponseDoc(status: 200, description: "Deleted (no body)", schema: nil, contentType: nil)], auth: key) { request, caller in
            try projects.delete(request.parameters.require("project_id"), hard: false, by: caller, activeOnly: true)
            return Response(status: 200)
        }
    }
}
