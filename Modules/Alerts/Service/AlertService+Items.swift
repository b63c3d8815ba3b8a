import Auth
import Core
import Devices
import Persistence
import Projects

extension AlertService {
    /// Filters of `GET items/` (already validated by the route).
    public struct ItemQuery: Sendable {
        public var status: AlertItem.Status?
        public var theType: String?
        public var devicePK: Int64?
        /// RFC 3339 bounds on `created_at`: start inclusive, end exclusive.
        public var start: String?
        public var end: String?
        public init() {}
    }

    /// `GET items/`: newest first, paginated.
    public func items(projectID: String, caller: Caller, query: ItemQuery, page: PageRequest) throws -> PageResult<JSON> {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        let filter = AlertStore.ItemFilter(status: query.status, theType: query.theType, devicePK: query.devicePK, start: query.start, end: query.end)
        return try db.read { tx in
            let (count, items) = try AlertStore(db: tx).items(projectPK: project.pk, filter: filter, limit: page.limit, offset: page.offset)
            return PageResult(count: count, items: try views(items, project: project, tx))
        }
    }

    /// `GET items/current/`: every active alert, unpaginated.
    public func currentItems(projectID: String, caller: Caller) throws -> [JSON] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try db.read { tx in try views(AlertStore(db: tx).activeItems(projectPK: project.pk), project: project, tx) }
    }

    public func item(projectID: String, id: Int64, caller: Caller) throws -> JSON {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        return try db.read { tx in
            guard let item = try AlertStore(db: tx).item(id: id), item.projectPK == project.pk else { throw AlertError.itemNotFound(id: id) }
            return try views([item], project: project, tx)[0]
        }
    }

    /// `POST items/`: a manual alert on a device of this project, at a level of this project; notifies like any alert.
    public func createManual(projectID: String, caller: Caller, devicePK: Int64, levelID: Int64?, description: String) throws -> JSON {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let seconds = clock.unixSeconds()
        let item = try db.write { tx -> AlertItem in
            try projects.ensureActive(project, in: tx)
            guard let device = try devices.device(pk: devicePK, in: tx), device.projectPK == project.pk else {
                throw APIError.validation(field: "device", "no device \(devicePK) in project \(project.projectID)")
            }
            let config = try initialized(project, tx)
            var level: AlertLevel?
            if let levelID {
                guard let found = try AlertStore(db: tx).level(id: levelID), found.projectPK == project.pk else {
                    throw APIError.validation(field: "level", "no level \(levelID) in project \(project.projectID)")
                }
                level = found
            }
            let trigger: JSON = .object(["manual": .bool(true), "created_by": .string(caller.username)])
            guard let item = try open(project: project, config: config, device: device, theType: "manual", ruleKey: "manual:\(RandomID.make(length: 16))",
                                      triggerData: trigger, description: description, level: level, seconds: seconds, tx) else {
                throw APIError.unavailable("A manual alert could not be opened; retry")
            }
            return item
        }
        return try view(item, project: project)
    }

    /// `PATCH items/{id}/`: only `description` changes.
    public func updateDescription(projectID: String, id: Int64, caller: Caller, description: String) throws -> JSON {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let item = try db.write { tx -> AlertItem in
            let store = AlertStore(db: tx)
            guard var item = try store.item(id: id), item.projectPK == project.pk else { throw AlertError.itemNotFound(id: id) }
            try store.updateDescription(id: id, description)
            item.description = description
            return item
        }
        return try view(item, project: project)
    }

    /// `DELETE items/{id}/`: an active alert cannot be deleted (cancel it first): 400 `INVALID_ALERT_STATE`.
    public func deleteItem(projectID: String, id: Int64, caller: Caller) throws {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        try db.write { tx in
            let store = AlertStore(db: tx)
            guard let item = try store.item(id: id), item.projectPK == project.pk else { throw AlertError.itemNotFound(id: id) }
            guard item.status != .active else {
                throw AlertError.activeNotDeletable(id: id)
            }
            try store.deleteItem(id: id)
        }
    }

    /// `POST items/{id}/cancel/`: only an active alert; returns the item.
    public func cancel(projectID: String, id: Int64, caller: Caller) throws -> JSON {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let seconds = clock.unixSeconds()
        let item = try db.write { tx -> AlertItem in
            let store = AlertStore(db: tx)
            guard var item = try store.item(id: id), item.projectPK == project.pk else { throw AlertError.itemNotFound(id: id) }
            guard item.status == .active else { throw AlertError.notCancellable(id: id, status: item.status) }
            let time = Timestamp.format(unixSeconds: seconds)
            try store.cancel(id: id, at: time, seconds: seconds)
            item.status = .cancelled
            item.cancelledAt = time
            try bus.publish(AlertCancelled(alertID: id, projectPK: project.pk), in: tx)
            let engine = engine
            let key = RuleEngine.ActiveKey(devicePK: item.devicePK, ruleKey: item.ruleKey)
            tx.onCommit { engine.apply(opened: [], closed: [key]) }
            tx.announce(RuleEngine.activeTopic, scope: item.devicePK)
            return item
        }
        return try view(item, project: project)
    }

    /// `POST items/trigger-test/`, exactly seed 003's steps: the project's first device, a level preferring the
    /// threshold type, earlier test alerts deleted, one new alert flagged `test: true`, notified like a real one.
    /// 404 when the project has no device or no level.
    public func triggerTest(projectID: String, caller: Caller) throws -> JSON {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        let seconds = clock.unixSeconds()
        let item = try db.write { tx -> AlertItem in
            try projects.ensureActive(project, in: tx)
            let config = try initialized(project, tx)
            guard let first = try devices.devices(inProject: project.pk, in: tx).first else {
                throw AlertError.noDevice(projectID: project.projectID)
            }
            let store = AlertStore(db: tx)
            guard let level = try store.preferredLevel(projectPK: project.pk, theType: "threshold") else {
                throw AlertError.noLevel(projectID: project.projectID)
            }
            let name = first.deviceName.isEmpty ? first.deviceID : first.deviceName
            let trigger: JSON = .object(["test": .bool(true), "triggered_by": .string(caller.username)])
            guard let item = try open(project: project, config: config, device: first, theType: "test", ruleKey: "test:\(RandomID.make(length: 16))",
                                      triggerData: trigger, description: AlertText.test(locale: config.locale, deviceName: name), level: level,
                                      isTest: true, seconds: seconds, tx) else {
                throw APIError.unavailable("The test alert could not be opened; retry")
            }
            // Earlier test alerts go after the new one is in: SQLite hands out the largest deleted rowid again, and the
            // replacement must not take the id of the alert it replaces.
            _ = try store.deleteTests(projectPK: project.pk, keep: item.id)
            return item
        }
        return try view(item, project: project)
    }
}

extension AlertService {
    /// Active alerts of every project (admin-cli; no scope: the operator is trusted).
    public func activeItems(limit: Int) throws -> [AlertItem] {
        try db.read { try AlertStore(db: $0).activeItems(limit: limit) }
    }
}
