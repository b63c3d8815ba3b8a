import Core

/// Devices' configuration keys, declared once.
public enum DeviceKeys {
    public static let offlineAfter = ConfigKey("devices.offline_after", .duration, default: "10m",
                                               "a device without contact for longer is offline (counts, `online`, commands → 503)")
    public static let maxPointsPerRequest = ConfigKey("devices.max_points_per_request", .integer(1...1_000_000), default: "10000",
                                                      "larger telemetry arrays → 413")
    public static let maxPointsPerCommit = ConfigKey("devices.max_points_per_commit", .integer(100...10_000_000), default: "50000",
                                                     "upper bound of one group-commit transaction")
    public static let bindMaxFailures = ConfigKey("devices.bind_max_failures", .integer(1...1_000_000), default: "5",
                                                  "wrong safe codes per device and per token within `devices.bind_window` before 429")
    public static let bindWindow = ConfigKey("devices.bind_window", .duration, default: "15m", "the window of the bind failure limit")
    public static let cacheTTL = ConfigKey("devices.cache_ttl", .duration, default: "60s", "device lists are cached this long (invalidated on every change)")
    public static let dataCacheTTL = ConfigKey("devices.data_cache_ttl", .duration, default: "120s",
                                               "latest values are cached this long (invalidated on every change)")
    public static let countCacheTTL = ConfigKey("devices.count_cache_ttl", .duration, default: "5s",
                                                "a project's device and offline counts are reused this long per thread")
    public static let commandTTL = ConfigKey("devices.command_ttl", .duration, default: "10m", "unfinished control commands expire after this")
    public static let telemetryRetention = ConfigKey("devices.telemetry_retention", .duration, default: "0",
                                                     "the scheduler's daily job deletes older telemetry points (`0` = keep forever)")

    public static let all = [offlineAfter, maxPointsPerRequest, maxPointsPerCommit, bindMaxFailures, bindWindow, cacheTTL, dataCacheTTL,
                             countCacheTTL, commandTTL, telemetryRetention]
}
