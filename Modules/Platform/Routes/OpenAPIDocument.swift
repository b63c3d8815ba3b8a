import Core
import Foundation
import HTTP

/// Generates the OpenAPI 3.1 document from the route registry: every operation's path parameters, query parameters,
/// request body and responses come from what the route registered (the schemas its handler parses and encodes with),
/// and every operation documents, for its 4xx answers, the error body of the renderer its route group answers errors
/// with: the DESIGN §4 envelope, or a compatibility dialect's own shape (`ErrorRenderer.schema`).
enum OpenAPIDocument {
    /// Schemas of path parameters by name (`device_pk` is an integer wherever it appears); unlisted ones are strings.
    static let pathParameters: [String: Schema] = {
        var schemas: [String: Schema] = [:]
        for name in ["device_pk", "token_id", "factor_id", "module_id", "receiver_id", "level_id", "alert_pk", "task_id", "schedule_id",
                     "command_id", "pk"] {
            schemas[name] = .integer(from: 1)
        }
        return schemas
    }()

    /// The route of the document itself (registered after the document is rendered).
    static let selfRoute = RouteInfo(method: .get, pattern: "/api/v2/openapi.json", summary: "OpenAPI 3.1 document of every route",
                                     tag: "system", authentication: .none,
                                     docs: RouteDocs(responses: [.ok(.anyObject.described("An OpenAPI 3.1 document"))]))

    /// The document of `routes`; `errorRenderer` tells how errors under a route's path are rendered (the router's
    /// route-group renderers), so each operation's 4xx answers refer to that renderer's error response.
    static func render(routes: [RouteInfo], errorRenderer: (String) -> ErrorRenderer = { _ in .platform }) -> [UInt8] {
        var components = JSONObject()
        var errorResponses = JSONObject()
        func errorResponse(_ renderer: ErrorRenderer) -> String {
            let name = renderer.componentName
            if errorResponses[name] == nil {
                let schema = renderer.schema.document(components: &components)
                errorResponses[name] = .object(["description": .string(renderer.description),
                                                "content": .object(["application/json": .object(["schema": schema])])])
            }
            return "#/components/responses/\(name)"
        }
        _ = errorResponse(.platform)
        var paths = JSONObject()
        for route in routes + [selfRoute] {
            let path = openAPIPath(route.pattern)
            var item = paths[path]?.objectValue ?? JSONObject()
            let errors = errorResponse(errorRenderer(route.pattern))
            item[route.method.rawValue.lowercased()] = .object(operation(route, errors: errors, components: &components))
            paths[path] = .object(item)
        }
        let document: JSONObject = [
            "openapi": .string("3.1.0"),
            "info": .object(["title": .string("IoT device platform API"), "version": .string("2")]),
            "components": .object([
                "schemas": .object(components),
                "responses": .object(errorResponses),
                "securitySchemes": .object([
                    "bearer": .object(["type": .string("http"), "scheme": .string("bearer")]),
                    "deviceBasic": .object(["type": .string("http"), "scheme": .string("basic"),
                                            "description": .string("device_id:device_key issued at provisioning")]),
                    "apiKey": .object(["type": .string("apiKey"), "in": .string("header"), "name": .string("Authorization"),
                                       "description": .string("A token, raw or as `Token <token>` (the EVRYTHNG dialect)")]),
                ]),
            ]),
            "security": .array([.object(["bearer": .array([])])]),
            "paths": .object(paths),
        ]
        return JSONWriter.bytes(.object(document))
    }

    /// One operation; `errors` is the reference of the error response its 4xx answers carry.
    static func operation(_ route: RouteInfo, errors: String = "#/components/responses/Error", components: inout JSONObject) -> JSONObject {
        var operation = JSONObject()
        operation.append("summary", .string(route.summary))
        if !route.tag.isEmpty { operation.append("tags", .array([.string(route.tag)])) }
        operation.append("operationId", .string(operationID(route)))
        var parameters: [JSON] = route.pattern.split(separator: "/").filter { $0.hasPrefix(":") }.map { segment in
            let name = String(segment.dropFirst())
            return .object(["name": .string(name), "in": .string("path"), "required": .bool(true),
                            "schema": (pathParameters[name] ?? .string(1...200)).document(components: &components)])
        }
        for query in route.docs.query {
            var parameter: JSONObject = ["name": .string(query.name), "in": .string("query"), "required": .bool(false),
                                         "schema": query.schema.document(components: &components)]
            if !query.description.isEmpty { parameter.append("description", .string(query.description)) }
            parameters.append(.object(parameter))
        }
        if !parameters.isEmpty { operation.append("parameters", .array(parameters)) }
        if let body = route.docs.body {
            operation.append("requestBody", .object([
                "required": .bool(body.required),
                "content": .object([body.contentType: .object(["schema": body.schema.document(components: &components)])]),
            ]))
        }
        switch route.authentication {
        case .none: operation.append("security", .array([]))
        case .bearer: break   // the document's default
        case .deviceBasic: operation.append("security", .array([.object(["deviceBasic": .array([])])]))
        case .apiKey: operation.append("security", .array([.object(["apiKey": .array([])])]))
        }
        var responses = JSONObject()
        for response in route.docs.responses.sorted(by: { $0.status < $1.status }) {
            var rendered: JSONObject = ["description": .string(response.description)]
            if let contentType = response.contentType {
                var media = JSONObject()
                if let schema = response.schema { media.append("schema", schema.document(components: &components)) }
                rendered.append("content", .object([contentType: .object(media)]))
            }
            responses.append(String(response.status), .object(rendered))
        }
        // Any 4xx of the API carries its renderer's error body; these are the ones a route may answer. Routes without
        // credentials answer 401/403 too: a failed login is 401, a pre-signed link that does not verify is 403.
        for status in [400, 401, 403, 404, 405, 409, 410, 413, 415, 416, 422, 429] where route.docs.response(status) == nil {
            responses.append(String(status), .object(["$ref": .string(errors)]))
        }
        if route.docs.responses.isEmpty {
            responses.append("default", .object(["description": .string("Success, or the error envelope {code, detail, fields}")]))
        }
        operation.append("responses", .object(responses))
        return operation
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
