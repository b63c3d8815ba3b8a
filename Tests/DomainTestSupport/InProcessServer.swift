import Composition
import Core
import HTTP
import Platform
import TestSupport

/// The platform as `api-server` composes it (same `Composition`, same migrations, the same `admin token`
/// bootstrap) on a temporary database file (a fresh PostgreSQL database with `IOT_TEST_DB=postgres`), answered by its responder in this process: route tests send a
/// request value in and get a response value out, with no socket and no binary. `admin-cli` may run on
/// `databasePath` meanwhile, as with the real server.
public final class InProcessServer: APIServer, @unchecked Sendable {
    public let platform: Platform
    public let composition: Composition
    public let responder: APIResponder
    public let databasePath: String
    public let adminToken: String?
    public let directory: TemporaryDirectory

    public init(config: [String: String] = [:]) throws {
        directory = TemporaryDirectory("iot-inprocess")
        databasePath = try TestDatabase.location(sqlitePath: directory.file("iot.db"))
        var values = ["db.path": directory.file("iot.db"), "db.url": databasePath == directory.file("iot.db") ? "" : databasePath, "db.pool_size": "6", "log.level": "error", "log.access": "false", "debug.routes": "true",
                      "auth.pbkdf2_iterations": "1000"]
        values.merge(config) { _, new in new }
        let context = try PlatformContext.open(config: Config(values))
        composition = Composition(context: context)
        platform = Platform(context: context, modules: composition.modules)
        try platform.validateConfiguration()
        try platform.migrate()
        adminToken = try composition.auth.service.bootstrapIfEmpty()
        responder = platform.makeResponder()
    }

    deinit {
        platform.shutdown()
        platform.context.db.close()
        directory.remove()
    }

    /// A client whose every response is also checked against what its route documents (`ResponseContract`).
    public func client(token: String? = nil) -> HTTPTestClient {
        HTTPTestClient(responder: ResponseContract(responder), token: token ?? adminToken)
    }
}
