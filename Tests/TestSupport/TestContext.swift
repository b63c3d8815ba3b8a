import Core
import Foundation
import Persistence
import Platform

/// An in-process platform context over a temp WAL database, for module tests.
public struct TestContext: Sendable {
    public let directory: TemporaryDirectory
    public let context: PlatformContext
    public let clock: ManualClock
    /// The database: the SQLite file, or the PostgreSQL URL with `IOT_TEST_DB=postgres` (for a second "process").
    public let location: String

    public init(config: [String: String] = [:]) throws {
        directory = TemporaryDirectory("iot-ctx")
        clock = ManualClock()
        location = try TestDatabase.location(sqlitePath: directory.file("test.db"))
        var values = ["auth.pbkdf2_iterations": "1000", "db.path": directory.file("test.db"), "db.pool_size": "6"]
        if location != directory.file("test.db") { values["db.url"] = location }
        for (key, value) in config { values[key] = value }
        context = try PlatformContext.open(config: Config(values), clock: clock, logger: Logger(level: .error))
    }

    public func close() {
        context.db.close()
        directory.remove()
    }
}
