import Foundation
import Glibc
import Postgres
import Synchronization

/// A PostgreSQL cluster for the integration tests, made once per test run (`get()`), or one of a test's own that it may
/// stop and start (`makePrivate()`): `initdb` into a temporary folder (as user
/// `postgres` when the tests run as root; the server refuses root), SCRAM passwords, a free loopback port, TLS with a
/// certificate from a test-made CA. A watchdog process stops it and removes the folder when the test process ends,
/// however it ends. Missing PostgreSQL programs are an error (the tests fail, never skip).
public final class PostgresTestCluster: Sendable {
    public static let superuserPassword = "super-secret"
    public static let appUser = "iot"
    public static let appPassword = "iot-secret"
    public static let md5User = "md5user"
    public static let md5Password = "md5-secret"
    public static let trustUser = "trustuser"

    public let binDirectory: String
    public let base: String
    public let dataDirectory: String
    public let port: Int
    /// The CA that signed the server's certificate (for `localhost` only), and an unrelated one.
    public let caFile: String
    public let otherCAFile: String
    private let asPostgres: Bool

    private static let shared: Result<PostgresTestCluster, ClusterError> = {
        do {
            return .success(try PostgresTestCluster())
        } catch let error as ClusterError {
            return .failure(error)
        } catch {
            return .failure(ClusterError("\(error)"))
        }
    }()

    /// The run's cluster, started on first use.
    public static func get() throws -> PostgresTestCluster { try shared.get() }

    /// Clusters made in this process (the run's and private ones), to find a database URL's cluster by its port.
    private static let made = Mutex<[PostgresTestCluster]>([])

    /// A cluster of the caller's own, for tests that stop and start it (`stop()`, `start()`); removed, as the run's,
    /// when the test process ends.
    public static func makePrivate() throws -> PostgresTestCluster { try PostgresTestCluster() }

    /// The cluster (made in this process) that listens on `port`.
    static func cluster(port: Int) -> PostgresTestCluster? { made.withLock { $0.first { $0.port == port } } }

