import Core
import HTTP
import Persistence

/// The plugin shape every domain module implements: its tables (migrations), its routes, its bus
/// subscriptions, its scheduler jobs and its admin-cli commands. An app is a list of modules.
///
/// ```swift
/// let platform = Platform(context: context, modules: [AuthModule(context: context), ProjectsModule(...)])
/// ```
public protocol PlatformModule: AnyObject, Sendable {
    /// Short name, used as migration prefix and OpenAPI tag (`auth`, `projects`).
    var name: String { get }
    /// Append-only, named migrations of the module's own tables.
    var migrations: [Migration] { get }
    /// Adds the module's routes under the API group (`/api/v2`). Implemented in the module's `Routes/`.
    func registerRoutes(on api: RouteGroup)
    /// Adds routes outside `/api/v2` under the server root (compatibility dialects such as `/compat/evrythng/`).
    func registerRootRoutes(on root: RouteGroup)
    /// Subscribes the module's reactions to other modules' events.
    func subscribe(to bus: PlatformBus)
    /// Background jobs the scheduler runs.
    var jobs: [Job] { get }
    /// `admin-cli` subcommands.
    var commands: [any CLICommand] { get }
    /// Flushes buffered work before the process exits (pending ingestion).
    func shutdown()
    /// The configuration keys the module reads, checked at startup.
    var configKeys: [ConfigKey] { get }
    /// Other protocols the module serves on the API server's event loops, each on a port of its own (MQTT), given the
    /// HTTP server's configuration. Implemented in the module's `Routes/`.
    func streamListeners(server: HTTPServerConfiguration) throws -> [StreamListener]
    /// Facts about the module's own data that must always hold, checked by `admin-cli check` in one read
    /// transaction: each violation is one line naming the ids involved (empty when sound).
    func invariantViolations(_ db: Database) throws -> [String]
    /// The module's tables in the order `admin-cli db copy` fills them: a table before the tables that refer to it.
    /// Every table the module's migrations create belongs here (its data, its summaries, its leases and secrets alike).
    var copiedTables: [String] { get }
    /// Copies the module's rows, ids included, from `source` (one read transaction over the whole copy) into `target`
    /// (one write transaction on a migrated, empty database); returns the rows copied per table. The default copies
    /// `copiedTables` one after the other (`Database.copyRows`).
    func copyTables(from source: Database, to target: Database) throws -> [(table: String, rows: Int)]
}

extension PlatformModule {
    public var migrations: [Migration] { [] }
    public func registerRoutes(on api: RouteGroup) {}
    public func registerRootRoutes(on root: RouteGroup) {}
    public func subscribe(to bus: PlatformBus) {}
    public var jobs: [Job] { [] }
    public var commands: [any CLICommand] { [] }
    public func shutdown() {}
    public var configKeys: [ConfigKey] { [] }
    public func streamListeners(server: HTTPServerConfiguration) throws -> [StreamListener] { [] }
    public func invariantViolations(_ db: Database) throws -> [String] { [] }
    public var copiedTables: [String] { [] }
    public func copyTables(from source: Database, to target: Database) throws -> [(table: String, rows: Int)] {
        try copiedTables.map { table in (table, try source.copyRows(of: table, to: target)) }
    }
}

/// A periodic background job run by the scheduler.
public struct Job: Sendable {
    public let name: String
    /// Seconds between runs.
    public let interval: Double
    /// Seconds a run's claim lasts unless renewed (nil: `scheduler.lease`, 30 s). The scheduler renews it every third
    /// of it while the job runs, so a long run keeps its claim and a killed scheduler's job is taken over after about
    /// one lease. A job whose own work is leased in its tables (exports) uses that lease.
    public let lease: Double?
    public let run: @Sendable () throws -> Void

    public init(name: String, interval: Double, lease: Double? = nil, run: @escaping @Sendable () throws -> Void) {
        self.name = name
        self.interval = interval
        self.lease = lease
        self.run = run
    }
}

/// Everything a module needs from the process: the database, the bus, the clock, configuration, logging, metrics.
public final class PlatformContext: Sendable {
    public let db: DatabasePool
    public let bus: PlatformBus
    public let clock: any WallClock
    public let config: Config
    public let logger: Logger
    public let metrics: MetricsRegistry

    public init(db: DatabasePool, bus: PlatformBus, clock: any WallClock, config: Config, logger: Logger, metrics: MetricsRegistry) {
        self.db = db
        self.bus = bus
        self.clock = clock
        self.config = config
        self.logger = logger
        self.metrics = metrics
    }

    /// A failure limiter counted in the database, shared by every process over it (`DatabaseRateLimiter`).
    public func attemptLimiter(_ name: String, maxFailures: Int, window: Double) -> any AttemptLimiter {
        DatabaseRateLimiter(db: db, name: name, maxFailures: maxFailures, window: window, clock: clock, logger: logger)
    }

    /// The database tuning of `config` (`db.readers`, `db.synchronous`, `db.busy_timeout_ms`, `db.checkpoint_frames`).
    public static func databaseConfiguration(_ config: Config) -> DatabaseConfiguration {
        var dbConfig = DatabaseConfiguration()
        dbConfig.readers = max(1, config.int(KernelKeys.dbReaders))
        dbConfig.synchronous = config.string(KernelKeys.dbSynchronous).uppercased()
        dbConfig.busyTimeoutMilliseconds = config.int(KernelKeys.dbBusyTimeout)
        dbConfig.backgroundCheckpointFrames = Int32(config.int(KernelKeys.dbCheckpointFrames))
        return dbConfig
    }

    /// Opens the database named by `db.url` (PostgreSQL) or else `db.path` (SQLite, default `./data/iot.db`; a URL there
    /// works too) with the configured tuning. A malformed URL is a `UsageError` naming the part.
    public static func open(config: Config, clock: any WallClock = SystemClock(), logger: Logger? = nil) throws -> PlatformContext {
        let logger = logger ?? Logger(level: Logger.Level(name: config.string(KernelKeys.logLevel)) ?? .info)
        let dbConfig = databaseConfiguration(config)
        let url = config.string(KernelKeys.dbURL)
        let location = url.isEmpty ? config.string(KernelKeys.dbPath) : url
        let db: DatabasePool
        do {
            db = try DatabasePool.open(location: location, configuration: dbConfig, poolSize: config.int(KernelKeys.dbPoolSize))
        } catch let error as DatabaseURLError {
            throw UsageError(error.description)
        }
        let bus = PlatformBus { error, event in
            logger.error("event subscriber failed", ["event": .string(event), "error": .string(String(describing: error))])
        }
        let metrics = MetricsRegistry()
        metrics.registerGauge("db_readers_open", help: "Read-only SQLite connections opened by the pool.") { Double(db.readerStats.open) }
        metrics.registerGauge("db_readers_busy", help: "Read-only SQLite connections in use.") {
            let stats = db.readerStats
            return Double(stats.open - stats.idle)
        }
        metrics.registerGauge("db_wal_checkpoints_background", help: "WAL checkpoints run by the background checkpointer.") {
            Double(db.checkpointStats.background)
        }
        metrics.registerGauge("db_wal_checkpoints_writer", help: "WAL checkpoints the writer ran itself (the log outgrew the checkpointer).") {
            Double(db.checkpointStats.writer)
        }
        return PlatformContext(db: db, bus: bus, clock: clock, config: config, logger: logger, metrics: metrics)
    }
}
