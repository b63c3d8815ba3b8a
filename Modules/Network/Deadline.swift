import Glibc

/// A point on the monotonic clock after which a network step gives up. `Deadline.never` waits forever.
public struct Deadline: Sendable, Comparable, Hashable {
    /// Nanoseconds on `CLOCK_MONOTONIC`.
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let never = Deadline(nanoseconds: .max)

    /// Now on the monotonic clock.
    public static var now: Deadline { Deadline(nanoseconds: monotonicNanoseconds()) }

    /// `seconds` from now (nil or infinite = never).
    public static func after(seconds: Double?) -> Deadline {
        guard let seconds, seconds.isFinite else { return .never }
        let now = monotonicNanoseconds()
        let delta = seconds <= 0 ? 0 : UInt64(min(seconds, 1e9) * 1e9)
        return Deadline(nanoseconds: now &+ delta < now ? .max : now &+ delta)
    }

    public var isNever: Bool { nanoseconds == .max }

    /// Seconds left (0 when passed, `.infinity` for never).
    public var remainingSeconds: Double {
        if isNever { return .infinity }
        let now = monotonicNanoseconds()
        return nanoseconds > now ? Double(nanoseconds - now) / 1e9 : 0
    }

    public var hasPassed: Bool { !isNever && monotonicNanoseconds() >= nanoseconds }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// Milliseconds for poll(2): -1 for never, at least 0, capped at an hour (the caller loops).
    var pollMilliseconds: Int32 {
        if isNever { return -1 }
        let remaining = remainingSeconds
        return Int32(min(remaining * 1000 + 0.999, 3_600_000))
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// "10 s", "0.5 s".
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e9 ? "\(Int(seconds)) s" : "\(seconds) s"
}
