import Foundation
import Network

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding, as PostgreSQL uses it. A value
/// type driven by the server's messages; the server's signature is verified before the login is trusted.
public struct SCRAMClient: Sendable {
    private let user: String
    private let password: String
    private let clientNonce: String
    private var clientFirstBare = ""
    private var expectedServerSignature: [UInt8]?

    /// `user` goes into the exchange (PostgreSQL ignores it and sends the startup user; libpq sends empty).
    public init(user: String = "", password: String, nonce: String? = nil) {
        self.user = user
        self.password = password
        self.clientNonce = nonce ?? Data(Crypto.randomBytes(18)).base64EncodedString()
    }

    /// client-first-message: `n,,n=USER,r=NONCE`.
    public mutating func clientFirstMessage() -> String {
        let name = user.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
        clientFirstBare = "n=\(name),r=\(clientNonce)"
        return "n,," + clientFirstBare
    }

    /// client-final-message for the server-first-message `r=…,s=…,i=…`.
    public mutating func clientFinalMessage(serverFirst: String) throws(PostgresError) -> String {
        var attributes: [Character: String] = [:]
        for part in serverFirst.split(separator: ",") {
            guard let key = part.first, part.dropFirst().first == "=" else { continue }
            attributes[key] = String(part.dropFirst(2))
        }
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw PostgresError(.authenticationFailed, "SCRAM: the server's nonce does not extend ours")
        }
        guard let saltText = attributes["s"], let salt = Data(base64Encoded: saltText) else {
            throw PostgresError(.authenticationFailed, "SCRAM: the server sent no valid salt")
        }
        guard let iterationText = attributes["i"], let iterations = Int(iterationText), (1...10_000_000).contains(iterations) else {
            throw PostgresError(.authenticationFailed, "SCRAM: the server sent no valid iteration count")
        }
        let saltedPassword = Crypto.pbkdf2SHA256(password: Array(password.utf8), salt: Array(salt), iterations: iterations)
        let clientKey = Crypto.hmacSHA256(key: saltedPassword, Array("Client Key".utf8))
        let storedKey = Crypto.sha256(clientKey)
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = Crypto.hmacSHA256(key: storedKey, authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = Crypto.hmacSHA256(key: saltedPassword, Array("Server Key".utf8))
        expectedServerSignature = Crypto.hmacSHA256(key: serverKey, authMessage)
        return withoutProof + ",p=" + Data(proof).base64EncodedString()
    }

    /// Checks server-final-message `v=SIGNATURE`; throws unless it proves the server knows the password.
    public func verify(serverFinal: String) throws(PostgresError) {
        if serverFinal.hasPrefix("e=") {
            throw PostgresError(.authenticationFailed, "SCRAM: the server refused: \(serverFinal.dropFirst(2))")
        }
        guard let expected = expectedServerSignature else { throw PostgresError(.authenticationFailed, "SCRAM: final message out of order") }
        let value = serverFinal.split(separator: ",").first { $0.hasPrefix("v=") }.map { String($0.dropFirst(2)) }
        guard let value, let signature = Data(base64Encoded: value), Array(signature) == expected else {
            throw PostgresError(.authenticationFailed, "SCRAM: the server's signature is wrong (it does not know the password)")
        }
    }
}
