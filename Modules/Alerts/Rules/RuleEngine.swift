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
        var rules: [Int64: [String: AlarmRule]] = [:]
        var configs: [Int64: AlertConfig] = [:]
        /// (device, rule key) of active threshold alerts.
        var active: Set<ActiveKey> = []
    }

    struct ActiveKey: Hashable, Sendable {
        let devicePK: Int64
        let ruleKey: String
    }

    private let factors: FactorService
    private let logger: Logger
    private let state = Mutex(State())

    init(factors: FactorService, logger: Logger) {
        self.factors = factors
        self.logger = logger
    }

    static func ruleKey(agriID: String, above: Bool) -> String { "threshold:\(agriID):\(above ? "above" : "below")" }

    /// Loads every rule and the active threshold alerts once, through `tx` (the first group commit).
    func loadIfNeeded(_ tx: Database) throws {
        if state.withLock({ $0.loaded }) { return }
        var rules: [Int64: [String: AlarmRule]] = [:]
        for rule in try factors.alarmRules(in: tx) { rules[rule.devicePK, default: [:]][rule.agriID] = rule }
        let active = try tx.query("SELECT device_pk, rule_key FROM alert_items WHERE status = 'active' AND the_type = 'threshold'")
            .map { ActiveKey(devicePK: $0.int(0), ruleKey: $0.string(1)) }
        state.withLock { state in
            guard !state.loaded else { return }
            state.rules = rules
            state.active = Set(active)
            state.loaded = true
        }
    }

    func rules(devicePK: Int64) -> [String: AlarmRule]? { state.withLock { $0.rules[devicePK] } }

    func setRules(devicePK: Int64, _ rules: [AlarmRule]) {
        state.withLock { state in
            guard state.loaded else { return }
            state.rules[devicePK] = rules.isEmpty ? nil : Dictionary(rules.map { ($0.agriID, $0) }) { first, _ in first }
        }
    }

    func config(projectPK: Int64) -> AlertConfig? { state.withLock { $0.configs[projectPK] } }
    func remember(_ config: AlertConfig) { state.withLock { $0.configs[config.projectPK] = config } }
    func forgetConfig(projectPK: Int64) { state.withLock { _ = $0.configs.removeValue(forKey: projectPK) } }

    func isActive(_ key: ActiveKey) -> Bool { state.withLock { $0.active.contains(key) } }

    /// Applies what a committed transaction opened and closed.
    func apply(opened: [ActiveKey], closed: [ActiveKey]) {
        state.withLock { state in
            for key in closed { state.active.remove(key) }
            for key in opened { state.active.insert(key) }
        }
    }
}
