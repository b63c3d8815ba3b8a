import Core

/// An alert: opened by the rule engine (threshold), the offline job, a manager (manual) or trigger-test.
public struct AlertItem: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case active, cancelled, resolved
    }

    public let id: Int64
    public let projectPK: Int64
    public let devicePK: Int64
    public let deviceID: String
    public let deviceName: String
    public let levelID: Int64?
    public let levelName: String
    public let severity: String
    public let theType: String
    public var status: Status
    /// What the one-active-alert rule is keyed on: `threshold:<agri_id>:<direction>`, `offline`, or unique for others.
    public let ruleKey: String
    public let triggerData: JSON
    public var description: String
    public let isTest: Bool
    public let createdAt: String
    public var resolvedAt: String?
    public var cancelledAt: String?

    /// The API shape (DESIGN §5.4) with the delivery state of its notifications.
    public func json(projectID: String, notifications: [AlertNotification]) -> JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append("device", .object(["id": .int64(devicePK), "device_id": .string(deviceID), "device_name": .string(deviceName)]))
        object.append("project", .string(projectID))
        object.append("level", levelID.map { .object(["id": .int64($0), "name": .string(levelName), "severity": .string(severity)]) } ?? .null)
        object.append("the_type", .string(theType))
        object.append("status", .string(status.rawValue))
        object.append("trigger_data", triggerData)
        object.append("description", .string(description))
        object.append("created_at", .string(createdAt))
        object.append("resolved_at", .optional(resolvedAt))
        object.append("cancelled_at", .optional(cancelledAt))
        object.append("notifications", .array(notifications.map(\.json)))
        return .object(object)
    }
}

/// One message of the outbox: an alert to one receiver, with its delivery state.
public struct AlertNotification: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, sent, failed, suppressed
    }

    public let id: Int64
    public let alertID: Int64
    public let receiverID: Int64
    public let channel: AlertChannel
    public let target: String
    public let subject: String
    public let body: String
    public var status: Status
    public var attempts: Int64
    public var lastError: String?
    public var sentAt: Int64?

    public var json: JSON {
        .object(["id": .int64(id), "receiver": .int64(receiverID), "channel": .string(channel.rawValue), "target": .string(target),
                 "status": .string(status.rawValue), "attempts": .int64(attempts), "last_error": .optional(lastError),
                 "sent_at": sentAt.map { .string(Timestamp.format(unixSeconds: $0)) } ?? .null])
    }
}
