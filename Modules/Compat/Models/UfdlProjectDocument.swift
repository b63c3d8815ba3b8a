import Core
import Projects

/// A project as UFDL (seed 004) shows it: `pk` (our internal primary key), `name`, `team` (the organization id, as
/// `organization.id` in `GET /api/v2/me/`), `creator` (the creating user's id), `creation_time`, `deletion_time`.
public struct UfdlProjectDocument: Sendable, Equatable, JSONRepresentable {
    public let project: Project

    public init(_ project: Project) { self.project = project }

    public var json: JSON {
        var object = JSONObject()
        object.append("pk", .int64(project.pk))
        object.append("name", .string(project.name))
        object.append("team", .int64(project.organizationID))
        object.append("creator", .optional(project.creatorUserID))
        object.append("creation_time", .string(Self.time(project.createdAt)))
        object.append("deletion_time", project.deletedAt.map { .string(Self.time($0)) } ?? .null)
        return .object(object)
    }

    /// ISO 8601 with milliseconds and an explicit offset (`2024-01-08T10:00:00.123+00:00`): what Python's
    /// `datetime.fromisoformat` reads on every version the UFDL client supports (older ones reject `Z`).
    public static func time(_ milliseconds: Int64) -> String {
        let remainder = ((milliseconds % 1000) + 1000) % 1000
        let whole = Timestamp.format(unixSeconds: (milliseconds - remainder) / 1000)
        return String(whole.dropLast()) + "." + String(String(remainder + 1000).dropFirst()) + "+00:00"
    }

    /// The filterable fields and their types (the FilterSpec's schema).
    public static let schema: [String: FilterSpec.FieldType] = [
        "pk": .integer, "name": .text, "team": .integer, "creator": .integer, "creation_time": .time, "deletion_time": .time,
    ]

    /// The value of a schema field, for filters and ordering.
    public func value(of field: String) -> FilterSpec.Value {
        switch field {
        case "pk": .integer(project.pk)
        case "name": .text(project.name)
        case "team": .integer(project.organizationID)
        case "creator": project.creatorUserID.map(FilterSpec.Value.integer) ?? .null
        case "creation_time": .time(project.createdAt)
        case "deletion_time": project.deletedAt.map(FilterSpec.Value.time) ?? .null
        default: .null
        }
    }

    /// Read-only fields a client may send back (a PUT of a fetched document); declared, accepted and ignored.
    static let readOnly: Set<String> = ["pk", "creator", "creation_time", "deletion_time"]

    /// A create body `{"name", "team"}` (both required), read through `UfdlSchemas.projectCreate`; a team other than
    /// the caller's → 400.
    public static func draft(_ body: JSON, callerTeam: Int64) throws -> ProjectDraft {
        var reader = try FieldReader(body, schema: UfdlSchemas.projectCreate)
        let name = reader.string("name")
        let team = reader.int("team")
        try reader.finish()
        if let team, team != callerTeam { throw CompatError.foreignTeam(team) }
        return ProjectDraft(name: name ?? "")
    }

    /// A PUT (`partial: false`: `name` and `team` required, `UfdlSchemas.projectCreate`) or PATCH body
    /// (`UfdlSchemas.projectPatch`) as changes; a team other than the caller's → 400.
    public static func changes(_ body: JSON, partial: Bool, callerTeam: Int64) throws -> ProjectChanges {
        var reader = try FieldReader(body, schema: partial ? UfdlSchemas.projectPatch : UfdlSchemas.projectCreate)
        let name = reader.string("name")
        let team = reader.int("team")
        try reader.finish()
        if let team, team != callerTeam { throw CompatError.foreignTeam(team) }
        return ProjectChanges(name: name)
    }
}
