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
    /// When the project starts / ends (Unix milliseconds), if set (seed 002's `startsAt` / `endsAt`).
    public var startsAt: Int64?
    public var endsAt: Int64?
    /// Short domains assigned to the project (seed 002's `shortDomains`), in the client's order.
    public var shortDomains: [String]
    /// The creator's user id (nil for rows made by code without a user).
    public let creatorUserID: Int64?

    public init(pk: Int64, projectID: String, organizationID: Int64, name: String, favorite: Bool, description: String, tags: [String],
                customFields: JSONObject, identifiers: JSONObject, createdBy: String, createdAt: Int64, updatedAt: Int64,
                deletedAt: Int64?, startsAt: Int64? = nil, endsAt: Int64? = nil, shortDomains: [String] = [], creatorUserID: Int64? = nil) {
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
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.shortDomains = shortDomains
        self.creatorUserID = creatorUserID
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
        var object = JSONObject(capacity: 17)
        object.append("project_id", .string(project.projectID))
        object.append("name", .string(project.name))
        object.append("favorite", .bool(project.favorite))
        object.append("description", .string(project.description))
        object.append("tags", .array(project.tags.map(JSON.string)))
        object.append("custom_fields", .object(project.customFields))
        object.append("identifiers", .object(project.identifiers))
        object.append("starts_at", project.startsAt.map { .string(ProjectTime.format($0)) } ?? .null)
        object.append("ends_at", project.endsAt.map { .string(ProjectTime.format($0)) } ?? .null)
        object.append("short_domains", .array(project.shortDomains.map(JSON.string)))
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

/// Project times in the native API: RFC 3339 UTC, whole seconds unless the value carries milliseconds
/// (`startsAt` from an EVRYTHNG client is in ms and must come back unchanged).
public enum ProjectTime {
    public static func format(_ milliseconds: Int64) -> String {
        let remainder = ((milliseconds % 1000) + 1000) % 1000
        let seconds = (milliseconds - remainder) / 1000
        let whole = Timestamp.format(unixSeconds: seconds)
        guard remainder != 0 else { return whole }
        let fraction = String(remainder + 1000).dropFirst()
        return String(whole.dropLast()) + "." + fraction + "Z"
    }

    /// RFC 3339 (any fraction, `Z` or offset) → Unix milliseconds, rounded to the millisecond.
    public static func parse(_ text: String) -> Int64? {
        guard let seconds = Timestamp.parse(text), seconds.isFinite, abs(seconds) < 1e13 else { return nil }
        return Int64((seconds * 1000).rounded())
    }
}
