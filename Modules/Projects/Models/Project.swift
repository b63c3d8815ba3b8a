import Core

/// One stored project row: what the store reads and the cache keeps (never device counts).
public struct Project: Sendable, Equatable {
    /// Internal primary key (never shown in URLs or responses).
    public let pk: Int64
    /// The public, immutable, globally unique `project_id`.
    public let projectID: String
    public var organizationID: Int64
    public var name: String
    public var favorite: Bool
    public var description: String
    public var tags: [String]
    public var customFields: JSONObject
    /// Identifier key → value (all values are strings), in the order the client sent them.
    public var identifiers: JSONObject
    /// Username of the creator, recorded at creation.
    public let createdBy: String
    /// Unix milliseconds.
    public let createdAt: Int64
    public var updatedAt: Int64
    /// Unix milliseconds when the project went to the trash; nil while active.
    public var deletedAt: Int64?

    public init(pk: Int64, projectID: String, organizationID: Int64, name: String, favorite: Bool, description: String, tags: [String],
                customFields: JSONObject, identifiers: JSONObject, createdBy: String, createdAt: Int64, updatedAt: Int64,
                deletedAt: Int64?) {
        self.pk = pk
        self.projectID = projectID
        self.organizationID = organizationID
        self.name = name
        self.favorite = favorite
        self.description = description
        self.tags = tags
        self.customFields = customFields
        self.identifiers = identifiers
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }

    /// What other modules see of it.
    public var ref: ProjectRef { ProjectRef(pk: pk, projectID: projectID, name: name, organizationID: organizationID) }

    public var isTrashed: Bool { deletedAt != nil }
}

/// A project as the API shows it: the row, its organization's slug and fresh device counts.
public struct ProjectView: Sendable, Equatable, JSONRepresentable {
    public let project: Project
    public let organizationSlug: String
    public let counts: DeviceCounts

    public init(project: Project, organizationSlug: String, counts: DeviceCounts) {
        self.project = project
        self.organizationSlug = organizationSlug
        self.counts = counts
    }

    public var json: JSON {
        var object = JSONObject()
        object.append("project_id", .string(project.projectID))
        object.append("name", .string(project.name))
        object.append("favorite", .bool(project.favorite))
        object.append("description", .string(project.description))
        object.append("tags", .array(project.tags.map(JSON.string)))
        object.append("custom_fields", .object(project.customFields))
        object.append("identifiers", .object(project.identifiers))
        object.append("organization", .string(organizationSlug))
        object.append("created_by", .string(project.createdBy))
        object.append("created_at", .string(Self.time(project.createdAt)))
        object.append("updated_at", .string(Self.time(project.updatedAt)))
        object.append("deleted_at", project.deletedAt.map { .string(Self.time($0)) } ?? .null)
        object.append("device_count", .int(counts.total))
        object.append("offline_device_count", .int(counts.offline))
        return .object(object)
    }

    /// RFC 3339, whole seconds, UTC (DESIGN §4).
    static func time(_ milliseconds: Int64) -> String {
        Timestamp.format(unixSeconds: milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
    }
}
