import Core
import Devices
import Factors
import Persistence
import Projects

extension AlertService {
    /// Runs inside the telemetry group commit (`TelemetryStored`): every committed point of a factor with a rule is
    /// compared with its band, in request order. Out of band opens an alert for (factor, direction) unless one is
    /// active or the pair closed less than `cooldown_minutes` ago; back inside resolves it. Equal to a threshold
    /// is inside. The alert, its outbox rows and the points commit together.
    ///
    /// What an alert needs besides its point (project, config, level, receivers) is read at most once per project per
    /// group, and the device comes with the batch: an alert storm (a sensor flapping around its limit) costs an insert, an
    /// outbox row per receiver and an update per alert, not a dozen statements.
    func evaluate(_ stored: TelemetryStored, _ tx: Database) throws {
        try engine.loadIfNeeded(tx)
        var opened: [RuleEngine.ActiveKey] = []
        var closed: [RuleEngine.ActiveKey] = []
        /// What this transaction already decided (the engine's memory changes only on commit).
        var local: [RuleEngine.ActiveKey: Bool] = [:]
        func isActive(_ key: RuleEngine.ActiveKey) -> Bool { local[key] ?? engine.isActive(key) }
        var contexts: [Int64: OpeningContext?] = [:]
        /// Alerts opened by this group: resolving one again in the same group (a flapping sensor) updates it by id.
        var openedHere: [RuleEngine.ActiveKey: (id: Int64, projectPK: Int64)] = [:]
        for batch in stored.batches {
            guard let rules = engine.rules(devicePK: batch.devicePK) else { continue }
            for point in batch.points {
                guard let rule = rules.rule(point.agriID), rule.projectPK == batch.projectPK else { continue }
                let above = rule.max.map { point.value > $0 } ?? false
                let below = !above && (rule.min.map { point.value < $0 } ?? false)
                let keys = rules.keys(rule.agriID, devicePK: batch.devicePK)
                // Resolve what the value is no longer in: both directions when inside, the other one when outside.
                var resolving: [RuleEngine.ActiveKey] = []
                if !above, isActive(keys.above) { resolving.append(keys.above) }
                if !below, isActive(keys.below) { resolving.append(keys.below) }
                if !resolving.isEmpty {
                    var byKey: [String] = []
                    for key in resolving {
                        if let item = openedHere.removeValue(forKey: key) {
                            try resolve(id: item.id, projectPK: item.projectPK, devicePK: batch.devicePK, seconds: stored.now, tx)
                        } else {
                            byKey.append(key.ruleKey)
                        }
                    }
                    if !byKey.isEmpty { try resolve(devicePK: batch.devicePK, keys: byKey, seconds: stored.now, tx) }
                    for key in resolving {
                        local[key] = false
                        closed.append(key)
                    }
                }
                guard above || below else { continue }
                let key = above ? keys.above : keys.below
                if isActive(key) { continue }
                if contexts[batch.projectPK] == nil { contexts[batch.projectPK] = .some(try openingContext(batch, tx)) }
                guard let context = contexts[batch.projectPK] ?? nil, context.config.enabled,
                      context.project.organizationID == batch.organizationID else { continue }
                if context.config.cooldownMinutes > 0, let last = try AlertStore(db: tx).lastClosed(devicePK: batch.devicePK, ruleKey: key.ruleKey),
                   stored.now - last < context.config.cooldownMinutes * 60 { continue }
                let threshold = above ? rule.max! : rule.min!
                let trigger: JSON = .object([
                    "agri_id": .string(point.agriID), "factor": .string(rule.name), "factor_id": .int64(rule.factorID), "unit": .string(rule.unit),
                    "value": .number(point.value), "threshold": .number(threshold), "direction": .string(above ? "above" : "below"),
                    "t": .int64(point.t),
                ])
                let description = AlertText.threshold(locale: context.config.locale, name: rule.name, unit: rule.unit, decimals: rule.decimals,
                                                      value: point.value, threshold: threshold, above: above)
                if let item = try open(project: context.project, config: context.config, device: batch.device, theType: "threshold",
                                       ruleKey: key.ruleKey, triggerData: trigger, description: description, level: context.level, levelKnown: true,
                                       receivers: context.receivers, seconds: stored.now, tx) {
                    openedHere[key] = (item.id, item.projectPK)
                }
                // Opened now, or already active in the table (the unique index said so): either way it is active.
                local[key] = true
                opened.append(key)
            }
        }
        if !opened.isEmpty || !closed.isEmpty {
            let engine = engine
            let finalOpened = opened.filter { local[$0] == true }
            let finalClosed = closed.filter { local[$0] == false }
            tx.onCommit { engine.apply(opened: finalOpened, closed: finalClosed) }
            tx.announce(RuleEngine.activeTopic, scopes: Set((finalOpened + finalClosed).map(\.devicePK)))
        }
    }

