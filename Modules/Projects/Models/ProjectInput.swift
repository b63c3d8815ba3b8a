import Auth
import Core

/// The documented limits of a project's fields (docs/DECISIONS.md, "Projects").
public enum ProjectLimits {
    public static let name = 1...200
    public static let description = 0...2000
    public static let tagLength = 1...60
    public static let maxTags = 50
    public static let maxCustomFieldsBytes = 16 * 1024
    public static let identifierKeyLength = 1...64
    public static let identifierValueLength = 1...200
    public static let maxIdentifiers = 50
    public static let searchLength = 0...200
    public static let shortDomainLength = 1...253
    public static let maxShortDomains = 20
    /// project_ids that would collide with a literal route segment (`GET /api/v2/projects/trash/`).
    public static let reservedProjectIDs: Set<String> = ["trash"]

    /// `^[a-z0-9][a-z0-9_-]{1,63}$` and not reserved.
    public static func isValidProjectID(_ id: String) -> Bool {
        AuthPatterns.isValidProjectID(id) && !reservedProjectIDs.contains(id)
    }
}

/// A new project, validated (`POST /api/v2/projects/`). `projectID` nil means "generate `proj_<random>`".
public struct ProjectDraft: Sendable, Equatable {
    public var projectID: String?
    public var name: String
    public var favorite: Bool
    public var description: String
    public var tags: [String]
    public var customFields: JSONObject
    public var identifiers: JSONObject
    /// Unix milliseconds.
    public var startsAt: Int64?
    public var endsAt: Int64?
    public var shortDomains: [String]

    public init(projectID: String? = nil, name: String, favorite: Bool = false, description: String = "", tags: [String] = [],
                customFields: JSONObject = JSONObject(), identifiers: JSONObject = JSONObject(), startsAt: Int64? = nil, endsAt: Int64? = nil,
                shortDomains: [String] = []) {
        self.projectID = projectID
        self.name = name
        self.favorite = favorite
        self.description = description
        self.tags = tags
        self.customFields = customFields
        self.identifiers = identifiers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.shortDomains = shortDomains
    }

    /// The draft as a request body; `parse(draft.json)` re-checks a draft built in code against the same rules.
    public var json: JSON {
        var object = JSONObject()
        if let projectID { object.append("project_id", .string(projectID)) }
        object.append("name", .string(name))
        object.append("favorite", .bool(favorite))
        object.append("description", .string(description))
        object.append("tags", .array(tags.map(JSON.string)))
        object.append("custom_fields", .object(customFields))
        object.append("identifiers", .object(identifiers))
        if let startsAt { object.append("starts_at", .string(ProjectTime.format(startsAt))) }
        if let endsAt { object.append("ends_at", .string(ProjectTime.format(endsAt))) }
        object.append("short_domains", .array(shortDomains.map(JSON.string)))
        return .object(object)
    }

    /// Read-only fields a client may echo back; accepted and ignored (seed 000: `organization_id` is injected server-side).
    static let readOnly: Set<String> = ["id", "pk", "organization", "organization_id", "created_at", "updated_at", "created_by",
                                        "deleted_at", "device_count", "offline_device_count"]

    /// Validates a create body; one `VALIDATION_ERROR` names every bad or unknown field.
    public static func parse(_ body: JSON) throws(APIError) -> ProjectDraft {
        var reader = try FieldReader(body, schema: schema, ignored: readOnly)
        var projectID: String?
        if let id = reader.string("project_id", nullable: true) {
            if ProjectLimits.reservedProjectIDs.contains(id) {
                reader.fail("project_id", "\(id) is reserved")
            } else if !ProjectLimits.isValidProjectID(id) {
                reader.fail("project_id", "must match ^[a-z0-9][a-z0-9_-]{1,63}$")
            } else {
                projectID = id
            }
        }
        let name = ProjectFieldRules.name(&reader, required: true)
        let favorite = reader.bool("favorite") ?? false
        let description = ProjectFieldRules.description(&reader) ?? ""
        let tags = ProjectFieldRules.tags(&reader) ?? []
        let customFields = ProjectFieldRules.customFields(&reader) ?? JSONObject()
        let identifiers = ProjectFieldRules.identifiers(&reader) ?? JSONObject()
        let startsAt = ProjectFieldRules.time(&reader, "starts_at") ?? nil
        let endsAt = ProjectFieldRules.time(&reader, "ends_at") ?? nil
        let shortDomains = ProjectFieldRules.shortDomains(&reader) ?? []
        try reader.finish()
        return ProjectDraft(projectID: projectID, name: name ?? "", favorite: favorite, description: description, tags: tags,
                            customFields: customFields, identifiers: identifiers, startsAt: startsAt, endsAt: endsAt, shortDomains: shortDomains)
    }
}

/// A partial update (`PATCH`): nil fields stay as they are; lists and objects are replaced whole.
public struct ProjectChanges: Sendable, Equatable {
    public var name: String?
    public var favorite: Bool?
    public var description: String?
    public var tags: [String]?
    public var customFields: JSONObject?
    public var identifiers: JSONObject?
    /// nil = unchanged, `.some(nil)` = cleared, else the new time (Unix milliseconds).
    public var startsAt: Int64??
    public var endsAt: Int64??
    public var shortDomains: [String]?

    public init(name: String? = nil, favorite: Bool? = nil, description: String? = nil, tags: [String]? = nil,
                customFields: JSONObject? = nil, identifiers: JSONObject? = nil, startsAt: Int64?? = nil, endsAt: Int64?? = nil,
                shortDomains: [String]? = nil) {
        self.name = name
        self.favorite = favorite
        self.description = description
        self.tags = tags
        self.customFields = customFields
        self.identifiers = identifiers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.shortDomains = shortDomains
    }

