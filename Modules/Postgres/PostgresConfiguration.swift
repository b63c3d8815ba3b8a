import Foundation

/// How `sslmode` asks for TLS: as libpq's modes of the same names.
public enum PostgresSSLMode: String, Sendable, CaseIterable {
    /// Plain TCP.
    case disable
    /// TLS when the server offers it, else plain (the default, as libpq's).
    case prefer
    /// TLS, no certificate check (with `sslrootcert`, as `verify-ca`, like libpq).
    case require
    /// TLS; the certificate must chain to `sslrootcert` (or the system's CAs).
    case verifyCA = "verify-ca"
    /// `verify-ca` plus the certificate must name the host connected to.
    case verifyFull = "verify-full"
}

/// Where and how to connect: parsed from a `postgres://` URL, or built directly.
public struct PostgresConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: PostgresSSLMode
    /// PEM file of the CA(s) that sign the server's certificate.
    public var sslRootCert: String?
    /// Seconds for DNS, connect, TLS and authentication together.
    public var connectTimeout: Double
    public var applicationName: String?

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, sslMode: PostgresSSLMode = .prefer,
                sslRootCert: String? = nil, connectTimeout: Double = 10, applicationName: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
    }

    /// The URL without the password, for logs and messages.
    public var redactedURL: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(hostPart):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }
}