    /// What opening a threshold alert in one project needs, read once per group.
    struct OpeningContext {
        let project: ProjectRef
        let config: AlertConfig
        let level: AlertLevel?
        let receivers: [AlertReceiver]
    }

    /// The project (still active), its config, preferred threshold level and receivers, read in `tx`; nil when the
    /// project is gone (its points are then not evaluated).
    private func openingContext(_ batch: TelemetryStored.Batch, _ tx: Database) throws -> OpeningContext? {
        guard let project = try projects.project(pk: batch.projectPK, in: tx) else { return nil }
        let config: AlertConfig
        if let cached = engine.config(projectPK: project.pk) {
            config = cached
        } else {
            config = try initialized(project, tx)
            let engine = engine
            tx.onCommit { engine.remember(config) }
        }
        let store = AlertStore(db: tx)
        return OpeningContext(project: project, config: config, level: try store.preferredLevel(projectPK: project.pk, theType: "threshold"),
                              receivers: try store.receivers(projectPK: project.pk))
    }

    /// Resolves an alert this transaction opened (by id), publishing `AlertResolved`.
    private func resolve(id: Int64, projectPK: Int64, devicePK: Int64, seconds: Int64, _ tx: Database) throws {
        guard try AlertStore(db: tx).resolve(id: id, at: Timestamp.format(unixSeconds: seconds), seconds: seconds) else { return }
        try bus.publish(AlertResolved(alertID: id, projectPK: projectPK, devicePK: devicePK), in: tx)
    }

    /// Resolves the device's active alerts of `keys` in `tx`, publishing `AlertResolved` for each.
    func resolve(devicePK: Int64, keys: [String], seconds: Int64, _ tx: Database) throws {
        let resolved = try AlertStore(db: tx).resolve(devicePK: devicePK, ruleKeys: keys, at: Timestamp.format(unixSeconds: seconds), seconds: seconds)
        for (id, projectPK) in resolved {
            try bus.publish(AlertResolved(alertID: id, projectPK: projectPK, devicePK: devicePK), in: tx)
        }
    }

    /// A device was heard from: its offline alert (if any) resolves, in the contact's transaction.
    func deviceContacted(_ event: DeviceContacted, _ tx: Database) throws {
        let resolved = try AlertStore(db: tx).resolve(devicePKs: event.devicePKs, ruleKey: "offline",
                                                      at: Timestamp.format(unixSeconds: event.now), seconds: event.now)
        for (id, projectPK, devicePK) in resolved {
            try bus.publish(AlertResolved(alertID: id, projectPK: projectPK, devicePK: devicePK), in: tx)
        }
    }

