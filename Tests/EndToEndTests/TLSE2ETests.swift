import Core
import Foundation
import Testing
import TestSupport

/// HTTPS through the real `api-server` binary with a certificate the test makes: curl over TLS 1.2 and 1.3 with
/// ALPN, keep-alive, a POST with a body, plain HTTP on the TLS port, and a certificate replaced then reloaded
/// with SIGHUP while a keep-alive connection stays open.
@Suite(.serialized) struct TLSE2ETests {
    /// curl against the server's `localhost` name pinned to 127.0.0.1, trusting `caFile`.
    static func curl(_ port: Int, caFile: String, _ arguments: [String]) throws -> CommandResult {
        try runTool("curl", ["-sS", "-v", "--max-time", "10", "--cacert", caFile, "--resolve", "localhost:\(port):127.0.0.1"] + arguments)
    }

    /// A Python client holding one TLS keep-alive connection: it asks `/healthz` once, prints
    /// `first STATUS VERSION ALPN CN`, waits for a line on stdin, asks again on the same socket, prints `second …`.
    static let keepAliveClient = """
        import socket, ssl, sys
        port, ca = int(sys.argv[1]), sys.argv[2]
        context = ssl.create_default_context(cafile=ca)
        context.set_alpn_protocols(["http/1.1"])
        tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
        def get(label):
            tls.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n")
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                data += tls.recv(4096)
            head, body = data.split(b"\\r\\n\\r\\n", 1)
            length = [int(l.split(b":")[1]) for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")][0]
            while len(body) < length:
                body += tls.recv(4096)
            cn = dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]
            print(label, head.split(b" ")[1].decode(), tls.version(), tls.selected_alpn_protocol(), cn, flush=True)
        get("first")
        sys.stdin.readline()
        get("second")
        """

    @Test func httpsServesCurlOverTLS12And13WithALPNKeepAliveAndAPost() throws {
        let directory = TemporaryDirectory("iot-tls-e2e")
        defer { directory.remove() }
        let certificate = try TestCertificate(in: directory.path)
        let server = try ServerProcess(arguments: ["--tls-certificate", certificate.certificatePath,
                                                   "--tls-private-key", certificate.privateKeyPath])
        defer { server.stop() }
        let port = server.port
        #expect(server.outputLines.contains("listening on https://127.0.0.1:\(port)"))
        let token = try #require(server.adminToken)

        for (flags, version) in [(["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2"), (["--tlsv1.3"], "TLSv1.3")] {
            let result = try Self.curl(port, caFile: certificate.certificatePath, flags + ["https://localhost:\(port)/healthz"])
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(result.stdout == #"{"status":"ok"}"#)
            #expect(result.stderr.contains("SSL connection using \(version)"))
            #expect(result.stderr.contains("ALPN: server accepted http/1.1"))
        }

        // Two requests in one curl run share the connection (the second makes no new connect), then a POST with a body.
        let body = #"{"project_id": "tls-1", "name": "Over HTTPS"}"#
        let keepAlive = try Self.curl(port, caFile: certificate.certificatePath, [
            "-w", " connects=%{num_connects}\n", "-H", "Authorization: Bearer \(token)",
            "https://localhost:\(port)/api/v2/me/", "https://localhost:\(port)/api/v2/me/",
            "-H", "Content-Type: application/json", "--data-binary", body, "https://localhost:\(port)/api/v2/projects/",
        ])
        #expect(keepAlive.exitCode == 0, "\(keepAlive.stderr)")
        #expect(keepAlive.stdout.components(separatedBy: "connects=1").count == 2, "\(keepAlive.stdout)")
        #expect(keepAlive.stdout.components(separatedBy: "connects=0").count == 3, "\(keepAlive.stdout)")
        #expect(keepAlive.stdout.contains(#""project_id":"tls-1""#))
        #expect(throws: (any Error).self) { _ = try server.client().get("/healthz") }   // a plain HTTP client gets no answer

        // Plain HTTP on the TLS port: no answer, a clean close, and the server goes on.
        let plain = try runTool("curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(port)/healthz"])
        #expect(plain.exitCode != 0)
        #expect(plain.exitCode != 28, "plain HTTP hung until the timeout")
        let after = try Self.curl(port, caFile: certificate.certificatePath, ["https://localhost:\(port)/api/v2/projects/tls-1/",
                                                                              "-H", "Authorization: Bearer \(token)"])
        #expect(after.stdout.contains(#""name":"Over HTTPS""#))
    }

    @Test func sighupReloadsTheCertificateForNewConnectionsWhileAnOpenOneKeepsWorking() throws {
        let directory = TemporaryDirectory("iot-tls-reload")
        defer { directory.remove() }
        let live = try TestCertificate(in: directory.path, name: "live")
        let oldCA = directory.file("old.crt")
        try FileManager.default.copyItem(atPath: live.certificatePath, toPath: oldCA)
        let renewed = try TestCertificate(in: directory.path, name: "renewed", commonName: "renewed.localhost")
        let server = try ServerProcess(arguments: [], environment: [
            "IOT_SERVER_TLS_CERTIFICATE": live.certificatePath, "IOT_SERVER_TLS_PRIVATE_KEY": live.privateKeyPath, "IOT_LOG_LEVEL": "info",
        ])
        defer { server.stop() }
        let port = server.port

        let script = directory.file("client.py")
        try Self.keepAliveClient.write(toFile: script, atomically: true, encoding: .utf8)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", script, String(port), oldCA]
        let toClient = Pipe()
        let fromClient = Pipe()
        python.standardInput = toClient
        python.standardOutput = fromClient
        python.standardError = FileHandle.nullDevice
        try python.run()
        defer { if python.isRunning { python.terminate() } }
        let output = LineReader(fromClient.fileHandleForReading)
        #expect(output.next(timeout: 20) == "first 200 TLSv1.3 http/1.1 localhost")

        // A bad certificate first: the reload fails, is logged, and the old certificate stays.
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: live.certificatePath))
        kill(server.process.processIdentifier, SIGHUP)
        #expect(Self.waitFor("tls certificate reload failed", in: server))
        #expect(try Self.curl(port, caFile: oldCA, ["https://localhost:\(port)/healthz"]).exitCode == 0)

