import Core
import Foundation

/// A named, append-only schema change of one module (`devices.001.create-devices`). Each runs in its
/// own transaction and is recorded in `schema_migrations`; never edit one that has shipped.
public struct Migration: Sendable {
    public let name: String
    public let apply: @Sendable (Database) throws -> Void

    /// A migration of plain SQL statements.
    public init(_ name: String, _ sql: String) {
        self.name = name
        self.apply = { db in try db.executeScript(sql) }
    }

    /// A migration in code (data backfills).
    public init(_ name: String, apply: @escaping @Sendable (Database) throws -> Void) {
        self.name = name
        self.apply = apply
    }
}

extension DatabasePool {
    static let migrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            name TEXT PRIMARY KEY,
            applied_at TEXT NOT NULL
        )
        """

    /// Applies, in order, the migrations not yet recorded; returns the names applied. Safe to run from
    /// several processes at once (each migration checks and records itself inside its write transaction).
    @discardableResult
    public func migrate(_ migrations: [Migration]) throws -> [String] {
        var seen = Set<String>()
        for migration in migrations where !seen.insert(migration.name).inserted {
            throw PersistenceUsageError("migration \(migration.name) is registered twice")
        }
        try write { db in try db.executeScript(Self.migrationsTable) }
        var applied: [String] = []
        for migration in migrations {
            let didApply = try write { db -> Bool in
                if try db.queryOne("SELECT 1 FROM schema_migrations WHERE name = ?", [migration.name]) != nil { return false }
                try migration.apply(db)
                try db.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                               [migration.name, Timestamp.format(Date())])
                return true
            }
            if didApply { applied.append(migration.name) }
        }
        return applied
    }

    /// Names of the applied migrations, in the order they were applied.
    public func appliedMigrations() throws -> [String] {
        try read { db in
            guard try db.queryOne("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") != nil else {
                return []
            }
            return try db.query("SELECT name FROM schema_migrations ORDER BY rowid").map { $0.string(0) }
        }
    }

    /// Names of `migrations` not yet applied.
    public func pendingMigrations(_ migrations: [Migration]) throws -> [String] {
        let applied = Set(try appliedMigrations())
        return migrations.map(\.name).filter { !applied.contains($0) }
    }
}
