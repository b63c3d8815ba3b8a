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

    /// Creates a user in the server's `default` org through `admin-cli` on the same database file
    /// (the two programs share the file while the server runs) and logs in over HTTP.
    static func user(_ server: ServerProcess, role: String) throws -> (name: String, token: String) {
        let name = "\(role)-\(RandomID.make(length: 8))"
        let created = try runProgram("admin-cli", ["--db", server.databasePath, "user", "create", name, "--org", "default",
                                                   "--role", role, "--password", "secret-\(name)"])
        guard created.exitCode == 0 else { throw TestClientError2("user create failed: \(created.stderr)") }
        let login = try server.client(token: nil).request("POST", "/api/v2/auth/login/",
                                                          json: .object(["username": .string(name), "password": .string("secret-\(name)")]),
                                                          token: .some(nil))
        guard login.status == 200, let token = login.json["token"]?.stringValue else {
            throw TestClientError2("login failed: \(login.status) \(login.text)")
        }
        return (name, token)
    }
}

struct TestClientError2: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
