import Core
import Foundation

/// The module's configuration keys (a contract, settable by file or `IOT_EXPORTS_…` environment).
public struct ExportSettings: Sendable {
    /// Where files live (`exports.dir`; default: the database's folder + `/exports/`). May be shared storage.
    public let directory: String
    /// Seconds a succeeded file is kept before it expires (`exports.retention`, default 7d).
    public let retention: Int64
    /// Unfinished (pending or running) tasks allowed per organization (`exports.max_unfinished_per_org`, default 20).
    public let maxUnfinishedPerOrganization: Int
    /// Seconds a scheduler's claim on a task lasts without a heartbeat (`exports.lease`, default 60s).
    public let lease: Int64
    /// Tries before a task whose scheduler keeps dying fails (`exports.max_attempts`, default 3).
    public let maxAttempts: Int64
    /// Seconds a pre-signed download link stays valid (`exports.link_ttl`, default 15m).
    public let linkLifetime: Int64
    /// Rows per second a scheduler writes at most (`exports.max_rows_per_second`, default 0 = no limit), so a big export
    /// need not saturate a disk shared with ingestion.
    public let maxRowsPerSecond: Int

    public static let keys: [ConfigKey] = [
        ConfigKey("exports.dir", .text), ConfigKey("exports.retention", .duration),
        ConfigKey("exports.max_unfinished_per_org", .integer(1...100_000)), ConfigKey("exports.lease", .duration),
        ConfigKey("exports.max_attempts", .integer(1...100)), ConfigKey("exports.link_ttl", .duration),
        ConfigKey("exports.max_rows_per_second", .integer(0...1_000_000_000)),
    ]

    public init(config: Config) {
        let databasePath = config.string("db.path", default: "./data/iot.db")
        let folder = (databasePath as NSString).deletingLastPathComponent
        let fallback = (folder.isEmpty ? "." : folder) + "/exports"
        var directory = config.string("exports.dir", default: fallback)
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        self.directory = directory
        retention = Int64(config.seconds("exports.retention", default: 7 * 86_400))
        maxUnfinishedPerOrganization = max(1, config.int("exports.max_unfinished_per_org", default: 20))
        lease = max(1, Int64(config.seconds("exports.lease", default: 60)))
        maxAttempts = Int64(max(1, config.int("exports.max_attempts", default: 3)))
        linkLifetime = max(1, Int64(config.seconds("exports.link_ttl", default: 900)))
        maxRowsPerSecond = max(0, config.int("exports.max_rows_per_second", default: 0))
    }
}
