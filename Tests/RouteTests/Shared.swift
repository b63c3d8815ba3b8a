import Core
import DomainTestSupport
import Foundation
import TestSupport

/// One in-process platform shared by the route suites that only add data of their own (users, projects and
/// devices with unique names); suites that need a pristine platform make their own `InProcessServer`.
enum Shared {
    static let server: Result<InProcessServer, any Error> = Result { try InProcessServer() }

    static func get() throws -> InProcessServer { try server.get() }

    static func user(_ server: InProcessServer, role: String) throws -> (name: String, token: String) { try server.user(role: role) }
}
