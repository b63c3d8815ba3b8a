import COpenSSL
import Foundation
@testable import HTTP
import TestSupport
import Testing

/// `TLSContext` and `TLSSession` as a pure byte transform: a server session and an OpenSSL client exchange
/// ciphertext through memory, cut at random places.
@Suite struct TLSSessionTests {
    /// A certificate pair in a fresh folder (removed by the caller).
    static func certificate(_ name: String = "server", commonName: String = "localhost") throws -> (TemporaryDirectory, TestCertificate) {
        let directory = TemporaryDirectory("iot-tls")
        return (directory, try TestCertificate(in: directory.path, name: name, commonName: commonName))
    }

    /// Feeds `bytes` to the server in random pieces, decrypting after each; returns the plaintext that came out.
    static func deliver(_ bytes: [UInt8], to server: TLSSession, _ random: inout SplitMix) throws -> [UInt8] {
        var plaintext: [UInt8] = []
        var offset = 0
        repeat {
            let piece = min(bytes.count - offset, Int.random(in: 1...4_000, using: &random))
            bytes[offset..<(offset + piece)].withUnsafeBytes { server.feed($0) }
            offset += piece
            _ = try server.decrypt { plaintext += $0 }
        } while offset < bytes.count
        return plaintext
    }

    /// Feeds `bytes` to the client in random pieces; returns the plaintext it decrypted.
    static func deliver(_ bytes: [UInt8], to client: MemoryTLSClient, _ random: inout SplitMix) -> [UInt8] {
        var plaintext: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            let piece = min(bytes.count - offset, Int.random(in: 1...4_000, using: &random))
            client.feed(bytes[offset..<(offset + piece)])
            offset += piece
            if client.isHandshakeComplete { plaintext += client.read() }
        }
        return plaintext
    }

    /// Runs the handshake to completion in both directions.
    static func handshake(_ client: MemoryTLSClient, _ server: TLSSession, _ random: inout SplitMix) throws {
        for _ in 0..<20 {
            let clientDone = try client.step()
            let toServer = client.takeCiphertext()
            if !toServer.isEmpty { _ = try deliver(toServer, to: server, &random) }
            let toClient = server.takeCiphertext()
            if !toClient.isEmpty { _ = deliver(toClient, to: client, &random) }
            if clientDone, server.isHandshakeComplete, toServer.isEmpty, toClient.isEmpty { return }
        }
        throw TLSClientFailure(reason: "handshake did not finish")
    }

    /// A server session and a client that finished their handshake (the folder holds the certificate).
    static func connected(seed: UInt64) throws -> (TemporaryDirectory, TLSSession, MemoryTLSClient, SplitMix) {
        let (directory, certificate) = try Self.certificate()
        let context = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
        var random = SplitMix(state: seed)
        let server = try context.makeSession()
        let client = MemoryTLSClient(context: TestTLS.clientContext(caFile: certificate.certificatePath))
        try Self.handshake(client, server, &random)
        return (directory, server, client, random)
    }

    @Test(arguments: [(TLS1_2_VERSION, "TLSv1.2"), (TLS1_3_VERSION, "TLSv1.3")])
    func handshakeNegotiatesTheVersionAndALPNThenDataFlowsBothWaysInRandomSplits(version: Int32, name: String) throws {
        let (directory, certificate) = try Self.certificate()
        defer { directory.remove() }
        let context = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
        var random = SplitMix(state: UInt64(version))
        let server = try context.makeSession()
        let client = MemoryTLSClient(context: TestTLS.clientContext(versions: version...version, caFile: certificate.certificatePath))
        #expect(!server.isHandshakeComplete)
        try Self.handshake(client, server, &random)
        #expect(server.protocolVersion == name)
        #expect(client.version == name)
        #expect(server.negotiatedProtocol == "http/1.1")
        #expect(TestTLS.alpn(client.ssl) == "http/1.1")
        #expect(TestTLS.peerSubject(client.ssl) == "/CN=localhost")

        let request = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        client.write(request)
        #expect(try Self.deliver(client.takeCiphertext(), to: server, &random) == request)

        let response = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        var consumed = 0
        while consumed < response.count {
            let slice = min(response.count - consumed, Int.random(in: 1...70_000, using: &random))
            consumed += try response[consumed..<(consumed + slice)].withUnsafeBytes { try server.encrypt($0) }
        }
        #expect(Self.deliver(server.takeCiphertext(), to: client, &random) == response)

        server.close()
        #expect(server.pendingCiphertext > 0)   // close_notify
        client.feed(server.takeCiphertext()[...])
        #expect(client.read().isEmpty)
        #expect(SSL_get_shutdown(client.ssl) & SSL_RECEIVED_SHUTDOWN != 0)
    }

    @Test func aClientCloseNotifyEndsTheSession() throws {
        let (directory, server, client, _) = try Self.connected(seed: 7)
        defer { directory.remove() }
        _ = SSL_shutdown(client.ssl)
        let closeNotify = client.takeCiphertext()
        closeNotify.withUnsafeBytes { server.feed($0) }
        #expect(try server.decrypt { _ in } == .closed)
    }

    @Test func aBadRecordIsAnErrorNotACrashAndTheSessionStaysFailed() throws {
        let (directory, server, _, random) = try Self.connected(seed: 11)
        defer { directory.remove() }
        // An application-data record whose 32 bytes cannot authenticate.
        var bytes = random
        let forged: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x20] + (0..<32).map { _ in UInt8.random(in: 0...255, using: &bytes) }
        forged.withUnsafeBytes { server.feed($0) }
        #expect(throws: TLSError.self) { _ = try server.decrypt { _ in } }
        #expect(throws: TLSError.self) { _ = try server.decrypt { _ in } }
        #expect(throws: TLSError.self) { try [UInt8]("late".utf8).withUnsafeBytes { try server.encrypt($0) } }
        server.close()   // no-op after a failure
    }

    @Test func plainHTTPInsteadOfAClientHelloIsAProtocolError() throws {
        let (directory, certificate) = try Self.certificate()
        defer { directory.remove() }
        let context = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
        let server = try context.makeSession()
        Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8).withUnsafeBytes { server.feed($0) }
        let error = #expect(throws: TLSError.self) { _ = try server.decrypt { _ in } }
        guard case .protocolError = error else { Issue.record("expected a protocol error, got \(String(describing: error))"); return }
        #expect(!server.isHandshakeComplete)
    }

    @Test func aClientOfferingOnlyOtherProtocolsIsRefusedAndOneOfferingNoneIsServed() throws {
        let (directory, certificate) = try Self.certificate()
        defer { directory.remove() }
        let context = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
        var random = SplitMix(state: 3)
        let h2Only = MemoryTLSClient(context: TestTLS.clientContext(alpn: ["h2"], caFile: certificate.certificatePath))
        #expect(throws: (any Error).self) { try Self.handshake(h2Only, try context.makeSession(), &random) }

        let server = try context.makeSession()
        let noALPN = MemoryTLSClient(context: TestTLS.clientContext(alpn: nil, caFile: certificate.certificatePath))
        try Self.handshake(noALPN, server, &random)
        #expect(server.negotiatedProtocol == nil)

        let both = try context.makeSession()
        let offersBoth = MemoryTLSClient(context: TestTLS.clientContext(alpn: ["h2", "http/1.1"], caFile: certificate.certificatePath))
        try Self.handshake(offersBoth, both, &random)
        #expect(both.negotiatedProtocol == "http/1.1")
    }

    @Test func tls11IsRefused() throws {
        let (directory, certificate) = try Self.certificate()
        defer { directory.remove() }
        let context = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
        var random = SplitMix(state: 5)
        let clientContext = TestTLS.clientContext(versions: TLS1_VERSION...TLS1_1_VERSION, caFile: certificate.certificatePath)
        SSL_CTX_set_security_level(clientContext, 0)   // let the client even try
        let old = MemoryTLSClient(context: clientContext)
        #expect(throws: (any Error).self) { try Self.handshake(old, try context.makeSession(), &random) }
    }

    @Test func unusableFilesAreRefusedAtLoadWithTheReason() throws {
        let (directory, certificate) = try Self.certificate()
        defer { directory.remove() }
        let other = try TestCertificate(in: directory.path, name: "other")
        #expect(throws: TLSError.keyMismatch(certificate: certificate.certificatePath, privateKey: other.privateKeyPath)) {
            _ = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: other.privateKeyPath)
        }
        let mismatch = TLSError.keyMismatch(certificate: "a.crt", privateKey: "b.key")
        #expect(mismatch.description == "TLS private key b.key does not match the certificate a.crt")

        let missing = directory.file("missing.crt")
        let error = #expect(throws: TLSError.self) {
            _ = try TLSContext(certificatePath: missing, privateKeyPath: certificate.privateKeyPath)
        }
        guard case .certificate(let path, _) = error else { Issue.record("expected a certificate error: \(String(describing: error))"); return }
        #expect(path == missing)

        let garbage = directory.file("garbage.key")
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: garbage))
        let keyError = #expect(throws: TLSError.self) {
            _ = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: garbage)
        }
        guard case .privateKey(let keyPath, _) = keyError else { Issue.record("expected a key error: \(String(describing: keyError))"); return }
        #expect(keyPath == garbage)
    }

    @Test func reloadServesTheNewCertificateToNewHandshakesWhileOlderSessionsKeepTheOld() throws {
        let (directory, live) = try Self.certificate("live", commonName: "localhost")
        defer { directory.remove() }
        let context = try TLSContext(certificatePath: live.certificatePath, privateKeyPath: live.privateKeyPath)
        var random = SplitMix(state: 13)
        let oldCA = directory.file("old.crt")
        try FileManager.default.copyItem(atPath: live.certificatePath, toPath: oldCA)
        let before = try context.makeSession()   // made before the reload, handshakes after it

        let next = try TestCertificate(in: directory.path, name: "next", commonName: "second.localhost")
        try next.install(over: live)
        try context.reload()
        #expect(context.certificateSubject == "/CN=second.localhost")

        let after = try context.makeSession()
        let newClient = MemoryTLSClient(context: TestTLS.clientContext(caFile: next.certificatePath))
        try Self.handshake(newClient, after, &random)
        #expect(TestTLS.peerSubject(newClient.ssl) == "/CN=second.localhost")

        let oldClient = MemoryTLSClient(context: TestTLS.clientContext(caFile: oldCA))
        try Self.handshake(oldClient, before, &random)
        #expect(TestTLS.peerSubject(oldClient.ssl) == "/CN=localhost")
    }

    @Test func aFailedReloadKeepsTheCurrentCertificate() throws {
        let (directory, live) = try Self.certificate("live")
        defer { directory.remove() }
        let context = try TLSContext(certificatePath: live.certificatePath, privateKeyPath: live.privateKeyPath)
        let other = try TestCertificate(in: directory.path, name: "other", commonName: "other")
        try Data(contentsOf: URL(fileURLWithPath: other.privateKeyPath)).write(to: URL(fileURLWithPath: live.privateKeyPath))
        #expect(throws: TLSError.keyMismatch(certificate: live.certificatePath, privateKey: live.privateKeyPath)) { try context.reload() }
        var random = SplitMix(state: 17)
        let client = MemoryTLSClient(context: TestTLS.clientContext(caFile: live.certificatePath))
        try Self.handshake(client, try context.makeSession(), &random)
        #expect(TestTLS.peerSubject(client.ssl) == "/CN=localhost")
    }
}
