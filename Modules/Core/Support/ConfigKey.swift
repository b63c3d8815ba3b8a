import Foundation

/// A configuration key, declared once by the module that reads it: its name, the shape its value must have, its
/// default and what it does. Programs check every value at startup (a malformed value, from the file or the
/// environment, is a usage error naming the key, exit 2, instead of a silent fallback), refuse keys of a config file
/// that nothing declares, and `admin-cli config keys --markdown` prints the README's table from these declarations.
///
/// ```swift
/// static let maxAttempts = ConfigKey("notifications.max_attempts", .integer(1...100), default: "6", "tries before a message is `failed`")
/// let attempts = config.int(Self.maxAttempts)
/// ```
public struct ConfigKey: Sendable {
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        /// `30d`, `10m`, `5s`, `250ms` or plain seconds.
        case duration
        case boolean
        case choice([String])
        /// Any text, empty included (paths, names, addresses).
        case text
        /// A JSON object whose values are strings (extra HTTP headers).
        case stringObject
        /// Text checked by `check`, which names the problem or returns nil; `shape` describes it in the key list.
        case custom(shape: String, check: @Sendable (String) -> String?)
    }

    public let name: String
    public let kind: Kind
    /// The value used when nothing sets the key, in the key's own notation; nil when it is derived at run time.
    public let defaultValue: String?
    /// The default as the key list shows it: the value, or how a derived one is found.
    public let shownDefault: String
    public let summary: String

    public init(_ name: String, _ kind: Kind, default defaultValue: String?, shown: String? = nil, _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.shownDefault = shown ?? defaultValue.map { $0.isEmpty ? "—" : $0 } ?? "—"
        self.summary = summary
    }

    /// The kind in words, for the key list.
    public var shape: String {
        switch kind {
        case .integer(let range): "integer \(range.lowerBound)…\(range.upperBound)"
        case .duration: "duration"
        case .boolean: "boolean"
        case .choice(let options): options.joined(separator: ", ")
        case .text: "text"
        case .stringObject: "JSON object"
        case .custom(let shape, _): shape
        }
    }

    /// Why `value` is not a valid value of this key, or nil.
    public func problem(_ value: String) -> String? {
        switch kind {
        case .integer(let range):
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                return "\(name)=\(value): must be an integer \(range.lowerBound)..\(range.upperBound)"
            }
        case .duration:
            guard let seconds = DurationText.seconds(value), seconds >= 0 else {
                return "\(name)=\(value): must be a duration such as 30d, 10m, 5s or seconds"
            }
        case .boolean:
            guard Config.booleanWords.keys.contains(value.lowercased()) else { return "\(name)=\(value): must be true or false" }
        case .text:
            return nil
        case .stringObject:
            guard Config.stringObject(value) != nil else { return "\(name)=\(value): must be a JSON object of strings, e.g. {\"X-Api-Key\": \"…\"}" }
        case .choice(let options):
            guard options.contains(where: { $0.caseInsensitiveCompare(value) == .orderedSame }) else {
                return "\(name)=\(value): must be one of \(options.joined(separator: ", "))"
            }
        case .custom(_, let check):
            return check(value).map { "\(name)=\(value): \($0)" }
        }
        return nil
    }
}

extension Config {
    /// One message per declared key whose value does not have the declared shape, and one per key of the config file
    /// that no key declares (environment variables are not checked: other tools share the `IOT_` prefix).
    public func problems(_ keys: [ConfigKey]) -> [String] {
        var messages = keys.compactMap { key in self[key.name].flatMap(key.problem) }
        let declared = Set(keys.map(\.name))
        for name in fileKeys.sorted() where !declared.contains(name) {
            messages.append("\(name): unknown configuration key (see `admin-cli config keys`)")
        }
        return messages
    }

    static let booleanWords: [String: Bool] = ["1": true, "true": true, "yes": true, "on": true, "0": false, "false": false, "no": false, "off": false]

    /// The string entries of a JSON object, in order, or nil when `text` is not an object whose values are strings.
    public static func stringObject(_ text: String) -> [(String, String)]? {
        guard case .object(let object)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var entries: [(String, String)] = []
        for entry in object.entries {
            guard let value = entry.value.stringValue else { return nil }
            entries.append((entry.key, value))
        }
        return entries
    }

    // MARK: Reading declared keys (the value, else the declared default)

    public func string(_ key: ConfigKey) -> String { self[key.name] ?? key.defaultValue ?? "" }

    /// The value, or nil when unset or empty.
    public func optionalString(_ key: ConfigKey) -> String? {
        let value = self[key.name] ?? key.defaultValue ?? ""
        return value.isEmpty ? nil : value
    }

    public func int(_ key: ConfigKey) -> Int {
        self[key.name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? key.defaultValue.flatMap { Int($0) } ?? 0
    }

    public func bool(_ key: ConfigKey) -> Bool {
        self[key.name].flatMap { Self.booleanWords[$0.lowercased()] } ?? key.defaultValue.flatMap { Self.booleanWords[$0] } ?? false
    }

    /// A duration in seconds.
    public func seconds(_ key: ConfigKey) -> Double {
        self[key.name].flatMap(DurationText.seconds) ?? key.defaultValue.flatMap(DurationText.seconds) ?? 0
    }

    /// The key list as a Markdown table (the README's), in declaration order.
    public static func markdownTable(_ keys: [ConfigKey]) -> String {
        var lines = ["| key | default | value | what it does |", "|---|---|---|---|"]
        for key in keys {
            let shown = key.shownDefault == "—" || key.shownDefault.contains("`") ? key.shownDefault : "`\(key.shownDefault)`"
            lines.append("| `\(key.name)` | \(shown) | \(key.shape) | \(key.summary) |")
        }
        return lines.joined(separator: "\n")
    }
}
