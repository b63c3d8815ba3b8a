import Core
import Foundation
import HTTP

extension Platform {
    /// Builds the router: system routes (`/healthz`, `/readyz`, `/metrics`, `/api/v2/`,
    /// `/api/v2/openapi.json`) and every module's routes under `/api/v2`.
    public func makeRouter() -> Router {
        let router = Router()
        let system = router.group("", tag: "system")
        system.get("/healthz", summary: "Process is up", auth: .anonymous) { _ in
            .json(JSONObject(["status": .string("ok")]))
        }
        let db = context.db
        let allMigrations = migrations.map(\.name)
        system.get("/readyz", summary: "Database reachable and migrations applied", auth: .anonymous) { _ in
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
        system.get("/metrics", summary: "Prometheus metrics", auth: .anonymous) { _ in
            .text(metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        let api = router.group("/api/v2")
        let index = Response.json(JSONObject([
            "name": .string("iot-platform"), "api": .string("v2"), "openapi": .string("/api/v2/openapi.json"),
            "health": .string("/healthz"), "metrics": .string("/metrics"),
        ]))
        api.get("/", summary: "API index (static)", auth: .anonymous) { _ in index }
        if context.config.bool("debug.routes", default: false) {
            // Diagnostics for tests and operators: off by default (`debug.routes` / IOT_DEBUG_ROUTES).
            api.on(.get, "/debug/sleep/", summary: "Sleeps ?seconds= (max 30) then answers; only with debug.routes", auth: .anonymous, blocking: true) { request in
                let seconds = min(30, max(0, Double(request.query["seconds"] ?? "1") ?? 1))
                usleep(UInt32(seconds * 1_000_000))
                return .json(JSONObject(["slept": .number(seconds)]))
            }
        }
        for module in modules {
            module.registerRoutes(on: api.group("", tag: module.name))
            module.registerRootRoutes(on: router.group("", tag: module.name))
        }
        let document = OpenAPIDocument.render(routes: router.routes)
        api.get("/openapi.json", summary: "OpenAPI 3.1 document of every route", auth: .anonymous) { _ in
            Response(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]), body: document)
        }
        return router
    }

    /// The application responder over `makeRouter()`.
    public func makeResponder() -> APIResponder {
        APIResponder(table: makeRouter().freeze(), logger: context.logger, metrics: context.metrics,
                     accessLog: context.config.bool("log.access", default: true))
    }
}

/// Generates the OpenAPI 3.1 document from the route registry.
enum OpenAPIDocument {
    static func render(routes: [RouteInfo]) -> [UInt8] {
        var paths = JSONObject()
        var all = routes
        all.append(RouteInfo(method: .get, pattern: "/api/v2/openapi.json", summary: "OpenAPI 3.1 document of every route",
                             tag: "system", authentication: .none))
        for route in all {
            let path = openAPIPath(route.pattern)
            var item = paths[path]?.objectValue ?? JSONObject()
            var operation = JSONObject()
            operation.append("summary", .string(route.summary))
            if !route.tag.isEmpty { operation.append("tags", .array([.string(route.tag)])) }
            operation.append("operationId", .string(operationID(route)))
            let parameters = route.pattern.split(separator: "/").filter { $0.hasPrefix(":") }.map { segment -> JSON in
                .object(["name": .string(String(segment.dropFirst())), "in": .string("path"), "required": .bool(true),
                         "schema": .object(["type": .string("string")])])
            }
            if !parameters.isEmpty { operation.append("parameters", .array(parameters)) }
            switch route.authentication {
            case .none: operation.append("security", .array([]))
            case .bearer: break   // the document's default
            case .deviceBasic: operation.append("security", .array([.object(["deviceBasic": .array([])])]))
            case .apiKey: operation.append("security", .array([.object(["apiKey": .array([])])]))
            }
            operation.append("responses", .object([
                "default": .object(["description": .string("Success, or the error envelope {code, detail, fields}")]),
            ]))
            item[route.method.rawValue.lowercased()] = .object(operation)
            paths[path] = .object(item)
        }
        let document: JSONObject = [
            "openapi": .string("3.1.0"),
            "info": .object(["title": .string("IoT device platform API"), "version": .string("2")]),
            "components": .object(["securitySchemes": .object([
                "bearer": .object(["type": .string("http"), "scheme": .string("bearer")]),
                "deviceBasic": .object(["type": .string("http"), "scheme": .string("basic"),
                                        "description": .string("device_id:device_key issued at provisioning")]),
                "apiKey": .object(["type": .string("apiKey"), "in": .string("header"), "name": .string("Authorization"),
                                   "description": .string("A token, raw or as `Token <token>` (the EVRYTHNG dialect)")]),
            ])]),
            "security": .array([.object(["bearer": .array([])])]),
            "paths": .object(paths),
        ]
        return JSONWriter.bytes(.object(document))
    }

    static func openAPIPath(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            .joined(separator: "/")
    }

    static func operationID(_ route: RouteInfo) -> String {
        let words = route.pattern.split(separator: "/").map { $0.hasPrefix(":") ? "by_" + $0.dropFirst() : String($0) }
        return ([route.method.rawValue.lowercased()] + words).joined(separator: "_")
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: ".", with: "_")
    }
}