    public var isEmpty: Bool {
        name == nil && favorite == nil && description == nil && tags == nil && customFields == nil && identifiers == nil
            && startsAt == nil && endsAt == nil && shortDomains == nil
    }

    /// The changes as a PATCH body (only the fields set).
    public var json: JSON {
        var object = JSONObject()
        if let name { object.append("name", .string(name)) }
        if let favorite { object.append("favorite", .bool(favorite)) }
        if let description { object.append("description", .string(description)) }
        if let tags { object.append("tags", .array(tags.map(JSON.string))) }
        if let customFields { object.append("custom_fields", .object(customFields)) }
        if let identifiers { object.append("identifiers", .object(identifiers)) }
        if let startsAt { object.append("starts_at", startsAt.map { .string(ProjectTime.format($0)) } ?? .null) }
        if let endsAt { object.append("ends_at", endsAt.map { .string(ProjectTime.format($0)) } ?? .null) }
        if let shortDomains { object.append("short_domains", .array(shortDomains.map(JSON.string))) }
        return .object(object)
    }

    /// Read-only fields accepted and ignored in a PATCH (seed 000: `project_id`, `organization_id` are ignored).
    static let readOnly: Set<String> = ProjectDraft.readOnly.union(["project_id"])

    /// Validates a PATCH body; unknown fields → 400 naming them, read-only ones are ignored.
    public static func parse(_ body: JSON) throws(APIError) -> ProjectChanges {
        var reader = try FieldReader(body, schema: schema, ignored: readOnly)
        var changes = ProjectChanges()
        changes.name = ProjectFieldRules.name(&reader, required: false)
        changes.favorite = reader.bool("favorite")
        changes.description = ProjectFieldRules.description(&reader)
        changes.tags = ProjectFieldRules.tags(&reader)
        changes.customFields = ProjectFieldRules.customFields(&reader)
        changes.identifiers = ProjectFieldRules.identifiers(&reader)
        changes.startsAt = ProjectFieldRules.time(&reader, "starts_at")
        changes.endsAt = ProjectFieldRules.time(&reader, "ends_at")
        changes.shortDomains = ProjectFieldRules.shortDomains(&reader)
        try reader.finish()
        return changes
    }

    /// `project` with these changes applied (timestamps untouched).
    func applied(to project: Project) -> Project {
        var result = project
        if let name { result.name = name }
        if let favorite { result.favorite = favorite }
        if let description { result.description = description }
        if let tags { result.tags = tags }
        if let customFields { result.customFields = customFields }
        if let identifiers { result.identifiers = identifiers }
        if let startsAt { result.startsAt = startsAt }
        if let endsAt { result.endsAt = endsAt }
        if let shortDomains { result.shortDomains = shortDomains }
        return result
    }
}

/// Field rules shared by create and update.
enum ProjectFieldRules {
    static func name(_ reader: inout FieldReader, required: Bool) -> String? {
        guard let name = reader.string("name", required: required) else { return nil }
        if name.allSatisfy(\.isWhitespace) {
            reader.fail("name", "must not be blank")
            return nil
        }
        return name
    }

    /// `null` clears the description.
    static func description(_ reader: inout FieldReader) -> String? {
        if reader.object["description"] == .null { return "" }
        return reader.string("description", nullable: false)
    }

    /// Tags keep their order; duplicates are dropped.
    static func tags(_ reader: inout FieldReader) -> [String]? {
        guard let tags = reader.stringArray("tags") else { return nil }
        var seen = Set<String>()
        return tags.filter { seen.insert($0).inserted }
    }

    /// An RFC 3339 time or null: nil = absent, `.some(nil)` = null (clears), else Unix milliseconds.
    static func time(_ reader: inout FieldReader, _ key: String) -> Int64?? {
        guard let value = reader.object[key] else { return nil }
        if value.isNull { return .some(nil) }
        guard let text = reader.string(key, nullable: false) else { return nil }
        guard let milliseconds = ProjectTime.parse(text) else {
            reader.fail(key, "must be an RFC 3339 time such as 2024-01-08T10:00:00Z")
            return nil
        }
        return .some(milliseconds)
    }

    /// Short domains keep their order; duplicates are dropped.
    static func shortDomains(_ reader: inout FieldReader) -> [String]? {
        guard let domains = reader.stringArray("short_domains")
        else { return nil }
        var seen = Set<String>()
        return domains.filter { seen.insert($0).inserted }
    }

    static func customFields(_ reader: inout FieldReader) -> JSONObject? {
        guard let object = reader.objectValue("custom_fields") else { return nil }
        if JSONWriter.bytes(.object(object)).count > ProjectLimits.maxCustomFieldsBytes {
            reader.fail("custom_fields", "must serialize to at most \(ProjectLimits.maxCustomFieldsBytes) bytes")
            return nil
        }
        return object
    }

    static func identifiers(_ reader: inout FieldReader) -> JSONObject? {
        guard let object = reader.objectValue("identifiers") else { return nil }
        if object.count > ProjectLimits.maxIdentifiers {
            reader.fail("identifiers", "at most \(ProjectLimits.maxIdentifiers) identifiers")
            return nil
        }
        for (key, value) in object.entries {
            guard ProjectLimits.identifierKeyLength.contains(key.count) else {
                reader.fail("identifiers", "keys' length must be 1..\(ProjectLimits.identifierKeyLength.upperBound)")
                return nil
            }
            guard case .string(let text) = value else {
                reader.fail("identifiers", "\(key) must be a string, got \(value.typeName)")
                return nil
            }
            guard ProjectLimits.identifierValueLength.contains(text.count) else {
                reader.fail("identifiers", "\(key): length must be 1..\(ProjectLimits.identifierValueLength.upperBound)")
                return nil
            }
        }
        return object
    }
}
