/// A malformed connection URL; `part` names the piece that is wrong ("port", "sslmode", …).
public struct PostgresURLError: Error, Equatable, Sendable, CustomStringConvertible {
    public let part: String
    public let message: String

    public init(part: String, _ message: String) {
        self.part = part
        self.message = message
    }

    public var description: String { "invalid database URL (\(part)): \(message)" }
}

extension PostgresConfiguration {
    /// Whether `text` looks like a PostgreSQL URL rather than a file path.
    public static func isURL(_ text: String) -> Bool { text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") }

    /// Parses `postgres[ql]://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=PEM&connect_timeout=S&application_name=N]`.
    /// Parts are percent-decoded; without a password in the URL, `IOT_DB_PASSWORD` of `environment` is used.
    public init(url text: String, environment: [String: String] = [:]) throws(PostgresURLError) {
        let rest: Substring
        if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else {
            throw PostgresURLError(part: "scheme", "must start with postgres:// or postgresql://")
        }
        var main = rest
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            main = rest[..<mark]
            query = rest[rest.index(after: mark)...]
        }
        if main.contains("#") { throw PostgresURLError(part: "database", "a URL fragment (#) is not allowed") }
        guard let at = main.lastIndex(of: "@") else { throw PostgresURLError(part: "user", "missing USER@ before the host") }
        let userInfo = main[..<at]
        let hostAndPath = main[main.index(after: at)...]

        var password: String?
        let user: String
        if let colon = userInfo.firstIndex(of: ":") {
            user = try Self.decode(userInfo[..<colon], part: "user")
            password = try Self.decode(userInfo[userInfo.index(after: colon)...], part: "password")
        } else {
            user = try Self.decode(userInfo, part: "user")
        }
        guard !user.isEmpty else { throw PostgresURLError(part: "user", "the user name is empty") }

        let hostPort: Substring
        var databaseText: Substring = ""
        if let slash = hostAndPath.firstIndex(of: "/") {
            hostPort = hostAndPath[..<slash]
            databaseText = hostAndPath[hostAndPath.index(after: slash)...]
        } else {
            hostPort = hostAndPath
        }
        var host: String
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw PostgresURLError(part: "host", "an IPv6 address misses its ]") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw PostgresURLError(part: "host", "unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = try Self.decode(hostPort[..<colon], part: "host")
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = try Self.decode(hostPort, part: "host")
        }
        guard !host.isEmpty else { throw PostgresURLError(part: "host", "the host is empty") }
        guard !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") }) else {
            throw PostgresURLError(part: "host", "\"\(host)\" is not a host name or address")
        }
        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw PostgresURLError(part: "port", "\"\(portText)\" is not a port number (1–65535)")
            }
            port = value
        }
        let database = try Self.decode(databaseText, part: "database")
        guard !database.isEmpty else { throw PostgresURLError(part: "database", "the database name is missing (…/DATABASE)") }
        guard !database.contains("/") else { throw PostgresURLError(part: "database", "\"\(database)\" contains a /") }

        self.init(host: host, port: port, user: user, password: password, database: database)
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: String
            let value: String
            if let equals = pair.firstIndex(of: "=") {
                name = try Self.decode(pair[..<equals], part: "query")
                value = try Self.decode(pair[pair.index(after: equals)...], part: String(pair[..<equals]))
            } else {
                name = try Self.decode(pair, part: "query")
                value = ""
            }
            switch name {
            case "sslmode":
                guard let mode = PostgresSSLMode(rawValue: value) else {
                    throw PostgresURLError(part: "sslmode", "unknown sslmode \"\(value)\" (disable, prefer, require, verify-ca or verify-full)")
                }
                sslMode = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw PostgresURLError(part: "sslrootcert", "the file name is empty") }
                sslRootCert = value
            case "connect_timeout":
                guard let seconds = Double(value), seconds.isFinite, seconds > 0 else {
                    throw PostgresURLError(part: "connect_timeout", "\"\(value)\" is not a positive number of seconds")
                }
                connectTimeout = seconds
            case "application_name":
                applicationName = value
            default:
                throw PostgresURLError(part: name, "unknown parameter \"\(name)\" (sslmode, sslrootcert, connect_timeout, application_name)")
            }
        }
        if self.password == nil, let fallback = environment["IOT_DB_PASSWORD"] { self.password = fallback }
    }

    /// Percent-decodes one URL part; a bad escape or invalid UTF-8 names `part`.
    private static func decode(_ text: Substring, part: String) throws(PostgresURLError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard iterator.count >= 2, let value = parseHex(iterator.prefix(2)) else {
                    throw PostgresURLError(part: part, "bad percent escape")
                }
                bytes.append(value[0])
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw PostgresURLError(part: part, "not valid UTF-8 after decoding") }
        return decoded
    }
}