    public struct ClusterError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = "test PostgreSQL cluster: " + description }
    }

    private init() throws {
        binDirectory = try Self.findBinDirectory()
        asPostgres = getuid() == 0
        var template = Array("/tmp/iot-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ClusterError("mkdtemp failed") }
        base = String(cString: made)
        dataDirectory = base + "/data"
        caFile = base + "/ca.crt"
        otherCAFile = base + "/other-ca.crt"
        port = try Self.freePort()
        chmod(base, 0o755)
        startWatchdog()
        try makeCertificates()
        try Self.superuserPassword.write(toFile: base + "/pwfile", atomically: true, encoding: .utf8)
        if asPostgres { try run("/bin/chown", ["-R", "postgres:postgres", base]) }
        try runServerProgram("initdb", ["-D", dataDirectory, "-A", "scram-sha-256", "-U", "postgres", "--pwfile=\(base)/pwfile", "-E", "UTF8",
                                        "--no-sync", "--locale=C"])
        let hba = try String(contentsOfFile: dataDirectory + "/pg_hba.conf", encoding: .utf8)
        try ("host all \(Self.md5User) 127.0.0.1/32 md5\nhost all \(Self.trustUser) 127.0.0.1/32 trust\n" + hba)
            .write(toFile: dataDirectory + "/pg_hba.conf", atomically: false, encoding: .utf8)
        let settings = """

            port = \(port)
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(base)'
            ssl = on
            ssl_cert_file = '\(base)/server.crt'
            ssl_key_file = '\(base)/server.key'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 300

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/postgresql.conf"))
        handle.seekToEndOfFile()
        handle.write(Data(settings.utf8))
        handle.closeFile()
        try start()
        try createRoles()
        Self.made.withLock { $0.append(self) }
    }

    private static func findBinDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw ClusterError("no PostgreSQL server programs under \(root)/*/bin (install them: Tools/install-deps postgresql)")
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ClusterError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Stops the server and removes the folder once this process has gone (normal exit, crash or kill).
    private func startWatchdog() {
        let stop = asPostgres ? "runuser -u postgres -- \(binDirectory)/pg_ctl" : "\(binDirectory)/pg_ctl"
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop) -D \(dataDirectory) -m immediate stop; rm -rf \(base)"
        // Not waited for: it outlives this process on purpose.
        _ = try? Self.spawn(["/bin/sh", "-c", script], log: "/dev/null")
    }

    private func makeCertificates() throws {
        let openssl = "/usr/bin/openssl"
        try run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=iot test CA",
                          "-keyout", base + "/ca.key", "-out", caFile])
        try run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=other CA",
                          "-keyout", base + "/other-ca.key", "-out", otherCAFile])
        try run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                          "-keyout", base + "/server.key", "-out", base + "/server.csr"])
        try "subjectAltName=DNS:localhost\n".write(toFile: base + "/server.ext", atomically: true, encoding: .utf8)
        try run(openssl, ["x509", "-req", "-in", base + "/server.csr", "-CA", caFile, "-CAkey", base + "/ca.key", "-CAcreateserial",
                          "-days", "2", "-extfile", base + "/server.ext", "-out", base + "/server.crt"])
        chmod(base + "/server.key", 0o600)
    }

    private func createRoles() throws {
        let connection = try PostgresConnection.connect(configuration(user: "postgres", password: Self.superuserPassword, database: "postgres"))
        defer { connection.close() }
        try connection.simpleQuery("CREATE ROLE \(Self.appUser) LOGIN CREATEDB PASSWORD '\(Self.appPassword)'")
        try connection.simpleQuery("SET password_encryption = 'md5'; CREATE ROLE \(Self.md5User) LOGIN PASSWORD '\(Self.md5Password)'")
        try connection.simpleQuery("CREATE ROLE \(Self.trustUser) LOGIN")
    }

    /// A configuration for this cluster (defaults: the app user, no TLS).
    public func configuration(user: String = PostgresTestCluster.appUser, password: String? = PostgresTestCluster.appPassword,
                       database: String = "postgres", host: String = "127.0.0.1", sslMode: PostgresSSLMode = .disable,
                       sslRootCert: String? = nil) -> PostgresConfiguration {
        PostgresConfiguration(host: host, port: port, user: user, password: password, database: database, sslMode: sslMode,
                              sslRootCert: sslRootCert, connectTimeout: 10, applicationName: "iot-postgres-tests")
    }

    /// A new, empty database owned by the app user; every role may connect to it.
    public func createDatabase() throws -> String {
        let name = "test_" + UUID().uuidString.prefix(8).lowercased()
        let connection = try PostgresConnection.connect(configuration(user: "postgres", password: Self.superuserPassword))
        defer { connection.close() }
        try connection.simpleQuery("CREATE DATABASE \(name) OWNER \(Self.appUser)")
        return name
    }

    /// Restarts the server (fast shutdown: sessions are terminated) and waits until it accepts connections.
    public func restart() throws {
        try runServerProgram("pg_ctl", ["-D", dataDirectory, "-l", base + "/server.log", "-m", "fast", "-w", "-t", "60", "restart"])
    }

    /// Stops the server (fast shutdown: open sessions are terminated, as when an operator restarts it) and waits until
    /// it is down; its port then refuses connections.
    public func stop() throws {
        try runServerProgram("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    public func start() throws {
        try runServerProgram("pg_ctl", ["-D", dataDirectory, "-l", base + "/server.log", "-w", "-t", "60", "start"])
    }

    /// A PostgreSQL URL of database `name` in this cluster, as every program takes for `--db` (the app user, no TLS).
    public func url(database name: String) -> String {
        "postgres://\(Self.appUser):\(Self.appPassword)@127.0.0.1:\(port)/\(name)?sslmode=disable"
    }

    private func runServerProgram(_ name: String, _ arguments: [String]) throws {
        if asPostgres {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binDirectory)/\(name)"] + arguments)
        } else {
            try run("\(binDirectory)/\(name)", arguments)
        }
    }

    /// Runs a program to completion (at most two minutes); its output goes to a log file in the cluster folder.
    private func run(_ program: String, _ arguments: [String]) throws {
        let logPath = base + "/setup.log"
        let status = try Self.spawnAndWait([program] + arguments, log: logPath, timeout: 120)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw ClusterError("\(program) \(arguments.joined(separator: " ")) failed (exit \(status)): \(output.suffix(1500))")
        }
    }

    /// posix_spawn with stdout/stderr appended to `log` and every other descriptor closed in the child (the server
    /// that pg_ctl leaves running must not hold this process's pipes), then waitpid polled up to `timeout` seconds.
    /// (Foundation's Process did not report these children's exit here.)
    public static func spawnAndWait(_ argv: [String], log: String, timeout: Double) throws -> Int32 {
        let pid = try spawn(argv, log: log)
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0, errno != EINTR { throw ClusterError("waitpid failed for \(argv[0])") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw ClusterError("\(argv.joined(separator: " ")) did not finish within \(Int(timeout)) s")
            }
            usleep(20_000)
        }
        // WIFEXITED/WEXITSTATUS are macros: exited normally when the low 7 bits are 0.
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Starts `argv` through bash, which first closes every descriptor above 2, with stdout and stderr appended to `log`.
    private static func spawn(_ argv: [String], log: String) throws -> pid_t {
        let closeAll = "for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ \"$fd\" -gt 2 ]; then eval \"exec $fd>&-\" 2>/dev/null; fi; done; "
        let full = ["/bin/bash", "-c", closeAll + "exec \"$0\" \"$@\""] + argv
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        var cArguments: [UnsafeMutablePointer<CChar>?] = full.map { strdup($0) }
        cArguments.append(nil)
        defer { cArguments.forEach { free($0) } }
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, cArguments, environ)
        guard spawned == 0 else { throw ClusterError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }
}

/// Where a test's database lives: a SQLite file by default; with `IOT_TEST_DB=postgres` a fresh database in the
/// run's PostgreSQL cluster (one per call), as a URL every program accepts for `--db`.
public enum TestDatabase {
    /// Whether this run's suites use PostgreSQL (`IOT_TEST_DB=postgres`).
    public static var isPostgres: Bool { ProcessInfo.processInfo.environment["IOT_TEST_DB"] == "postgres" }

    /// `sqlitePath`, or a new PostgreSQL database's URL when the run uses PostgreSQL.
    public static func location(sqlitePath: String) throws -> String {
        guard isPostgres else { return sqlitePath }
        return try postgresLocation()
    }

    /// A new PostgreSQL database's URL in the run's cluster, whatever `IOT_TEST_DB` says (tests of what only
    /// PostgreSQL can show: claims racing under READ COMMITTED, processes sharing one server).
    public static func postgresLocation() throws -> String {
        let cluster = try PostgresTestCluster.get()
        return cluster.url(database: try cluster.createDatabase())
    }

    static func isPostgresURL(_ location: String) -> Bool { location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") }

    /// The test cluster a URL points at (by its port): a private one, else the run's.
    static func clusterOf(_ location: String) -> PostgresTestCluster? {
        let afterAt = location.split(separator: "@").last.map(String.init) ?? ""
        let hostPort = afterAt.split(separator: "/").first.map(String.init) ?? ""
        if let port = hostPort.split(separator: ":").last.flatMap({ Int($0) }), let cluster = PostgresTestCluster.cluster(port: port) { return cluster }
        return try? PostgresTestCluster.get()
    }

    /// The folder of a test database's files: the SQLite file's folder, or for a PostgreSQL database a folder of its
    /// own inside the cluster's (removed with the cluster).
    public static func dataFolder(for location: String) -> String {
        guard isPostgresURL(location), let cluster = clusterOf(location) else { return (location as NSString).deletingLastPathComponent }
        let name = location.split(separator: "/").last.map { String($0.split(separator: "?").first ?? $0) } ?? "db"
        let folder = cluster.base + "/files-" + name
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}
