import Core
import Foundation
import Persistence

/// The kernel's configuration keys, declared once (name, shape, default, what it does).
public enum KernelKeys {
    public static let dbPath = ConfigKey("db.path", .text, default: "./data/iot.db", "SQLite file (its folder is created); `IOT_DB` too")
    public static let dbURL = ConfigKey("db.url", .text, default: "",
        "PostgreSQL instead of SQLite: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]` (password also from `IOT_DB_PASSWORD`); "
            + "`--db URL` sets it")
    public static let dbPoolSize = ConfigKey("db.pool_size", .integer(1...1024), default: "16", "PostgreSQL connections per process at most")
    public static let dbSynchronous = ConfigKey("db.synchronous", .choice(["NORMAL", "FULL"]), default: "NORMAL", "`NORMAL` or `FULL` (WAL mode always)")
    public static let dbReaders = ConfigKey("db.readers", .integer(1...256), default: "8", "read-only connections in the pool (one serialized writer besides)")
    public static let dbBusyTimeout = ConfigKey("db.busy_timeout_ms", .integer(0...600_000), default: "5000",
                                                "how long a connection waits for another process's lock")
    public static let dbCheckpointFrames = ConfigKey("db.checkpoint_frames", .integer(0...1_000_000), default: "4000",
        "WAL frames (4 KB each) that wake the background checkpointer; the writer finishes a checkpoint itself at 16 ×, so a sustained load "
            + "can grow the log to ≈ 256 MB (lower this to bound it); `0` leaves checkpoints to SQLite inside commits")
    public static let serverHost = ConfigKey("server.host", .text, default: "127.0.0.1", "listen address")
    public static let serverPort = ConfigKey("server.port", .integer(0...65_535), default: "8080", "listen port; 0 = any free port")
    public static let serverWorkers = ConfigKey("server.workers", .integer(1...1024), default: "32",
                                                "most threads for handlers that may block (started on demand, then kept)")
    public static let serverEventLoops = ConfigKey("server.event_loops", .integer(0...256), default: "0",
                                                   "epoll threads that own connections; 0 = one per core")
    public static let serverMaxBodyBytes = ConfigKey("server.max_body_bytes", .integer(1...1_073_741_824), default: "10485760", "larger bodies → 413")
    public static let serverMaxHeaderBytes = ConfigKey("server.max_header_bytes", .integer(512...1_048_576), default: "16384",
                                                       "larger header blocks → 431")
    public static let serverHeaderTimeout = ConfigKey("server.header_timeout", .duration, default: "10s",
        "a request head must arrive within this, counted from accept for a new connection (slowloris, silent connections)")
    public static let serverBodyTimeout = ConfigKey("server.body_timeout", .duration, default: "60s",
                                                    "a request body must arrive within this after its head (slow uploads)")
    public static let serverIdleTimeout = ConfigKey("server.idle_timeout", .duration, default: "60s", "idle keep-alive connections are closed after this")
    public static let serverResponseTimeout = ConfigKey("server.response_timeout", .duration, default: "300s",
        "a request whose handler has not answered by then gets 503 `UNAVAILABLE` and its connection closes (the late answer is dropped; "
            + "the handler's work may still complete); `0s` = no limit")
    public static let serverMaxConnections = ConfigKey("server.max_connections", .integer(1...1_000_000), default: "10000",
                                                       "connections beyond this are refused")
    public static let serverMaxConnectionsPerAddress = ConfigKey("server.max_connections_per_address", .integer(1...1_000_000), default: "1024",
                                                                 "connections from one client IP beyond this are closed at once")
    public static let serverShutdownGrace = ConfigKey("server.shutdown_grace", .duration, default: "10s", "how long SIGTERM waits for in-flight requests")
    public static let serverReleaseStartupMemory = ConfigKey("server.release_startup_memory", .boolean, default: "true",
        "once serving (api-server; `scheduler run` once it runs), give back memory only startup used (`malloc_trim`, and unmapping unmodified "
            + "code pages of the binary and libraries; they come back from the page cache when used): idle RSS ≈ 15 MB instead of ≈ 31 MB")
    public static let serverTLSCertificate = ConfigKey("server.tls.certificate", .text, default: "",
                                                       "PEM certificate chain: serve HTTPS with `server.tls.private_key` (flag `--tls-certificate`)")
    public static let serverTLSPrivateKey = ConfigKey("server.tls.private_key", .text, default: "", "its PEM key (flag `--tls-private-key`)")
    public static let serverDemo = ConfigKey("server.demo", .boolean, default: "false", "seed the demo organization once (flag `--demo`)")
    public static let schedulerLease = ConfigKey("scheduler.lease", .duration, default: "30s",
        "how long a scheduler's claim on a job or a notification lasts unless renewed (every third of it while the work runs): "
            + "a killed scheduler's work is taken over by another after about this long")
    public static let logLevel = ConfigKey("log.level", .choice(["debug", "info", "warning", "error"]), default: "info",
                                           "`debug`, `info`, `warning`, `error` (JSON lines on stderr)")
    public static let logAccess = ConfigKey("log.access", .boolean, default: "true", "one JSON access-log line per request")
    public static let debugRoutes = ConfigKey("debug.routes", .boolean, default: "false",
                                              "enables `GET /api/v2/debug/sleep/?seconds=` (diagnostics and tests)")

    /// The folder that files derived from the database's place live in (`notifications.log`, `exports/`): the SQLite
    /// file's folder, or `./data` with PostgreSQL (DESIGN §3.4) unless `db.path` names a file there too.
    public static func dataFolder(_ config: Config) -> String {
        let path = config.string(dbPath)
        if DatabasePool.isPostgresLocation(path) { return "./data" }
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    public static let all: [ConfigKey] = [
        dbPath, dbURL, dbPoolSize, dbSynchronous, dbReaders, dbBusyTimeout, dbCheckpointFrames, serverHost, serverPort, serverWorkers, serverEventLoops,
        serverMaxBodyBytes, serverMaxHeaderBytes, serverHeaderTimeout, serverBodyTimeout, serverIdleTimeout, serverResponseTimeout,
        serverMaxConnections, serverMaxConnectionsPerAddress, serverShutdownGrace, serverReleaseStartupMemory, serverTLSCertificate,
        serverTLSPrivateKey, serverDemo, schedulerLease, logLevel, logAccess, debugRoutes,
    ]
}
