import COpenSSL
import Core
import Foundation
@testable import HTTP
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The event loop serving HTTPS: handshakes, keep-alive, pipelining, large and file bodies encrypted on the
/// loop, plain HTTP on the TLS port, the handshake timeout.
@Suite struct TLSServerTests {
    /// An HTTPS server with the echo responder of `TestHTTPServer`, plus `/file` (a 3 MiB file body).
    final class Fixture {
        let directory = TemporaryDirectory("iot-tls-server")
        let certificate: TestCertificate
        let server: HTTPServer
        let port: Int
        let fileContent: [UInt8]

        init(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
            certificate = try TestCertificate(in: directory.path)
            let filePath = directory.file("body.bin")
            fileContent = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 251) }
            _ = FileManager.default.createFile(atPath: filePath, contents: Data(fileContent))
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.workerThreads = 2
            configuration.tls = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
            configure(&configuration)
            server = HTTPServer(configuration: configuration, responder: ClosureResponder { request in
                if request.path == "/file", let body = FileBody(path: filePath) { return .file(body, contentType: "application/octet-stream") }
                return TestHTTPServer.echo(request)
            }, logger: Logger(level: .error))
            port = try server.start()
        }

        func client(versions: ClosedRange<Int32> = TLS1_2_VERSION...TLS1_3_VERSION) throws -> SocketTLSClient {
            try SocketTLSClient(port: port, context: TestTLS.clientContext(versions: versions, caFile: certificate.certificatePath))
        }

        func stop() {
            server.shutdown(gracePeriod: 1)
            directory.remove()
        }
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func keepAliveRequestsAPostBodyAndLargeResponsesOverOneConnection(version: Int32) throws {
        let fixture = try Fixture()
        defer { fixture.stop() }
        let client = try fixture.client(versions: version...version)
        #expect(String(cString: SSL_get_version(client.ssl)) == (version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"))
        #expect(TestTLS.alpn(client.ssl) == "http/1.1")

        try client.send("GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let first = try client.readResponse()
        #expect(first.status == 200)
        #expect(String(decoding: first.body, as: UTF8.self).contains("path=/hello"))

        let payload = String(repeating: "p", count: 100_000)
        try client.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)")
        let posted = try client.readResponse()
        #expect(String(decoding: posted.body, as: UTF8.self).contains("length=100000"))

        try client.send("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let big = try client.readResponse()
        #expect(big.body.count == TestHTTPServer.bigBodyBytes)
        #expect(big.body.allSatisfy { $0 == UInt8(ascii: "b") })

        try client.send("GET /file HTTP/1.1\r\nHost: localhost\r\n\r\nGET /after HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let file = try client.readResponse()
        #expect(file.body == fixture.fileContent)
        #expect(String(decoding: try client.readResponse().body, as: UTF8.self).contains("path=/after"))

        try client.send("GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(client.isClosedByPeer())
    }

    @Test func plainHTTPOnTheTLSPortIsClosedAndTheServerGoesOn() throws {
        let fixture = try Fixture()
        defer { fixture.stop() }
        let plain = try RawConnection(port: fixture.port)
        try plain.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let end = plain.readEnd()
        // An alert record at most, then the close: never an HTTP answer, never a hang.
        if case .data = end { #expect(plain.readEnd() != .timeout) } else { #expect(end == .eof || end == .reset) }
        let client = try fixture.client()
        try client.send("GET /still HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }

    @Test func aHandshakeThatNeverCompletesIsDroppedAfterTheHeaderTimeout() throws {
        let fixture = try Fixture { $0.headerTimeout = 1 }
        defer { fixture.stop() }
        let silent = try RawConnection(port: fixture.port)
        let started = Date()
        try silent.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])   // the start of a ClientHello, never finished
        let end = silent.readEnd()
        let elapsed = Date().timeIntervalSince(started)
        #expect(end == .eof || end == .reset)
        #expect(elapsed >= 0.9 && elapsed < 5, "closed after \(elapsed) s")
        let client = try fixture.client()
        try client.send("GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }

    @Test func aCloseNotifyThatArrivesWithTheLastRequestClosesTheConnectionRightAfterTheAnswer() throws {
        let fixture = try Fixture()
        defer { fixture.stop() }
        let socket = try RawConnection(port: fixture.port)
        let client = MemoryTLSClient(context: TestTLS.clientContext(caFile: fixture.certificate.certificatePath))
        var ciphertext = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<20 {
            let done = try client.step()
            try socket.send(client.takeCiphertext())
            if done { break }
            let count = ciphertext.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TLSClientFailure(reason: "closed during the handshake") }
            client.feed(ciphertext[0..<count])
        }
        // The request and close_notify in one segment: the stream reads both at once and holds the end for the loop,
        // which must read it without epoll (the client's socket stays open and silent).
        client.write(Array("GET /bye HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        _ = SSL_shutdown(client.ssl)
        try socket.send(client.takeCiphertext())
        let started = Date()
        var plaintext: [UInt8] = []
        while true {
            let count = ciphertext.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }   // EOF (or the 10 s receive timeout, which the elapsed time below catches)
            client.feed(ciphertext[0..<count])
            plaintext += client.read()
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(String(decoding: plaintext, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(String(decoding: plaintext, as: UTF8.self).contains("path=/bye"))
        #expect(elapsed < 3, "closed after \(elapsed) s")
    }
}
