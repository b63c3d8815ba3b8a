import Foundation
import Glibc
import Network
import Testing
@testable import Postgres

/// Logins against fake servers that misbehave: silent, speaking nonsense, or failing to prove they know the password.
@Suite struct PostgresLoginTests {
    typealias Server = NetworkStreamTests.OneShotServer

    static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if received <= 0 { return nil }
            got += received
        }
        return buffer
    }

    /// Reads the startup packet (no type byte) or a typed message; returns its body.
    static func readMessage(_ fd: Int32, typed: Bool) -> [UInt8]? {
        if typed { guard readExactly(fd, 1) != nil else { return nil } }
        guard let header = readExactly(fd, 4) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        return readExactly(fd, length - 4)
    }

    static func send(_ fd: Int32, _ messages: [BackendMessage]) {
        let bytes = messages.flatMap(\.encoded)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func configuration(port: Int, timeout: Double = 5) -> PostgresConfiguration {
        PostgresConfiguration(host: "127.0.0.1", port: port, user: "u", password: "pencil", database: "d", sslMode: .disable, connectTimeout: timeout)
    }

    @Test func aSilentServerFailsTheLoginWithinConnectTimeout() throws {
        let server = try Server { _ in usleep(2_000_000) }
        do {
            _ = try PostgresConnection.connect(configuration(port: server.port, timeout: 0.3))
            Issue.record("logged in to a silent server")
        } catch {
            #expect(error.kind == .connectFailed)
            #expect(error.message.contains("connect_timeout"))
        }
    }

    @Test func aNonsenseAnswerToSSLRequestIsAProtocolViolation() throws {
        let server = try Server { fd in
            _ = Self.readMessage(fd, typed: false)
            _ = Array("HTTP/1.1 400".utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        var settings = configuration(port: server.port)
        settings.sslMode = .require
        #expect(throws: PostgresError.self) { try PostgresConnection.connect(settings) }
    }

    @Test func aServerThatRefusesTLSFailsRequireButNotPrefer() throws {
        let refusing = try Server { fd in
            _ = Self.readMessage(fd, typed: false)
            _ = [UInt8(ascii: "N")].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
        }
        var settings = configuration(port: refusing.port)
        settings.sslMode = .require
        do {
            _ = try PostgresConnection.connect(settings)
            Issue.record("sslmode=require went on without TLS")
        } catch {
            #expect(error.kind == .tls)
            #expect(error.message.contains("does not accept TLS"))
        }
        let trusting = try Server { fd in
            _ = Self.readMessage(fd, typed: false)
            _ = [UInt8(ascii: "N")].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
            _ = Self.readMessage(fd, typed: false)
            Self.send(fd, [.authentication(.ok), .backendKeyData(processID: 1, secretKey: 2), .readyForQuery(.idle)])
            _ = Self.readMessage(fd, typed: true)
        }
        settings = configuration(port: trusting.port)
        settings.sslMode = .prefer
        let connection = try PostgresConnection.connect(settings)
        #expect(!connection.isTLS)
        connection.close()
    }

    /// A SCRAM exchange in which the server answers with `final` (given the client's nonce) after the client's proof.
    private func scramServer(final: @escaping @Sendable () -> [BackendMessage]) throws -> Server {
        try Server { fd in
            _ = Self.readMessage(fd, typed: false)
            Self.send(fd, [.authentication(.sasl(mechanisms: ["SCRAM-SHA-256"]))])
            guard let initial = Self.readMessage(fd, typed: true) else { return }
            let text = String(decoding: initial, as: UTF8.self)
            guard let nonceStart = text.range(of: "r=") else { return }
            let nonce = String(text[nonceStart.upperBound...])
            Self.send(fd, [.authentication(.saslContinue(Array("r=\(nonce)server,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8)))])
            _ = Self.readMessage(fd, typed: true)
            Self.send(fd, final())
            _ = Self.readMessage(fd, typed: true)
        }
    }

    @Test func aServerWithAWrongSCRAMSignatureIsRefused() throws {
        let server = try scramServer {
            [.authentication(.saslFinal(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))), .authentication(.ok), .readyForQuery(.idle)]
        }
        do {
            _ = try PostgresConnection.connect(configuration(port: server.port))
            Issue.record("a server that does not know the password was trusted")
        } catch {
            #expect(error.kind == .authenticationFailed)
            #expect(error.message.contains("signature"))
        }
    }

    @Test func aServerThatSkipsTheSCRAMProofIsRefused() throws {
        let server = try scramServer { [.authentication(.ok), .readyForQuery(.idle)] }
        do {
            _ = try PostgresConnection.connect(configuration(port: server.port))
            Issue.record("a server that skipped SCRAM's final message was trusted")
        } catch {
            #expect(error.kind == .authenticationFailed)
        }
    }

    @Test func aMissingPasswordIsNamedBeforeAnythingIsSent() throws {
        let server = try Server { fd in
            _ = Self.readMessage(fd, typed: false)
            Self.send(fd, [.authentication(.md5Password(salt: [1, 2, 3, 4]))])
            usleep(500_000)
        }
        var settings = configuration(port: server.port)
        settings.password = nil
        do {
            _ = try PostgresConnection.connect(settings)
            Issue.record("logged in without a password")
        } catch {
            #expect(error.kind == .authenticationFailed)
            #expect(error.message.contains("IOT_DB_PASSWORD"))
        }
    }
}
