import Core
import Factors
import Persistence
import Synchronization

/// The rule engine's memory: thresholds of alarm-enabled factors by device and agri_id (kept true on
/// `FactorsChanged` and device moves), project configs, and which threshold rules have an active alert. Evaluation
/// itself (`AlertService.evaluate`) runs inside the telemetry group commit; the memory only spares it reads.
///
/// What is in memory is changed only after the transaction that justifies it commits, so a rolled-back group
/// never leaves the engine believing in an alert that does not exist.
final class RuleEngine: Sendable {
    struct State {
        var loaded = false
        var rules: [Int64: DeviceRules] = [:]
        var configs: [Int64: AlertConfig] = [:]
        /// (device, rule key) of active threshold alerts.
        var active: Set<ActiveKey> = []
        /// Devices whose active alerts another process changed: read again at the next evaluation.
        var staleActive: Set<Int64> = []
    }

    struct ActiveKey: Hashable, Sendable {
        let devicePK: Int64
        let ruleKey: String
    }

    /// One device's rules by agri_id, with their rule keys made once. Evaluation looks up every committed point: a
    /// device with a few rules is scanned (comparing strings is cheaper than hashing one), a larger set is hashed.
    struct DeviceRules: Sendable {
        struct Entry: Sendable {
            let rule: AlarmRule
            let above: String
            let below: String
        }

        private let entries: [Entry]
        private let byAgriID: [String: Int]

        init(_ rules: [AlarmRule]) {
            var entries: [Entry] = []
            var byAgriID: [String: Int] = [:]
            for rule in rules where byAgriID[rule.agriID] == nil {
                byAgriID[rule.agriID] = entries.count
                entries.append(Entry(rule: rule, above: RuleEngine.ruleKey(agriID: rule.agriID, above: true),
                                     below: RuleEngine.ruleKey(agriID: rule.agriID, above: false)))
            }
            self.entries = entries
            self.byAgriID = entries.count > 8 ? byAgriID : [:]
        }

        var isEmpty: Bool { entries.isEmpty }

        private func index(_ agriID: String) -> Int? {
            if entries.count > 8 { return byAgriID[agriID] }
            return entries.firstIndex { $0.rule.agriID == agriID }
        }

        func rule(_ agriID: String) -> AlarmRule? { index(agriID).map { entries[$0].rule } }

        /// The active-alert keys of the rule of `agriID` (which must have a rule).
        func keys(_ agriID: String, devicePK: Int64) -> (above: ActiveKey, below: ActiveKey) {
            let entry = entries[index(agriID)!]
            return (ActiveKey(devicePK: devicePK, ruleKey: entry.above), ActiveKey(devicePK: devicePK, ruleKey: entry.below))
        }
    }

    private let factors: FactorService
    private let state = Mutex(State())

    init(factors: FactorService) {
        self.factors = factors
    }

    static func ruleKey(agriID: String, above: Bool) -> String { "threshold:\(agriID):\(above ? "above" : "below")" }

    /// Loads every rule and the active threshold alerts once, through `tx` (the first group commit).
    func loadIfNeeded(_ tx: Database) throws {
        let (loaded, stale) = state.withLock { ($0.loaded, $0.staleActive) }
        if loaded, !stale.isEmpty {
            // Another process opened or closed alerts of these devices: their active keys are read again.
            let store = AlertStore(db: tx)
            var fresh: Set<ActiveKey> = []
            for devicePK in stale {
                for ruleKey in try store.activeRuleKeys(devicePK: devicePK, thresholdOnly: true) { fresh.insert(ActiveKey(devicePK: devicePK, ruleKey: ruleKey)) }
            }
            state.withLock { state in
                state.active = state.active.filter { !stale.contains($0.devicePK) }.union(fresh)
                state.staleActive.subtract(stale)
            }
            return
        }
        if loaded { return }
        var byDevice: [Int64: [AlarmRule]] = [:]
        for rule in try factors.alarmRules(in: tx) { byDevice[rule.devicePK, default: []].append(rule) }
        let rules = byDevice.mapValues(DeviceRules.init)
        let active = try AlertStore(db: tx).activeThresholdKeys().map { ActiveKey(devicePK: $0.devicePK, ruleKey: $0.ruleKey) }
        state.withLock { state in
            guard !state.loaded else { return }
            state.rules = rules
            state.active = Set(active)
            state.staleActive = []
            state.loaded = true
        }
    }

    func rules(devicePK: Int64) -> DeviceRules? { state.withLock { $0.rules[devicePK] } }

    func setRules(devicePK: Int64, _ rules: [AlarmRule]) {
        state.withLock { state in
            guard state.loaded else { return }
            state.rules[devicePK] = rules.isEmpty ? nil : DeviceRules(rules)
        }
    }

    func config(projectPK: Int64) -> AlertConfig? { state.withLock { $0.configs[projectPK] } }
    func remember(_ config: AlertConfig) { state.withLock { $0.configs[config.projectPK] = config } }
    func forgetConfig(projectPK: Int64) { state.withLock { _ = $0.configs.removeValue(forKey: projectPK) } }

    func isActive(_ key: ActiveKey) -> Bool { state.withLock { $0.active.contains(key) } }

    /// Another process changed rules (factors): everything is read again at the next evaluation.
    func reload() {
        state.withLock { state in
            state = State()
        }
    }

    /// Another process opened or closed alerts of `devicePK` (nil: of any device).
    func activeChanged(devicePK: Int64?) {
        guard let devicePK else { return reload() }
        state.withLock { state in
            guard state.loaded else { return }
            state.staleActive.insert(devicePK)
        }
    }

    /// Another process changed the alert config of `projectPK` (nil: of any project).
    func configChanged(projectPK: Int64?) {
        state.withLock { state in
            if let projectPK { state.configs[projectPK] = nil } else { state.configs = [:] }
        }
    }

    /// The change-feed topic of alerts opened, resolved or cancelled, scoped by device pk.
    static let activeTopic = "alerts.active"
    /// The change-feed topic of alert config changes, scoped by project pk.
    static let configTopic = "alerts.config"

    /// Follows other processes' announcements (their rule, config and alert changes).
    func listen(to changes: ChangeFeed) {
        changes.subscribe(FactorService.changesTopic) { [self] _ in reload() }
        changes.subscribe(Self.activeTopic) { [self] devicePK in activeChanged(devicePK: devicePK) }
        changes.subscribe(Self.configTopic) { [self] projectPK in configChanged(projectPK: projectPK) }
    }

    /// Applies what a committed transaction opened and closed.
    func apply(opened: [ActiveKey], closed: [ActiveKey]) {
        state.withLock { state in
            for key in closed { state.active.remove(key) }
            for key in opened { state.active.insert(key) }
        }
    }
}
