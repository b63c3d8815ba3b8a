import Foundation

/// A configuration key a program or module reads, with the shape its value must have. Programs check
/// every declared key at startup, so a typo such as `devices.offline_after=10 minutes` is a usage error
/// (exit 2) instead of a silent fallback to the default.
public struct ConfigKey: Sendable {
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        /// `30d`, `10m`, `5s`, `250ms` or plain seconds.
        case duration
        case boolean
        case choice([String])
        /// Any non-empty text (paths).
        case text
    }

    public let name: String
    public let kind: Kind

    public init(_ name: String, _ kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

extension Config {
    /// One message per declared key whose value does not have the declared shape.
    public func problems(_ keys: [ConfigKey]) -> [String] {
        keys.compactMap { key in
            guard let value = self[key.name] else { return nil }
            switch key.kind {
            case .integer(let range):
                guard let number = Int(value), range.contains(number) else {
                    return "\(key.name)=\(value): must be an integer \(range.lowerBound)..\(range.upperBound)"
                }
            case .duration:
                guard let seconds = DurationText.seconds(value), seconds >= 0 else {
                    return "\(key.name)=\(value): must be a duration such as 30d, 10m, 5s or seconds"
                }
            case .boolean:
                guard ["1", "0", "true", "false", "yes", "no", "on", "off"].contains(value.lowercased()) else {
                    return "\(key.name)=\(value): must be true or false"
                }
            case .text:
                guard !value.isEmpty else { return "\(key.name): must not be empty" }
            case .choice(let options):
                guard options.contains(where: { $0.caseInsensitiveCompare(value) == .orderedSame }) else {
                    return "\(key.name)=\(value): must be one of \(options.joined(separator: ", "))"
                }
            }
            return nil
        }
    }
}