    /// A device's factors changed: alerts of rules that no longer exist resolve now; the new rules apply from commit.
    func factorsChanged(devicePK: Int64, _ tx: Database) throws {
        let rules = try factors.alarmRules(devicePK: devicePK, in: tx)
        let keep = Set(rules.flatMap { [RuleEngine.ruleKey(agriID: $0.agriID, above: true), RuleEngine.ruleKey(agriID: $0.agriID, above: false)] })
        let active = try AlertStore(db: tx).activeRuleKeys(devicePK: devicePK, thresholdOnly: true)
        let orphaned = active.filter { !keep.contains($0) }
        if !orphaned.isEmpty { try resolve(devicePK: devicePK, keys: orphaned, seconds: clock.unixSeconds(), tx) }
        let engine = engine
        tx.onCommit {
            engine.setRules(devicePK: devicePK, rules)
            engine.apply(opened: [], closed: orphaned.map { RuleEngine.ActiveKey(devicePK: devicePK, ruleKey: $0) })
        }
        if !orphaned.isEmpty { tx.announce(RuleEngine.activeTopic, scope: devicePK) }
    }

    /// A device left its project (unbound or moved): its active alerts resolve, and its rules are forgotten until
    /// its factors change again (Factors clears or moves them in the same transaction).
    func deviceLeft(devicePK: Int64, _ tx: Database) throws {
        let active = try AlertStore(db: tx).activeRuleKeys(devicePK: devicePK, thresholdOnly: false)
        if !active.isEmpty { try resolve(devicePK: devicePK, keys: active, seconds: clock.unixSeconds(), tx) }
        let rules = try factors.alarmRules(devicePK: devicePK, in: tx)
        let engine = engine
        tx.onCommit {
            engine.setRules(devicePK: devicePK, rules)
            engine.apply(opened: [], closed: active.map { RuleEngine.ActiveKey(devicePK: devicePK, ruleKey: $0) })
        }
        // Other processes read this device's rules again (a move changes them without a factor write) and its alerts.
        tx.announce(FactorService.changesTopic)
        tx.announce(RuleEngine.activeTopic, scope: devicePK)
    }

    // MARK: - Offline (a scheduler job)

    /// Opens an `offline` alert for every device silent longer than its project's `offline_after_minutes`, in projects
    /// that enabled offline alerts. A device that never reported is not offline (it has not started yet). Returns how
    /// many opened. The device's next contact resolves the alert (`deviceContacted`).
    @discardableResult
    public func detectOffline() throws -> Int {
        let configs = try db.read { try AlertStore(db: $0).offlineConfigs() }
        var opened = 0
        for (config, organizationID) in configs {
            guard let project = try projects.project(pk: config.projectPK), project.organizationID == organizationID else { continue }
            let active = try db.read { try AlertStore(db: $0).activeDevices(projectPK: project.pk, ruleKey: "offline") }
            let nowSeconds = clock.unixSeconds()
            let limit = config.offlineAfterMinutes * 60
            let silent = try devices.devices(inProject: project.pk).filter { device in
                guard let contact = device.connectTime else { return false }
                return nowSeconds - contact > limit && !active.contains(device.id)
            }
            for device in silent {
                let item = try db.write { tx -> AlertItem? in
                    // Rechecked in the transaction: the device may have reported or moved since the read.
                    guard let current = try devices.device(pk: device.id, in: tx), current.projectPK == project.pk,
                          let contact = current.connectTime, nowSeconds - contact > limit,
                          try projects.project(pk: project.pk, in: tx) != nil else { return nil }
                    let trigger: JSON = .object(["last_contact": .string(Timestamp.format(unixSeconds: contact)),
                                                 "offline_after_minutes": .int64(config.offlineAfterMinutes)])
                    let name = current.deviceName.isEmpty ? current.deviceID : current.deviceName
                    return try open(project: project, config: config, device: current, theType: "offline", ruleKey: "offline", triggerData: trigger,
                                    description: AlertText.offline(locale: config.locale, deviceName: name, minutes: config.offlineAfterMinutes),
                                    seconds: nowSeconds, tx)
                }
                if item != nil { opened += 1 }
            }
        }
        if opened > 0 { logger.info("offline alerts opened", ["count": .int(opened)]) }
        return opened
    }
}
