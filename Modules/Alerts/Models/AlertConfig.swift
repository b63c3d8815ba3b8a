import Core

/// A project's alert switches (seed 003's singleton, created lazily so GET is idempotent).
public struct AlertConfig: Sendable, Equatable {
    public static let locales = ["zh-CN", "en"]

    public let projectPK: Int64
    public var enabled = true
    public var cooldownMinutes: Int64 = 10
    public var smsEnabled = true
    public var emailEnabled = true
    public var webhookEnabled = true
    public var offlineAlertsEnabled = false
    public var offlineAfterMinutes: Int64 = 30
    public var locale = "zh-CN"
    public var createdAt: String
    public var updatedAt: String

    public init(projectPK: Int64, createdAt: String) {
        self.projectPK = projectPK
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    /// Whether receivers of `channel` are notified.
    public func isEnabled(_ channel: AlertChannel) -> Bool {
        switch channel {
        case .sms: smsEnabled
        case .email: emailEnabled
        case .webhook: webhookEnabled
        }
    }

    public func json(projectID: String) -> JSON {
        .object([
            "project": .string(projectID), "enabled": .bool(enabled), "cooldown_minutes": .int64(cooldownMinutes),
            "sms_enabled": .bool(smsEnabled), "email_enabled": .bool(emailEnabled), "webhook_enabled": .bool(webhookEnabled),
            "offline_alerts_enabled": .bool(offlineAlertsEnabled), "offline_after_minutes": .int64(offlineAfterMinutes),
            "locale": .string(locale), "created_at": .string(createdAt), "updated_at": .string(updatedAt),
        ])
    }
}

/// A notification channel of receivers.
public enum AlertChannel: String, Sendable, CaseIterable {
    case sms, email, webhook

    /// The receiver field holding the address: `phone_number`, `email`, `url`.
    public var targetField: String {
        switch self {
        case .sms: "phone_number"
        case .email: "email"
        case .webhook: "url"
        }
    }
}

/// Someone (or something) notified when a project's alert opens.
public struct AlertReceiver: Sendable, Equatable {
    public let id: Int64
    public let projectPK: Int64
    public let channel: AlertChannel
    public var target: String
    public var name: String
    public var enabled: Bool
    /// Webhooks only: the HMAC key of `X-Signature`; write-only (never shown).
    public var secret: String?
    public let createdAt: String
    public var updatedAt: String

    public var json: JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append(channel.targetField, .string(target))
        object.append("name", .string(name))
        object.append("enabled", .bool(enabled))
        if channel == .webhook { object.append("has_secret", .bool(!(secret ?? "").isEmpty)) }
        object.append("created_at", .string(createdAt))
        object.append("updated_at", .string(updatedAt))
        return .object(object)
    }
}

/// An alert level of a project (seed 003's AlertLevel).
public struct AlertLevel: Sendable, Equatable, JSONRepresentable {
    public static let types = ["threshold", "offline", "test", "manual"]
    public static let severities = ["info", "warning", "critical"]

    public let id: Int64
    public let projectPK: Int64
    public var name: String
    public var theType: String
    public var severity: String
    public let createdAt: String
    public var updatedAt: String

    public var json: JSON {
        .object(["id": .int64(id), "name": .string(name), "the_type": .string(theType), "severity": .string(severity),
                 "created_at": .string(createdAt), "updated_at": .string(updatedAt)])
    }

    /// The levels a new project starts with: one per type.
    static let defaults: [(name: String, theType: String, severity: String)] = [
        ("Threshold", "threshold", "warning"), ("Offline", "offline", "critical"), ("Test", "test", "info"), ("Manual", "manual", "warning"),
    ]
}
