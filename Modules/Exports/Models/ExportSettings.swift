import Core
import Foundation
import Platform

/// The module's configuration keys (a contract, settable by file or `IOT_EXPORTS_…` environment).
public struct ExportSettings: Sendable {
    /// Where files live (`exports.dir`; default: the database's folder + `/exports/`). May be shared storage.
    public let directory: String
    /// Seconds a succeeded file is kept before it expires (`exports.retention`, default 7d).
    public let retention: Int64
    /// Unfinished (pending or running) tasks allowed per organization (`exports.max_unfinished_per_org`, default 20).
    public let maxUnfinishedPerOrganization: Int
    /// Seconds a scheduler's claim on a task lasts without a heartbeat (`exports.lease`, default 30 s).
    public let lease: Int64
    /// Tries before a task whose scheduler keeps dying fails (`exports.max_attempts`, default 3).
    public let maxAttempts: Int64
    /// Seconds a pre-signed download link stays valid (`exports.link_ttl`, default 15m).
    public let linkLifetime: Int64
    /// Rows per second a scheduler writes at most (`exports.max_rows_per_second`, default 0 = no limit), so a big export
    /// need not saturate a disk shared with ingestion.
    public let maxRowsPerSecond: Int

    public static let dirKey = ConfigKey("exports.dir", .text, default: nil, shown: "db folder + `/exports`",
                                         "where export files are written (may be shared storage)")
    public static let retentionKey = ConfigKey("exports.retention", .duration, default: "7d",
                                               "succeeded files are removed after this (task → `expired`)")
    public static let maxUnfinishedKey = ConfigKey("exports.max_unfinished_per_org", .integer(1...100_000), default: "20",
                                                   "pending + running tasks per organization before 429")
    public static let leaseKey = ConfigKey("exports.lease", .duration, default: "30s",
                                           "a scheduler's claim on a task (renewed every half second); a dead scheduler's task is retaken after it")
    public static let maxAttemptsKey = ConfigKey("exports.max_attempts", .integer(1...100), default: "3",
                                                 "claims of one task before it fails (its schedulers kept dying)")
    public static let linkTTLKey = ConfigKey("exports.link_ttl", .duration, default: "15m", "validity of pre-signed download links")
    public static let maxRowsPerSecondKey = ConfigKey("exports.max_rows_per_second", .integer(0...1_000_000_000), default: "0",
                                                      "throttle for export writing (0 = none)")

    public static let keys: [ConfigKey] = [dirKey, retentionKey, maxUnfinishedKey, leaseKey, maxAttemptsKey, linkTTLKey, maxRowsPerSecondKey]

    public init(config: Config) {
        var directory = config.optionalString(Self.dirKey) ?? KernelKeys.dataFolder(config) + "/exports"
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        self.directory = directory
        retention = Int64(config.seconds(Self.retentionKey))
        maxUnfinishedPerOrganization = max(1, config.int(Self.maxUnfinishedKey))
        lease = max(1, Int64(config.seconds(Self.leaseKey)))
        maxAttempts = Int64(max(1, config.int(Self.maxAttemptsKey)))
        linkLifetime = max(1, Int64(config.seconds(Self.linkTTLKey)))
        maxRowsPerSecond = max(0, config.int(Self.maxRowsPerSecondKey))
    }
}
