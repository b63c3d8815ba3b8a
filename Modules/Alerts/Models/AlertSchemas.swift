import Core

/// The declarations the Alerts routes parse and answer with; the OpenAPI document renders these same values.
public enum AlertSchemas {
    /// `PATCH …/alert/config/` (read-only fields may be sent back and are ignored).
    public static let configChange = Schema.object([
        .optional("enabled", .boolean),
        .optional("cooldown_minutes", .integer(0...1440)),
        .optional("sms_enabled", .boolean),
        .optional("email_enabled", .boolean),
        .optional("webhook_enabled", .boolean),
        .optional("offline_alerts_enabled", .boolean),
        .optional("offline_after_minutes", .integer(1...10_080)),
        .optional("locale", .oneOf(AlertConfig.locales)),
    ]).named("AlertConfigChange")

    /// A project's alert switches.
    public static let config = Schema.object([
        .required("project", .string()),
        .required("enabled", .boolean),
        .required("cooldown_minutes", .integer(0...1440)),
        .required("sms_enabled", .boolean),
        .required("email_enabled", .boolean),
        .required("webhook_enabled", .boolean),
        .required("offline_alerts_enabled", .boolean),
        .required("offline_after_minutes", .integer(1...10_080)),
        .required("locale", .oneOf(AlertConfig.locales)),
        .required("created_at", .dateTime),
        .required("updated_at", .dateTime),
    ]).named("AlertConfig")

    static func component(_ channel: AlertChannel, _ suffix: String) -> String {
        let name = channel == .sms ? "Sms" : channel == .email ? "Email" : "Webhook"
        return name + suffix
    }

    /// A receiver's body for `channel` (POST and PUT: the address is required; PATCH: `receiverInput(…).partial`).
    public static func receiverInput(_ channel: AlertChannel) -> Schema {
        let target: Schema = switch channel {
        case .sms: Schema.string(1...2000, pattern: #"^\+[1-9][0-9]{1,14}$"#).described("An E.164 phone number")
        case .email: Schema.string(1...2000, format: "email")
        case .webhook: Schema.string(1...2000, pattern: "^https?://", format: "uri").described("An http(s) URL of a public host")
        }
        var properties: [Schema.Property] = [
            .required(channel.targetField, target),
            .optional("name", .string(0...100)),
            .optional("enabled", .boolean),
        ]
        if channel == .webhook { properties.append(.optional("secret", Schema.string(0...256).described("HMAC key of X-Signature; write-only"))) }
        return Schema.object(properties).named(component(channel, "ReceiverInput"))
    }

    /// A receiver of `channel` as answered (a webhook's secret never; only whether it has one).
    public static func receiver(_ channel: AlertChannel) -> Schema {
        var properties: [Schema.Property] = [
            .required("id", .integer(from: 1)),
            .required(channel.targetField, .string()),
            .required("name", .string()),
            .required("enabled", .boolean),
        ]
        if channel == .webhook { properties.append(.required("has_secret", .boolean)) }
        properties += [.required("created_at", .dateTime), .required("updated_at", .dateTime)]
        return Schema.object(properties).named(component(channel, "Receiver"))
    }

    /// `POST …/alert/levels/` (PUT and PATCH: any subset).
    public static let levelInput = Schema.object([
        .required("name", .string(1...100)),
        .optional("the_type", .oneOf(AlertLevel.types)),
        .optional("severity", .oneOf(AlertLevel.severities)),
    ]).named("AlertLevelInput")

    public static let level = Schema.object([
        .required("id", .integer(from: 1)),
        .required("name", .string()),
        .required("the_type", .oneOf(AlertLevel.types)),
        .required("severity", .oneOf(AlertLevel.severities)),
        .required("created_at", .dateTime),
        .required("updated_at", .dateTime),
    ]).named("AlertLevel")

    /// `POST …/alert/items/`: a manual alert.
    public static let manualItem = Schema.object([
        .required("device", .integer(from: 1)),
        .optional("level", .integer(from: 1)),
        .required("description", .string(1...500)),
    ]).named("ManualAlert")

    /// `PATCH …/alert/items/{alert_pk}/`: the description is the only writable field.
    public static let itemChange = Schema.object([.required("description", .string(1...500))]).named("AlertChange")

    /// An alert with the delivery state of its notifications.
    public static let item = Schema.object([
        .required("id", .integer(from: 1)),
        .required("device", .object([.required("id", .integer(from: 1)), .required("device_id", .string()), .required("device_name", .string())])),
        .required("project", .string()),
        .required("level", Schema.object([.required("id", .integer(from: 1)), .required("name", .string()), .required("severity", .string())]).orNull),
        .required("the_type", .oneOf(AlertLevel.types)),
        .required("status", .oneOf(AlertItem.Status.allCases.map(\.rawValue))),
        .required("trigger_data", .any),
        .required("description", .string()),
        .required("created_at", .dateTime),
        .required("resolved_at", Schema.dateTime.orNull),
        .required("cancelled_at", Schema.dateTime.orNull),
        .required("notifications", .array(.object([
            .required("id", .integer(from: 1)),
            .required("receiver", .integer(from: 1)),
            .required("channel", .oneOf(AlertChannel.allCases.map(\.rawValue))),
            .required("target", .string()),
            .required("status", .oneOf(["pending", "sent", "failed", "suppressed"])),
            .required("attempts", .integer(from: 0)),
            .required("last_error", Schema.string().orNull),
            .required("sent_at", Schema.dateTime.orNull),
        ]))),
    ]).named("Alert")
}
