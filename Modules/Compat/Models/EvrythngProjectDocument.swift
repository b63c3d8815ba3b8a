import Core
import Projects

/// A project as EVRYTHNG (seed 002) shows it. `id` is our `project_id`; times are Unix milliseconds.
public struct EvrythngProjectDocument: Sendable, Equatable, JSONRepresentable {
    public let project: Project

    public init(_ project: Project) { self.project = project }

    public var json: JSON {
        var object = JSONObject()
        object.append("id", .string(project.projectID))
        object.append("createdAt", .int64(project.createdAt))
        object.append("updatedAt", .int64(project.updatedAt))
        object.append("name", .string(project.name))
        object.append("description", .string(project.description))
        object.append("tags", .array(project.tags.map(JSON.string)))
        object.append("customFields", .object(project.customFields))
        object.append("identifiers", .object(project.identifiers))
        if let startsAt = project.startsAt { object.append("startsAt", .int64(startsAt)) }
        if let endsAt = project.endsAt { object.append("endsAt", .int64(endsAt)) }
        object.append("shortDomains", .array(project.shortDomains.map(JSON.string)))
        object.append("scopes", .object(["users": .array([]), "projects": .array([])]))
        return .object(object)
    }

    /// EVRYTHNG name → native name, for every writable field (the field-mapping table of the docs).
    public static let fieldNames: KeyValuePairs<String, String> = [
        "name": "name", "description": "description", "tags": "tags", "customFields": "custom_fields", "identifiers": "identifiers",
        "startsAt": "starts_at", "endsAt": "ends_at", "shortDomains": "short_domains",
    ]

    /// Native name → EVRYTHNG name, to name fields in errors as the client sent them.
    public static func evrythngName(_ native: String) -> String {
        fieldNames.first { $0.value == native }?.key ?? native
    }

    /// Read-only fields the SDKs send back with a whole document; declared, accepted and ignored.
    static let readOnly: Set<String> = ["id", "createdAt", "updatedAt", "scopes"]

    /// A document (create, or PUT when `partial`) as a native request body, read through its declaration
    /// (`EvrythngSchemas.projectCreate` / `.projectUpdate`, so what is documented is what is accepted): **null means
    /// absent**, read-only fields are dropped, `startsAt`/`endsAt` (ms) become RFC 3339, an unknown field → 400 naming
    /// it, `imageUrl` → 400 unsupported. Projects' own parser then applies its rules (a blank name, sizes, identifiers).
    public static func nativeBody(_ body: JSON, partial: Bool = false) throws -> JSON {
        guard case .object(let object) = body else {
            throw APIError.validation(["body": "must be a JSON object, got \(body.typeName)"], detail: "Request body must be a JSON object")
        }
        if let image = object["imageUrl"], !image.isNull { throw CompatError.unsupportedField("imageUrl") }
        var present = JSONObject()
        for (key, value) in object.entries where !value.isNull { present.append(key, value) }
        var reader = try FieldReader(.object(present), schema: partial ? EvrythngSchemas.projectUpdate : EvrythngSchemas.projectCreate)
        var native = JSONObject()
        for (name, nativeName) in fieldNames {
            let value: JSON?
            switch name {
            case "startsAt", "endsAt": value = reader.int(name).map { .string(ProjectTime.format($0)) }
            case "tags", "shortDomains": value = reader.stringArray(name).map { .array($0.map(JSON.string)) }
            case "customFields", "identifiers": value = reader.objectValue(name).map(JSON.object)
            default: value = reader.string(name).map(JSON.string)
            }
            if let value { native.append(nativeName, value) }
        }
        try reader.finish()
        return .object(native)
    }
}