        try renewed.install(over: live)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(Self.waitFor("tls certificate reloaded", in: server))
        let fresh = try Self.curl(port, caFile: renewed.certificatePath, ["https://localhost:\(port)/healthz"])
        #expect(fresh.exitCode == 0, "\(fresh.stderr)")
        #expect(fresh.stderr.contains("subject: CN=renewed.localhost"))
        #expect(try Self.curl(port, caFile: oldCA, ["https://localhost:\(port)/healthz"]).exitCode == 60)   // no longer trusted

        toClient.fileHandleForWriting.write(Data("go\n".utf8))
        #expect(output.next(timeout: 20) == "second 200 TLSv1.3 http/1.1 localhost")   // the same connection, the old certificate
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)
        #expect(server.process.isRunning)
    }

    @Test func aKeyWithoutItsCertificateOrAMismatchedPairFailsStartupWithTheReason() throws {
        let directory = TemporaryDirectory("iot-tls-config")
        defer { directory.remove() }
        let certificate = try TestCertificate(in: directory.path)
        let other = try TestCertificate(in: directory.path, name: "other")
        let alone = try runProgram("api-server", ["--db", directory.file("iot.db"), "--port", "0", "--tls-private-key", certificate.privateKeyPath])
        #expect(alone.exitCode == 2)
        #expect(alone.stderr.contains("server.tls.certificate and server.tls.private_key go together"))
        let mismatched = try runProgram("api-server", ["--db", directory.file("iot.db"), "--port", "0",
                                                       "--tls-certificate", certificate.certificatePath, "--tls-private-key", other.privateKeyPath])
        #expect(mismatched.exitCode == 1)
        #expect(mismatched.stderr.contains("does not match the certificate"))
    }

    static func waitFor(_ text: String, in server: ServerProcess) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if server.log.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }
}

/// Lines from a child's stdout, read on a background thread.
final class LineReader: Sendable {
    private let lines = Mutex<[String]>([])

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    self.lines.withLock { $0.append(line) }
                }
            }
        }
    }

    /// The next line, waiting up to `timeout` seconds (nil when none came).
    func next(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = lines.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return line }
            usleep(20_000)
        }
        return nil
    }
}

import Synchronization
