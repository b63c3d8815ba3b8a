import Core
import Foundation
import Persistence

/// `admin-cli db copy` (DESIGN §6): every module's tables from SOURCE into TARGET, in one read transaction on SOURCE
/// (one snapshot) and one write transaction on TARGET (all or nothing). TARGET is migrated first and must hold no data.
/// Each module copies its own tables (`PlatformModule.copyTables`); this type knows none of their names.
///
/// ```swift
/// let report = try DatabaseCopy(platform: platform).run(from: sourcePool, to: targetPool)
/// ```
public struct DatabaseCopy: Sendable {
    /// Rows copied into one table.
    public struct TableCount: Sendable, Equatable {
        public let module: String
        public let table: String
        public let rows: Int
    }

    /// What a copy did.
    public struct Report: Sendable {
        public let tables: [TableCount]
        /// Tables of SOURCE that no module claims (left behind; each is a bug of its module's `copiedTables`).
        public let unclaimed: [String]
        public let seconds: Double

        public var rows: Int { tables.reduce(0) { $0 + $1.rows } }
    }

    /// A copy refused or failed for a reason the operator can act on (exit 1).
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Tables of the kernel that hold no installation data and are not copied: the migrations' own record (TARGET has
    /// its own from migrating), the scheduler's job leases and run counts (state of the processes on SOURCE; on TARGET
    /// every job is due at its first pass, and each job does only the work that is due) and the failure counters of the
    /// rate limits (windows of minutes).
    public static let kernelTables: Set<String> = Set(["schema_migrations"] + JobScheduler.tables + RateLimitStore.tables)

    let modules: [any PlatformModule]
    let migrations: [Migration]

    public init(modules: [any PlatformModule], migrations: [Migration]) {
        self.modules = modules
        self.migrations = migrations
    }

    public init(platform: Platform) {
        self.init(modules: platform.modules, migrations: platform.migrations)
    }

    /// Copies SOURCE into TARGET. Throws `Refusal` (TARGET unchanged) when SOURCE is not migrated to this version or
    /// TARGET holds data; any other failure rolls the copy back (TARGET stays migrated and empty).
    public func run(from source: DatabasePool, to target: DatabasePool) throws -> Report {
        let started = DispatchTime.now().uptimeNanoseconds
        try checkSource(source)
        // Checked before migrating, so a refused TARGET is left as it was; checked again inside the copy's transaction.
        if let data = try target.read({ db in try dataHeld(db, existingOnly: true) }) { throw data }
        try target.migrate(migrations)
        var unclaimed: [String] = []
        let tables = try source.read { from in
            try target.write { to -> [TableCount] in
                if let data = try dataHeld(to, existingOnly: false) { throw data }
                var counts: [TableCount] = []
                for module in modules {
                    for (table, rows) in try module.copyTables(from: from, to: to) {
                        counts.append(TableCount(module: module.name, table: table, rows: rows))
                    }
                }
                let claimed = Set(modules.flatMap(\.copiedTables)).union(Self.kernelTables)
                unclaimed = try from.tableNames().filter { !claimed.contains($0) }
                return counts
            }
        }
        return Report(tables: tables, unclaimed: unclaimed, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// Throws `Refusal` unless SOURCE's applied migrations are exactly this program's (a copy never migrates SOURCE).
    public func checkSource(_ source: DatabasePool) throws {
        let known = migrations.map(\.name)
        let applied = try source.appliedMigrations()
        let pending = known.filter { !applied.contains($0) }
        let unknown = applied.filter { !known.contains($0) }
        if !unknown.isEmpty {
            throw Refusal("SOURCE has migrations this admin-cli does not know (\(unknown.joined(separator: ", "))): "
                          + "copy it with the admin-cli that migrated it")
        }
        if !pending.isEmpty {
            throw Refusal("SOURCE is not migrated to this version (pending: \(pending.joined(separator: ", "))): "
                          + "run admin-cli --db SOURCE migrate first")
        }
    }

    /// A refusal naming the module tables of `db` that hold rows, or nil when all are empty. With `existingOnly`, tables
    /// not created yet (an unmigrated TARGET) count as empty.
    func dataHeld(_ db: Database, existingOnly: Bool) throws -> Refusal? {
        var held: [String] = []
        for table in modules.flatMap(\.copiedTables) {
            if existingOnly, try !db.tableExists(table) { continue }
            let rows = try db.rowCount(of: table)
            if rows > 0 { held.append("table \(table) has \(rows) row\(rows == 1 ? "" : "s")") }
        }
        guard !held.isEmpty else { return nil }
        return Refusal("TARGET holds data (\(held.joined(separator: ", "))); db copy fills only an empty database, and left it unchanged")
    }
}

extension Platform {
    /// `admin-cli db copy --from SOURCE --to TARGET [--json]`. SOURCE and TARGET are SQLite paths or PostgreSQL URLs,
    /// opened with this program's database settings; the global `--db` is not used.
    var databaseCopyCommand: any CLICommand {
        SimpleCommand(["db", "copy"], summary: "Copy every module's tables from SOURCE into an empty TARGET (SQLite paths or PostgreSQL URLs)",
                      usage: "--from SOURCE --to TARGET [--json]", options: ["from", "to"], flags: ["json"]) { [self] arguments, output in
            try arguments.expectPositionals(0)
            let from = try arguments.require("from")
            let to = try arguments.require("to")
            guard from != to else { throw UsageError("--from and --to name the same database") }
            if !DatabasePool.isPostgresLocation(from), !FileManager.default.fileExists(atPath: from) {
                throw DatabaseCopy.Refusal("SOURCE \(from): no such file")
            }
            let configuration = PlatformContext.databaseConfiguration(context.config)
            let poolSize = min(4, max(1, context.config.int(KernelKeys.dbPoolSize)))
            func open(_ location: String, _ option: String) throws -> DatabasePool {
                do {
                    return try DatabasePool.open(location: location, configuration: configuration, poolSize: poolSize)
                } catch let error as DatabaseURLError {
                    throw UsageError("--\(option): \(error.description)")
                }
            }
            let copy = DatabaseCopy(platform: self)
            let source = try open(from, "from")
            defer { source.close() }
            try copy.checkSource(source)   // before TARGET is opened (a SQLite TARGET file is created on open)
            let target = try open(to, "to")
            defer { target.close() }
            let report = try copy.run(from: source, to: target)
            for table in report.unclaimed { output.err("warning: table \(table) of SOURCE belongs to no module and was not copied") }
            if arguments.flag("json") {
                var tables = JSONObject()
                for count in report.tables { tables.append(count.table, .int(count.rows)) }
                output.json(.object(["tables": .object(tables), "rows": .int(report.rows), "seconds": .number(report.seconds),
                                     "unclaimed_tables": .array(report.unclaimed.map(JSON.string))]))
            } else {
                output.rows(report.tables.map { [$0.table, String($0.rows)] })
                output.line("copied \(report.rows) rows of \(report.tables.count) tables from \(source.path) to \(target.path) in "
                            + String(format: "%.1f s", report.seconds))
            }
            return 0
        }
    }
}
