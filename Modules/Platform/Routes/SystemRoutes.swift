import Core
import Foundation
import HTTP

extension Platform {
    /// Builds the router: system routes (`/healthz`, `/readyz`, `/metrics`, `/api/v2/`,
    /// `/api/v2/openapi.json`) and every module's routes under `/api/v2`.
    public func makeRouter() -> Router {
        let router = Router()
        let system = router.group("", tag: "system")
        let status = { (value: String) in Schema.object([.required("status", .oneOf([value]))]) }
        system.get("/healthz", summary: "Process is up", responses: [.ok(status("ok"))], auth: .anonymous) { _ in
            .json(JSONObject(["status": .string("ok")]))
        }
        let db = context.db
        let allMigrations = migrations.map(\.name)
        let notReady = ResponseDoc(status: 503, description: "NOT_READY: database unreachable or migrations pending", schema: .error)
        system.get("/readyz", summary: "Database reachable and migrations applied", responses: [.ok(status("ready")), notReady], auth: .anonymous) { _ in
            do {
                let applied = Set(try db.appliedMigrations())
                let pending = allMigrations.filter { !applied.contains($0) }
                guard pending.isEmpty else {
                    return .error(APIError.notReady("Pending migrations: \(pending.joined(separator: ", "))"))
                }
                return .json(JSONObject(["status": .string("ready")]))
            } catch {
                return .error(APIError.notReady("Database unreachable"))
            }
        }
        let metrics = context.metrics
        system.get("/metrics", summary: "Prometheus metrics", responses: [.content(200, "text/plain", "Prometheus text format 0.0.4")],
                   auth: .anonymous) { _ in
            .text(metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        let api = router.group("/api/v2")
        let index = Response.json(JSONObject([
            "name": .string("iot-platform"), "api": .string("v2"), "openapi": .string("/api/v2/openapi.json"),
            "health": .string("/healthz"), "metrics": .string("/metrics"),
        ]))
        let indexSchema = Schema.object(["name", "api", "openapi", "health", "metrics"].map { .required($0, .string()) }).named("APIIndex")
        api.get("/", summary: "API index (static)", responses: [.ok(indexSchema)], auth: .anonymous) { _ in index }
        if context.config.bool(KernelKeys.debugRoutes) {
            // Diagnostics for tests and operators: off by default (`debug.routes` / IOT_DEBUG_ROUTES).
            api.on(.get, "/debug/sleep/", summary: "Sleeps ?seconds= (max 30) then answers; only with debug.routes",
                   query: [QueryParameter("seconds", .number(0...30))], responses: [.ok(.object([.required("slept", .number())]))],
                   auth: .anonymous, blocking: true) { request in
                let seconds = min(30, max(0, Double(request.query["seconds"] ?? "1") ?? 1))
                usleep(UInt32(seconds * 1_000_000))
                return .json(JSONObject(["slept": .number(seconds)]))
            }
            api.on(.get, "/debug/db-sleep/", summary: "Holds a database connection ?seconds= (max 30, pg_sleep on PostgreSQL); only with debug.routes",
                   query: [QueryParameter("seconds", .number(0...30))], responses: [.ok(.object([.required("slept", .number())]))],
                   auth: .anonymous) { request in
                let seconds = min(30, max(0, Double(request.query["seconds"] ?? "1") ?? 1))
                try db.sleepInDatabase(seconds: seconds)
                return .json(JSONObject(["slept": .number(seconds)]))
            }
        }
        for module in modules {
            module.registerRoutes(on: api.group("", tag: module.name))
            module.registerRootRoutes(on: router.group("", tag: module.name))
        }
        let document = OpenAPIDocument.render(routes: router.routes, errorRenderer: router.errorRenderer(for:))
        let selfRoute = OpenAPIDocument.selfRoute
        api.get("/openapi.json", summary: selfRoute.summary, responses: selfRoute.docs.responses, auth: .anonymous) { _ in
            Response(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]), body: document)
        }
        return router
    }

    /// The application responder over `makeRouter()`.
    public func makeResponder() -> APIResponder {
        APIResponder(table: makeRouter().freeze(), logger: context.logger, metrics: context.metrics,
                     accessLog: context.config.bool(KernelKeys.logAccess))
    }
}
