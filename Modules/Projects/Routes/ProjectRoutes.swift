import Auth
import Core
import HTTP
import Platform

extension ProjectsModule {
    /// Seed 000's routes plus trash/restore (seed 004). No PUT: the router answers 405 with `Allow`.
    public func registerRoutes(on api: RouteGroup) {
        let projects = service
        let bearer = self.auth.bearer
        api.get("/projects/", summary: "List projects (filters: search, tag, favorite, identifiers.<key>)", query: Self.listQuery,
                responses: [.ok(.page(of: ProjectView.schema))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            let filter = try ProjectFilter.parse(request.query.items)
            return .page(try projects.list(for: caller, filter: filter, page: page), of: page, for: request)
        }
        api.post("/projects/", summary: "Create a project (201 + Location)", body: .json(ProjectDraft.schema),
                 responses: [.created(ProjectView.schema)], auth: bearer) { request, caller in
            let draft = try ProjectDraft.parse(request.json())
            let view = try projects.create(draft, by: caller)
            return .created(view, location: "/api/v2/projects/\(view.project.projectID)/")
        }
        api.get("/projects/trash/", summary: "List trashed projects", query: QueryParameter.pagination,
                responses: [.ok(.page(of: ProjectView.schema))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            return .page(try projects.trash(for: caller, page: page), of: page, for: request)
        }
        api.get("/projects/:project_id/", summary: "Retrieve a project", responses: [.ok(ProjectView.schema)], auth: bearer) { request, caller in
            return .json(encoded: try projects.renderedProject(request.parameters.require("project_id"), for: caller))
        }
        api.patch("/projects/:project_id/", summary: "Update a project (partial)", body: .json(ProjectChanges.schema),
                  responses: [.ok(ProjectView.schema)], auth: bearer) { request, caller in
            let changes = try ProjectChanges.parse(request.json())
            return .json(try projects.update(request.parameters.require("project_id"), changes, by: caller))
        }
        api.delete("/projects/:project_id/", summary: "Move a project to the trash; ?hard=true (or a trashed one) deletes it for good",
                   query: [QueryParameter("hard", .oneOf(["true", "false", "1", "0"]))], responses: [.noContent], auth: bearer) { request, caller in
            let hard = try Self.hardFlag(request.query["hard"])
            try projects.delete(request.parameters.require("project_id"), hard: hard, by: caller)
            return .noContent
        }
        api.post("/projects/:project_id/restore/", summary: "Restore a trashed project", responses: [.ok(ProjectView.schema)], auth: bearer) { request, caller in
            return .json(try projects.restore(request.parameters.require("project_id"), by: caller))
        }
        api.post("/projects/:project_id/transfer/", summary: "Move a project (and its devices) to another organization",
                 body: .json(ProjectView.transferSchema), responses: [.ok(ProjectView.schema)], auth: bearer) { request, caller in
            var reader = try FieldReader(request.json(), schema: ProjectView.transferSchema)
            let slug = reader.string("target_org_slug")
            try reader.finish()
            return .json(try projects.transfer(request.parameters.require("project_id"), toOrganization: slug!, by: caller))
        }
    }

    /// Query parameters of the project list (`identifiers.<key>=value` filters are free-form and not listed).
    static let listQuery = QueryParameter.pagination + [
        QueryParameter("search", .string(ProjectLimits.searchLength), "Name contains (case-insensitive)"),
        QueryParameter("tag", .string(ProjectLimits.tagLength)),
        QueryParameter("favorite", .oneOf(["true", "false"])),
    ]

    /// `?hard=` accepts true/false (and 1/0); anything else → 400.
    static func hardFlag(_ value: String?) throws(APIError) -> Bool {
        guard let value else { return false }
        switch value.lowercased() {
        case "true", "1": return true
        case "false", "0", "": return false
        default: throw APIError.validation(field: "hard", "must be true or false")
        }
    }
}
