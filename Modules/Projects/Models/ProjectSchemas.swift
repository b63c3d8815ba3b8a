import Core

/// The declarations the Projects routes parse and answer with; the OpenAPI document renders these same values.
extension ProjectDraft {
    /// Fields shared by create and update, with the documented limits of `ProjectLimits`.
    static let commonProperties: [Schema.Property] = [
        .optional("favorite", .boolean),
        .optional("description", Schema.string(ProjectLimits.description).orNull.described("null clears it")),
        .optional("tags", .array(.string(ProjectLimits.tagLength), maxItems: ProjectLimits.maxTags)),
        .optional("custom_fields", Schema.anyObject.described("Free JSON object, at most 16 KiB serialized")),
        .optional("identifiers", .map(.string(ProjectLimits.identifierValueLength), maxProperties: ProjectLimits.maxIdentifiers)),
        .optional("starts_at", Schema.string(1...64, format: "date-time").orNull),
        .optional("ends_at", Schema.string(1...64, format: "date-time").orNull),
        .optional("short_domains", .array(.string(ProjectLimits.shortDomainLength), maxItems: ProjectLimits.maxShortDomains)),
    ]

    /// `POST /api/v2/projects/` (read-only fields of a project may be sent back and are ignored).
    public static let schema = Schema.object([
        .optional("project_id", Schema.string(2...64, pattern: "^[a-z0-9][a-z0-9_-]{1,63}$").orNull
            .described("Immutable; generated proj_<random> when absent")),
        .required("name", .string(ProjectLimits.name)),
    ] + commonProperties).named("ProjectCreate")
}

extension ProjectChanges {
    /// `PATCH /api/v2/projects/{project_id}/`: any subset of the create fields but `project_id` (which is ignored).
    public static let schema = Schema.object([.optional("name", .string(ProjectLimits.name))] + ProjectDraft.commonProperties)
        .named("ProjectUpdate")
}

extension ProjectView {
    /// A project as every Projects route answers it.
    public static let schema = Schema.object([
        .required("project_id", .string(1...64)),
        .required("name", .string(ProjectLimits.name)),
        .required("favorite", .boolean),
        .required("description", .string()),
        .required("tags", .array(.string())),
        .required("custom_fields", .anyObject),
        .required("identifiers", .map(.string())),
        .required("starts_at", Schema.dateTime.orNull),
        .required("ends_at", Schema.dateTime.orNull),
        .required("short_domains", .array(.string())),
        .required("organization", .string()),
        .required("created_by", .string()),
        .required("created_at", .dateTime),
        .required("updated_at", .dateTime),
        .required("deleted_at", Schema.dateTime.orNull),
        .required("device_count", .integer(from: 0)),
        .required("offline_device_count", .integer(from: 0)),
    ]).named("Project")

    /// `POST /api/v2/projects/{project_id}/transfer/`.
    public static let transferSchema = Schema.object([.required("target_org_slug", .string(1...200))]).named("ProjectTransfer")
}
