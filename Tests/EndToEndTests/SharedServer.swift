import Core
import Foundation
import TestSupport

/// One `api-server` shared by the suites that only add data of their own (users and tokens with
/// unique names); suites that need a pristine server or kill it start their own.
enum Shared {
    static let server: Result<ServerProcess, any Error> = Result {
        try ServerProcess(environment: ["IOT_DEBUG_ROUTES": "true"])
    }

    static func get() throws -> ServerProcess { try server.get() }

    static func user(_ server: ServerProcess, role: String) throws -> (name: String, token: String) { try server.user(role: role) }
}
