import Foundation

/// A self-signed P-256 certificate and its key, made by the `openssl` command line into a folder, valid one day,
/// for `localhost` and 127.0.0.1. Tests of HTTPS use it as the server's certificate and as the client's CA.
public struct TestCertificate: Sendable {
    public let certificatePath: String
    public let privateKeyPath: String
    public let commonName: String

    /// Makes `NAME.crt` and `NAME.key` in `directory` (a new pair each call, so two calls give different certificates).
    public init(in directory: String, name: String = "server", commonName: String = "localhost") throws {
        certificatePath = directory + "/\(name).crt"
        privateKeyPath = directory + "/\(name).key"
        self.commonName = commonName
        let result = try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=\(commonName)", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", privateKeyPath, "-out", certificatePath,
        ])
        guard result == 0 else { throw TestClientError("openssl req failed (\(result)) for \(certificatePath)") }
    }

    /// Copies this pair over `other`'s files (a certificate replaced in place, as an operator does before SIGHUP).
    public func install(over other: TestCertificate) throws {
        for (from, to) in [(certificatePath, other.certificatePath), (privateKeyPath, other.privateKeyPath)] {
            let data = try Data(contentsOf: URL(fileURLWithPath: from))
            try data.write(to: URL(fileURLWithPath: to), options: .atomic)
        }
    }

    private static func openssl(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
