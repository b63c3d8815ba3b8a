import Testing
@testable import Postgres

@Suite struct PostgresURLTests {
    @Test func aFullURLParses() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://app%40x:p%2Fss%3Aw@db.example.com:6543/iot%20db?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=2.5&application_name=api%20server")
        #expect(configuration.user == "app@x")
        #expect(configuration.password == "p/ss:w")
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "iot db")
        #expect(configuration.sslMode == .verifyFull)
        #expect(configuration.sslRootCert == "/etc/ca.pem")
        #expect(configuration.connectTimeout == 2.5)
        #expect(configuration.applicationName == "api server")
        #expect(!configuration.redactedURL.contains("p/ss"))
    }

    @Test func defaultsAndThePasswordFromTheEnvironment() throws {
        let configuration = try PostgresConfiguration(url: "postgres://iot@[::1]/iot", environment: ["IOT_DB_PASSWORD": "from-env"])
        #expect(configuration.host == "::1")
        #expect(configuration.port == 5432)
        #expect(configuration.password == "from-env")
        #expect(configuration.sslMode == .prefer)
        #expect(configuration.connectTimeout == 10)
        let explicit = try PostgresConfiguration(url: "postgres://iot:url@h/iot", environment: ["IOT_DB_PASSWORD": "from-env"])
        #expect(explicit.password == "url")
        #expect(try PostgresConfiguration(url: "postgres://iot@h:5/d").password == nil)
    }

    @Test func errorsNameTheBadPart() {
        let cases: [(String, String)] = [
            ("mysql://u@h/d", "scheme"),
            ("postgres://h/d", "user"),
            ("postgres://@h/d", "user"),
            ("postgres://u@/d", "host"),
            ("postgres://u@h:0/d", "port"),
            ("postgres://u@h:99999/d", "port"),
            ("postgres://u@h:abc/d", "port"),
            ("postgres://u@h", "database"),
            ("postgres://u@h/", "database"),
            ("postgres://u@h/d?sslmode=sometimes", "sslmode"),
            ("postgres://u@h/d?connect_timeout=-1", "connect_timeout"),
            ("postgres://u@h/d?connect_timeout=soon", "connect_timeout"),
            ("postgres://u@h/d?colour=blue", "colour"),
            ("postgres://u%zz@h/d", "user"),
            ("postgres://u:%ff@h/d", "password"),
            ("postgres://u@[::1/d", "host"),
        ]
        for (url, part) in cases {
            #expect(throws: PostgresURLError.self, "\(url)") { try PostgresConfiguration(url: url) }
            do {
                _ = try PostgresConfiguration(url: url)
            } catch {
                #expect(error.part == part, "\(url): \(error)")
            }
        }
    }

    @Test func sqlStatesMapToTypedKinds() {
        #expect(PostgresError.kind(forSQLState: "23505") == .uniqueViolation)
        #expect(PostgresError.kind(forSQLState: "40001") == .serializationFailure)
        #expect(PostgresError.kind(forSQLState: "40P01") == .deadlock)
        #expect(PostgresError.kind(forSQLState: "57P01") == .connectionLost)
        #expect(PostgresError.kind(forSQLState: "57P03") == .connectionLost)
        #expect(PostgresError.kind(forSQLState: "08006") == .connectionLost)
        #expect(PostgresError.kind(forSQLState: "28P01") == .authenticationFailed)
        #expect(PostgresError.kind(forSQLState: "22012") == .server)
        #expect(PostgresError(.serializationFailure, "x").isRetryable)
        #expect(PostgresError(.deadlock, "x").isRetryable)
        #expect(!PostgresError(.uniqueViolation, "x").isRetryable)
    }
}
