import Core

/// The declarations the Auth routes parse and answer with; the OpenAPI document renders these same values.
public enum AuthSchemas {
    static let role = Schema.oneOf(Role.allCases.map(\.rawValue))

    /// `POST /api/v2/auth/login/`.
    public static let login = Schema.object([
        .required("username", .string(1...64)),
        .required("password", .string(1...1024)),
    ]).named("Login")

    /// `POST /api/v2/tokens/`.
    public static let tokenRequest = Schema.object([
        .optional("name", .string(0...100)),
        .optional("role", role),
        .optional("all_projects", .boolean),
        .optional("projects", .array(.string(1...64, pattern: "^[a-z0-9][a-z0-9_-]{1,63}$"), maxItems: 1000)),
        .optional("expires_in", Schema.oneOf([.number(1...(10 * 365 * 86_400)), .string(1...32)]).orNull
            .described("Seconds, or a duration such as 30d or 12h; at most 10 years")),
    ]).named("TokenRequest")

    /// `GET /api/v2/me/`: the caller as the one scope checker established it.
    public static let caller = Schema.object([
        .required("user", .object([.required("id", .integer(from: 1)), .required("username", .string()), .required("role", role)])),
        .required("organization", .object([.required("id", .integer(from: 1)), .required("slug", .string()), .required("name", .string())])),
        .required("token", .object([
            .required("id", .integer(from: 1)),
            .required("role", role),
            .required("all_projects", .boolean),
            .required("projects", .array(.string())),
            .required("expires_at", Schema.dateTime.orNull),
        ])),
    ]).named("Caller")

    /// A login's answer: the caller's user and organization, the new token's secret (shown once) and its expiry.
    public static let loginAnswer = Schema.object([
        .required("user", .object([.required("id", .integer(from: 1)), .required("username", .string()), .required("role", role)])),
        .required("organization", .object([.required("id", .integer(from: 1)), .required("slug", .string()), .required("name", .string())])),
        .required("token", .string()),
        .required("expires_at", Schema.dateTime.orNull),
    ]).named("LoginAnswer")

    static let tokenProperties: [Schema.Property] = [
        .required("id", .integer(from: 1)),
        .required("name", .string()),
        .required("user", .object([.required("id", .integer(from: 1)), .required("username", .string())])),
        .required("role", role),
        .required("all_projects", .boolean),
        .required("projects", .array(.string())),
        .required("created_at", .dateTime),
        .required("expires_at", Schema.dateTime.orNull),
        .required("revoked", .boolean),
        .required("revoked_at", Schema.dateTime.orNull),
    ]

    /// A stored token (never its secret).
    public static let token = Schema.object(tokenProperties).named("Token")

    /// A token just minted: the record plus its secret, shown once.
    public static let issuedToken = Schema.object(tokenProperties + [.required("token", .string())]).named("IssuedToken")
}
