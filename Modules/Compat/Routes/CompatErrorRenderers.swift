import Core
import HTTP
import Projects

extension ErrorRenderer {
    /// EVRYTHNG's error document: `{"status", "errors": [one message], "code", "moreInfo"}`. Field problems are named
    /// with EVRYTHNG's field names (`customFields`, not `custom_fields`), all in the one message.
    static let evrythng = ErrorRenderer(schema: EvrythngSchemas.error, description: "EVRYTHNG's error document {status, errors: [message], code, moreInfo}") { error, _ in
        var message = error.detail
        if let projectError = error as? ProjectError, case .notFound = projectError {
            message = "Project not found."
        } else if !error.fields.isEmpty {
            message = error.fields.keys.sorted().map { "\(EvrythngProjectDocument.evrythngName($0)): \(error.fields[$0]!)" }
                .joined(separator: "; ")
        }
        var object = JSONObject()
        object.append("status", .int(error.status))
        object.append("errors", .array([.string(message)]))
        object.append("code", .string(error.code))
        object.append("moreInfo", .string("README.md#coming-from-evrythng-or-ufdl"))
        var response = Response.json(object, status: error.status)
        for (name, value) in error.headers { response.headers.add(name, value) }
        return response
    }

    /// Django REST framework's shapes, as UFDL answers: `{"detail": "Not found."}`, validation `{"field": ["message"]}`.
    static let ufdl = ErrorRenderer(schema: UfdlSchemas.error, description: "Django REST framework's {\"detail\"} or {\"field\": [\"message\"]}") { error, request in
        var object = JSONObject()
        if !error.fields.isEmpty {
            for key in error.fields.keys.sorted() { object.append(key, .array([.string(error.fields[key]!)])) }
        } else {
            let detail: String
            switch error.status {
            case 404: detail = "Not found."
            case 405: detail = "Method \"\(request.method.rawValue)\" not allowed."
            default: detail = error.detail
            }
            object.append("detail", .string(detail))
        }
        var response = Response.json(object, status: error.status)
        for (name, value) in error.headers { response.headers.add(name, value) }
        return response
    }
}
