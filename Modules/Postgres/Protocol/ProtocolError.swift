/// Bytes from the server that break the protocol (a decoder failure); the connection cannot continue.
public struct PostgresProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "protocol violation: \(message)" }
}
