import Foundation

/// The source of "now" for domain code; tests inject a manual clock instead of calling `Date()`.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The real clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

extension WallClock {
    /// Unix seconds, as telemetry `t` uses.
    public func unixSeconds() -> Int64 { Int64(now().timeIntervalSince1970.rounded(.down)) }
}
