import Auth
import Core
import Projects

/// The declarations the EVRYTHNG routes parse and answer with (seed 002); the OpenAPI document renders these same
/// values and the route tests hold every answer to them.
public enum EvrythngSchemas {
    /// `startsAt`/`endsAt` in Unix milliseconds: the years 0001–9999, the times an RFC 3339 string (our native form)
    /// can carry.
    public static let timeRange: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// A project document's writable fields as a create (`name` required) or a PUT (every field optional) reads them.
    /// Null means absent, so every field is nullable; the read-only fields an SDK sends back with a whole document
    /// are declared (and ignored).
    static func projectInput(nameRequired: Bool) -> [Schema.Property] {
        let name = Schema.string(ProjectLimits.name)
        return [
            nameRequired ? .required("name", name) : .optional("name", name.orNull),
            .optional("description", Schema.string(ProjectLimits.description).orNull),
            .optional("tags", Schema.array(.string(ProjectLimits.tagLength), maxItems: ProjectLimits.maxTags).orNull),
            .optional("customFields", Schema.anyObject.orNull.described("Free JSON object, at most 16 KiB serialized")),
            .optional("identifiers", Schema.map(.string(ProjectLimits.identifierValueLength), maxProperties: ProjectLimits.maxIdentifiers).orNull),
            .optional("startsAt", Schema.integer(timeRange).orNull.described("Unix milliseconds")),
            .optional("endsAt", Schema.integer(timeRange).orNull.described("Unix milliseconds")),
            .optional("shortDomains", Schema.array(.string(ProjectLimits.shortDomainLength), maxItems: ProjectLimits.maxShortDomains).orNull),
        ] + EvrythngProjectDocument.readOnly.sorted().map { .optional($0, Schema.any.described("Read-only: accepted and ignored")) }
    }

    /// `POST /projects`.
    public static let projectCreate = Schema.object(projectInput(nameRequired: true)).named("EvrythngProjectCreate")

    /// `PUT /projects/{id}`: a partial update (absent or null = unchanged).
    public static let projectUpdate = Schema.object(projectInput(nameRequired: false)).named("EvrythngProjectUpdate")

    /// A project as every EVRYTHNG route answers it (`EvrythngProjectDocument.json`).
    public static let project = Schema.object([
        .required("id", .string(1...64)),
        .required("createdAt", .integer()),
        .required("updatedAt", .integer()),
        .required("name", .string()),
        .required("description", .string()),
        .required("tags", .array(.string())),
        .required("customFields", .anyObject),
        .required("identifiers", .map(.string())),
        .optional("startsAt", .integer(timeRange)),
        .optional("endsAt", .integer(timeRange)),
        .required("shortDomains", .array(.string())),
        .required("scopes", .object([.required("users", .array(.string())), .required("projects", .array(.string()))])),
    ]).named("EvrythngProject")

    /// `GET /access`.
    public static let access = Schema.object([
        .required("actor", .object([.required("id", .string())])),
        .required("type", .oneOf(["operator"])),
        .required("account", .string()),
    ]).named("EvrythngAccess")

    /// `GET /operators/{id}`.
    public static let `operator` = Schema.object(["id", "email", "firstName", "lastName"].map { .required($0, .string()) })
        .named("EvrythngOperator")

    /// EVRYTHNG's error document `{"status", "errors": [one message], "code", "moreInfo"}` (`ErrorRenderer.evrythng`).
    public static let error = Schema.object([
        .required("status", .integer(400...599)),
        .required("errors", .array(.string(), minItems: 1, maxItems: 1)),
        .required("code", .string(pattern: "^[A-Z][A-Z0-9_]*$")),
        .required("moreInfo", .string()),
    ]).named("EvrythngError")
}

/// The declarations the UFDL routes parse and answer with (seed 004).
public enum UfdlSchemas {
    /// `POST /v1/auth/obtain`: the same credentials as our login.
    public static let obtain = AuthSchemas.login

    /// The answer of `obtain`.
    public static let tokens = Schema.object([.required("access", .string()), .required("refresh", .string())]).named("UfdlTokens")

    /// `POST /v1/auth/refresh`.
    public static let refresh = Schema.object([.required("refresh", .string(1...256))]).named("UfdlRefresh")

    /// The answer of `refresh`.
    public static let access = Schema.object([.required("access", .string())]).named("UfdlAccess")

    /// `POST /v1/auth/verify`.
    public static let verify = Schema.object([.required("token", .string(1...256))]).named("UfdlVerify")

    /// The answer of `verify` when the token is live: `{}`.
    public static let verified = Schema.object([]).named("UfdlVerified")

    /// A project document's fields as a create or PUT (`required`) or a PATCH reads them, with the read-only fields
    /// a client may send back with a fetched document (accepted and ignored).
    static func projectInput(required: Bool) -> [Schema.Property] {
        let name = Schema.string(ProjectLimits.name)
        let team = Schema.integer(from: 1).described("The caller's team (organization id, as organization.id in GET /api/v2/me/)")
        return (required ? [.required("name", name), .required("team", team)] : [.optional("name", name), .optional("team", team)])
            + UfdlProjectDocument.readOnly.sorted().map { .optional($0, Schema.any.described("Read-only: accepted and ignored")) }
    }

    /// `POST /v1/projects/create` and `PUT /v1/projects/{pk}`: `name` and `team` required.
    public static let projectCreate = Schema.object(projectInput(required: true)).named("UfdlProjectCreate")

    /// `PATCH /v1/projects/{pk}`.
    public static let projectPatch = Schema.object(projectInput(required: false)).named("UfdlProjectPatch")

    /// A project as every UFDL route answers it (`UfdlProjectDocument.json`).
    public static let project = Schema.object([
        .required("pk", .integer(from: 1)),
        .required("name", .string()),
        .required("team", .integer(from: 1)),
        .required("creator", Schema.integer(from: 1).orNull),
        .required("creation_time", .dateTime),
        .required("deletion_time", Schema.dateTime.orNull),
    ]).named("UfdlProject")

    /// `POST /v1/projects/list`: a FilterSpec over the document's fields; no body or `null` is the empty filter.
    public static let filter = FilterSpec.schema(fields: UfdlProjectDocument.schema, name: "UfdlFilter").orNull

    /// Django REST framework's error shapes (`ErrorRenderer.ufdl`): `{"detail": "…"}`, or for a validation error one
    /// key per field with its messages.
    public static let error = Schema.oneOf([
        .object([.required("detail", .string())]),
        Schema.map(.array(.string(), minItems: 1)).described("Validation: {\"field\": [\"message\"]}"),
    ]).named("UfdlError")
}
