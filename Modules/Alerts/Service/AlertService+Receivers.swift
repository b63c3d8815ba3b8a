import Auth
import Core
import Persistence
import Projects

extension AlertService {
    /// A receiver as a route read it (validated): nil fields are unchanged on update.
    public struct ReceiverInput: Sendable {
        public var target: String?
        public var name: String?
        public var enabled: Bool?
        /// Webhooks: `nil` unchanged, `""` removes the secret.
        public var secret: String?
        public init() {}
    }

    // MARK: - Receivers

    public func receivers(projectID: String, channel: AlertChannel, caller: Caller) throws -> [AlertReceiver] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try db.read { try AlertStore(db: $0).receivers(projectPK: project.pk, channel: channel) }
    }

    public func receiver(projectID: String, channel: AlertChannel, id: Int64, caller: Caller) throws -> AlertReceiver {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try db.read { try ownReceiver(AlertStore(db: $0), project, channel, id) }
    }

    func ownReceiver(_ store: AlertStore, _ project: ProjectRef, _ channel: AlertChannel, _ id: Int64) throws -> AlertReceiver {
        guard let receiver = try store.receiver(id: id), receiver.projectPK == project.pk, receiver.channel == channel else {
            throw AlertError.receiverNotFound(id: id)
        }
        return receiver
    }

    public func createReceiver(projectID: String, channel: AlertChannel, caller: Caller, _ input: ReceiverInput) throws -> AlertReceiver {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        return try db.write { tx in
            try projects.ensureActive(project, in: tx)
            _ = try initialized(project, tx)
            let store = AlertStore(db: tx)
            guard try store.receivers(projectPK: project.pk, channel: channel).count < maxReceiversPerChannel else {
                throw AlertError.tooManyReceivers(channel: channel, limit: maxReceiversPerChannel)
            }
            let secret = input.secret.flatMap { $0.isEmpty ? nil : $0 }
            return try store.insertReceiver(projectPK: project.pk, organizationID: project.organizationID, channel: channel,
                                                         target: input.target ?? "", name: input.name ?? "", enabled: input.enabled ?? true,
                                                         secret: channel == .webhook ? secret : nil, at: time)
        }
    }

    /// PUT and PATCH (PUT requires the address; the route enforces it).
    public func updateReceiver(projectID: String, channel: AlertChannel, id: Int64, caller: Caller, _ input: ReceiverInput) throws -> AlertReceiver {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        return try db.write { tx in
            let store = AlertStore(db: tx)
            var receiver = try ownReceiver(store, project, channel, id)
            if let target = input.target { receiver.target = target }
            if let name = input.name { receiver.name = name }
            if let enabled = input.enabled { receiver.enabled = enabled }
            if channel == .webhook, let secret = input.secret { receiver.secret = secret.isEmpty ? nil : secret }
            receiver.updatedAt = max(time, receiver.updatedAt)
            try store.update(receiver)
            return receiver
        }
    }

    /// Deleting a receiver keeps the history of what was sent to it (its outbox rows stay with their alerts).
    public func deleteReceiver(projectID: String, channel: AlertChannel, id: Int64, caller: Caller) throws {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        try db.write { tx in
            let store = AlertStore(db: tx)
            _ = try ownReceiver(store, project, channel, id)
            try store.deleteReceiver(id: id)
        }
    }

    // MARK: - Levels

    public func levels(projectID: String, caller: Caller) throws -> [AlertLevel] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try withConfig(project) { tx, _ in try AlertStore(db: tx).levels(projectPK: project.pk) }
    }

    public func level(projectID: String, id: Int64, caller: Caller) throws -> AlertLevel {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try db.read { try ownLevel(AlertStore(db: $0), project, id) }
    }

    func ownLevel(_ store: AlertStore, _ project: ProjectRef, _ id: Int64) throws -> AlertLevel {
        guard let level = try store.level(id: id), level.projectPK == project.pk else { throw AlertError.levelNotFound(id: id) }
        return level
    }

    public func createLevel(projectID: String, caller: Caller, name: String, theType: String, severity: String) throws -> AlertLevel {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        return try db.write { tx in
            try projects.ensureActive(project, in: tx)
            _ = try initialized(project, tx)
            return try AlertStore(db: tx).insertLevel(projectPK: project.pk, organizationID: project.organizationID, name: name, theType: theType,
                                                      severity: severity, at: time)
        }
    }

    public func updateLevel(projectID: String, id: Int64, caller: Caller, name: String?, theType: String?, severity: String?) throws -> AlertLevel {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let time = now
        return try db.write { tx in
            let store = AlertStore(db: tx)
            var level = try ownLevel(store, project, id)
            if let name { level.name = name }
            if let theType { level.theType = theType }
            if let severity { level.severity = severity }
            level.updatedAt = max(time, level.updatedAt)
            try store.update(level)
            return level
        }
    }

    /// A level that any alert refers to cannot be deleted: 409 `LEVEL_IN_USE`.
    public func deleteLevel(projectID: String, id: Int64, caller: Caller) throws {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        try db.write { tx in
            let store = AlertStore(db: tx)
            _ = try ownLevel(store, project, id)
            if try store.levelInUse(id: id) { throw AlertError.levelInUse(id: id) }
            try store.deleteLevel(id: id)
        }
    }
}
