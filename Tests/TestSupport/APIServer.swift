/// What API tests need of a server, whether it is the real `api-server` binary (`ServerProcess`) or the
/// platform's responder in this process (`InProcessServer`): its database file and HTTP clients.
public protocol APIServer: AnyObject, Sendable {
    var databasePath: String { get }
    var adminToken: String? { get }
    func client(token: String?) -> HTTPTestClient
}

extension APIServer {
    /// A client with the admin (owner) token of org `default`.
    public func client() -> HTTPTestClient { client(token: nil) }
}

extension ServerProcess: APIServer {}
