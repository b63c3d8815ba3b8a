import Foundation

/// Layered configuration: defaults < JSON file (`--config`) < environment (`IOT_…`) < command-line flags.
///
/// Keys are dotted (`server.port`); a JSON file nests them (`{"server": {"port": 8080}}`); the
/// environment spells them `IOT_SERVER_PORT`. `IOT_DB` is the documented alias of `db.path`.
public struct Config: Sendable {
    public private(set) var values: [String: String] = [:]
    /// The keys the config file set (checked against the declared keys: a typo there is an error, not a silent default).
    public private(set) var fileKeys: Set<String> = []

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// Loads a JSON config file, flattening nested objects into dotted keys.
    public static func load(file path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: [String: String] = [:]) throws(APIError) -> Config {
        var config = Config()
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw APIError.badRequest("Cannot read config file \(path)")
            }
            let json: JSON
            do { json = try JSONParser.parse(Array(data)) } catch {
                throw APIError.badRequest("Config file \(path) is not valid JSON: \(error)")
            }
            guard case .object(let object) = json else { throw APIError.badRequest("Config file \(path) must hold a JSON object") }
            config.flatten(object, prefix: "")
            config.fileKeys = Set(config.values.keys)
        }
        for (name, value) in environment where name.hasPrefix("IOT_") {
            if name == "IOT_DB" {
                config.values["db.path"] = value
            } else {
                // `_` stands for both `.` and `_` (IOT_AUTH_PBKDF2_ITERATIONS is auth.pbkdf2_iterations): keep the
                // normalized name and let lookups match it; it shadows the file's value for the same key.
                let normalized = String(name.dropFirst(4)).lowercased()
                for key in config.values.keys where Self.normalize(key) == normalized { config.values[key] = nil }
                config.environment[normalized] = value
            }
        }
        for (key, value) in overrides { config.values[key] = value }
        return config
    }

    private mutating func flatten(_ object: JSONObject, prefix: String) {
        for (key, value) in object.entries {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case .object(let nested): flatten(nested, prefix: name)
            case .string(let s): values[name] = s
            case .number, .bool: values[name] = JSONWriter.string(value)
            case .null: values[name] = nil
            case .array: values[name] = JSONWriter.string(value)
            }
        }
    }

    /// Environment values by normalized key (`auth_pbkdf2_iterations`).
    private var environment: [String: String] = [:]

    static func normalize(_ key: String) -> String { key.lowercased().replacingOccurrences(of: ".", with: "_") }

    public subscript(key: String) -> String? {
        get { values[key] ?? (environment.isEmpty ? nil : environment[Self.normalize(key)]) }
        set { values[key] = newValue }
    }
}
