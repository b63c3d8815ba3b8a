import Foundation
import Glibc
import Testing
@testable import Alerts

// Mail and webhook delivery against the Python sinks in Tools/test-sinks (spawned per test on port 0).

/// The package root: three levels up from Tests/AlertsTests/DeliveryTests.swift.
private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

private struct SinkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private let spawnLock = NSLock()

/// A child process started with `posix_spawnp`, stdin and stderr on /dev/null, stdout on a pipe.
/// (Foundation's `Process` is not used: its exit detection can stall for a minute under Swift Testing.)
private struct Child {
    let pid: pid_t
    let output: Int32

    init(_ arguments: [String]) throws {
        // The pipe must not leak into children other tests spawn meanwhile, or EOF would never come.
        spawnLock.lock()
        defer { spawnLock.unlock() }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw SinkError("pipe failed") }
        _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Test threads block signals such as SIGTERM; the child starts with none blocked, all defaults.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        close(pipeEnds[1])
        guard status == 0 else {
            close(pipeEnds[0])
            throw SinkError("cannot start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        output = pipeEnds[0]
    }

    /// Reads stdout until the child closes it (or `timeout` passes).
    func readAll(timeout: Double) -> [UInt8] {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 100) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(output, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }

    /// Waits for the exit (after SIGTERM when `terminate`, SIGKILL after `timeout`); returns the exit status.
    @discardableResult
    func finish(timeout: Double, terminate: Bool = true) -> Int32 {
        if terminate { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(2_000)
        }
        close(output)
        return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}

/// A running `smtp_sink.py` or `http_sink.py`: its port and the JSON lines it prints.
private final class Sink {
    let port: Int
    private let child: Child
    private var buffer: [UInt8] = []
    private var stopped = false

    init(_ script: String, _ arguments: [String]) throws {
        child = try Child(["python3", "\(packageRoot)/Tools/test-sinks/\(script)", "--port", "0"] + arguments)
        var port = 0
        do {
            let first = try Self.line(child.output, &buffer, timeout: 15)
            guard first.hasPrefix("port "), let number = Int(first.dropFirst(5)) else { throw SinkError("\(script) said \(first)") }
            port = number
        } catch {
            child.finish(timeout: 5)
            stopped = true
            throw error
        }
        self.port = port
    }

    /// The next JSON line the sink printed (a received message or request).
    func next(timeout: Double = 10) throws -> [String: Any] {
        let line = try Self.line(child.output, &buffer, timeout: timeout)
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw SinkError("not a JSON object: \(line)")
        }
        return object
    }

    /// Whether the sink prints nothing more within `seconds`.
    func staysQuiet(for seconds: Double) -> Bool {
        (try? Self.line(child.output, &buffer, timeout: seconds)) == nil
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        child.finish(timeout: 5)
    }

    deinit { stop() }

    static func line(_ fd: Int32, _ buffer: inout [UInt8], timeout: Double) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw SinkError("the sink printed nothing within \(timeout) s") }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(remaining * 1000) + 1) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw SinkError("the sink exited") }
            buffer += chunk[..<count]
        }
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made once per test run.
private struct TestCertificate: Sendable {
    let cert: String
    let key: String

    static let shared: Result<TestCertificate, any Error> = Result {
        let directory = NSTemporaryDirectory() + "delivery-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = TestCertificate(cert: directory + "/cert.pem", key: directory + "/key.pem")
        let openssl = try Child(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                                 "-keyout", certificate.key, "-out", certificate.cert])
        let status = openssl.finish(timeout: 60, terminate: false)
        guard status == 0 else { throw SinkError("openssl req failed (\(status))") }
        return certificate
    }

    static func get() throws -> TestCertificate { try shared.get() }
    var sinkArguments: [String] { ["--cert", cert, "--key", key] }
}

private func smtpSettings(_ port: Int, tls: SMTPSecurity, host: String = "localhost", caFile: String? = nil,
                          username: String? = nil, password: String? = nil, timeout: Double = 5) -> SMTPSettings {
    SMTPSettings(host: host, port: port, tls: tls, username: username, password: password, from: "alerts@iot.test",
                 caFile: caFile, timeout: timeout, heloName: "tests.iot.test")
}

private let alertMail = MailMessage(from: "IoT Alerts <alerts@iot.test>", to: ["ops@example.com", "Ann <ann@example.com>"],
                                    subject: "温度告警 36.2 °C", body: "Sensor 7 is hot.\n.hidden line\n..two dots\n.\nend\n")

/// Error text of a `DeliveryError`, or a note that something else (or nothing) was thrown.
private func deliveryFailure(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch let error as DeliveryError {
        return error.message
    } catch {
        return "not a DeliveryError: \(error)"
    }
}

/// Decodes `=?UTF-8?B?…?=` words (the inverse of RFC 2047 B encoding, for checks).
private func decodeEncodedWords(_ value: String) -> String {
    var bytes: [UInt8] = []
    for word in value.split(whereSeparator: { $0.isWhitespace }) {
        guard word.hasPrefix("=?UTF-8?B?"), word.hasSuffix("?="), let data = Data(base64Encoded: String(word.dropFirst(10).dropLast(2)))
        else { return "<not an encoded word: \(word)>" }
        bytes += data
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The header block of a rendered message, unfolded: name → value.
private func headers(of message: String) -> [String: String] {
    let head = message.components(separatedBy: "\r\n\r\n")[0].replacingOccurrences(of: "\r\n ", with: " ")
    var result: [String: String] = [:]
    for line in head.components(separatedBy: "\r\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        result[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return result
}

// MARK: - Message format (no sockets)

@Suite struct MailFormatTests {
    @Test func chineseSubjectIsEncodedInShortWords() throws {
        let bytes = MailFormat.render(alertMail, date: Date(timeIntervalSince1970: 1_700_000_000), messageID: "<abc@iot.test>")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(bytes.allSatisfy { $0 < 0x80 })
        // CRLF everywhere, no bare LF or CR.
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\r"))

        let headerBlock = text.components(separatedBy: "\r\n\r\n")[0]
        let subjectLines = headerBlock.components(separatedBy: "\r\n").drop { !$0.hasPrefix("Subject:") }
            .prefix { $0.hasPrefix("Subject:") || $0.hasPrefix(" ") }
        #expect(subjectLines.first?.hasPrefix("Subject: =?UTF-8?B?") == true)
        for line in subjectLines {
            #expect(line.utf8.count <= 78, "line too long: \(line)")
            for word in line.split(separator: " ") where word.hasPrefix("=?") { #expect(word.utf8.count <= 75) }
        }
        let fields = headers(of: text)
        #expect(decodeEncodedWords(fields["Subject"] ?? "") == "温度告警 36.2 °C")
        #expect(fields["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000")
        #expect(fields["From"] == "IoT Alerts <alerts@iot.test>")
        #expect(fields["To"] == "ops@example.com, Ann <ann@example.com>")
        #expect(fields["Message-ID"] == "<abc@iot.test>")
        #expect(fields["MIME-Version"] == "1.0")
        #expect(fields["Content-Type"] == "text/plain; charset=UTF-8")
        #expect(fields["Content-Transfer-Encoding"] == "7bit")
    }

    @Test func longSubjectSplitsIntoManyWordsOnCharacterBoundaries() {
        let subject = String(repeating: "温度告警🌡️ ", count: 12) + "end"
        let header = MailFormat.unstructuredHeader("Subject", subject)
        let lines = header.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count > 3)
        for line in lines {
            #expect(line.utf8.count <= 78)
            for word in line.split(separator: " ") where word.hasPrefix("=?") {
                #expect(word.utf8.count <= 75)
                // Each word decodes on its own: no character is cut in two.
                #expect(!decodeEncodedWords(String(word)).contains("\u{FFFD}"))
            }
        }
        #expect(decodeEncodedWords(String(header.dropFirst("Subject:".count))) == subject)
        // Plain ASCII is folded at spaces, not encoded.
        let ascii = MailFormat.unstructuredHeader("Subject", String(repeating: "temperature alert ", count: 8))
        #expect(!ascii.contains("=?"))
        #expect(ascii.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
        // A header cannot be injected through the subject.
        #expect(MailFormat.unstructuredHeader("Subject", "hi\r\nBcc: x@evil.test") == "Subject: hi Bcc: x@evil.test\r\n")
    }

    @Test func dotStuffingDoublesLeadingDots() {
        let stuffed = MailFormat.dotStuffed(Array("a\r\n.hidden\r\n..two\r\n.\r\nb.c\r\n".utf8))
        #expect(String(decoding: stuffed, as: UTF8.self) == "a\r\n..hidden\r\n...two\r\n..\r\nb.c\r\n.\r\n")
        let rendered = MailFormat.render(alertMail, date: Date(), messageID: "<x@y>")
        let text = String(decoding: MailFormat.dotStuffed(rendered), as: UTF8.self)
        #expect(text.contains("\r\n..hidden line\r\n...two dots\r\n..\r\nend\r\n.\r\n"))
        #expect(text.hasSuffix("end\r\n.\r\n"))
    }

    @Test func nonASCIIBodyIsBase64InShortLines() throws {
        let message = MailMessage(from: "a@b.test", to: ["c@d.test"], subject: "x", body: "温度 36.2 °C\n" + String(repeating: "é", count: 200))
        let text = String(decoding: MailFormat.render(message, date: Date(), messageID: "<x@y>"), as: UTF8.self)
        #expect(headers(of: text)["Content-Transfer-Encoding"] == "base64")
        let body = text.components(separatedBy: "\r\n\r\n")[1]
        let lines = body.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.allSatisfy { $0.utf8.count <= 76 })
        let decoded = try #require(Data(base64Encoded: lines.joined()))
        #expect(String(decoding: decoded, as: UTF8.self) == "温度 36.2 °C\r\n" + String(repeating: "é", count: 200) + "\r\n")
    }

    @Test func addressesAreCheckedBeforeConnecting() {
        #expect((try? MailFormat.address(in: "Ann <ann@example.com>", role: "recipient")) == "ann@example.com")
        for bad in ["", "no-at-sign", "a@b.test>\r\nRCPT TO:<x@y", "two words@x.test", "@x.test"] {
            #expect(deliveryFailure { _ = try MailFormat.address(in: bad, role: "recipient") }.contains("invalid recipient address"))
        }
        let client = SMTPClient(settings: smtpSettings(1, tls: .none))
        let failure = deliveryFailure { try client.send(MailMessage(from: "", to: ["bad address"], subject: "s", body: "b")) }
        #expect(failure.contains("invalid recipient address"))
        #expect(MailFormat.addressHeader("From", ["Zoë Ops <ops@x.test>"]).hasPrefix("From: =?UTF-8?B?"))
        #expect(MailFormat.addressHeader("From", ["Ops, Night <ops@x.test>"]) == "From: \"Ops, Night\" <ops@x.test>\r\n")
    }

    @Test func ehloExtensionsAreParsed() {
        let parsed = SMTPSession.parseExtensions(["SIZE 1000", "starttls", "AUTH PLAIN LOGIN", "AUTH=LOGIN"])
        #expect(parsed["STARTTLS"] == "")
        #expect(parsed["SIZE"] == "1000")
        #expect(parsed["AUTH"] == "PLAIN LOGIN LOGIN")
    }
}

// MARK: - SMTP against smtp_sink.py

@Suite struct SMTPDeliveryTests {
    @Test func plainWithAuthPlain() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain", "--auth", "alice:s3cret"])
        defer { sink.stop() }
        let client = SMTPClient(settings: smtpSettings(sink.port, tls: .none, username: "alice", password: "s3cret"))
        try client.send(alertMail)
        let received = try sink.next()
        #expect(received["mail_from"] as? String == "alerts@iot.test")
        #expect(received["rcpt_to"] as? [String] == ["ops@example.com", "ann@example.com"])
        #expect(received["tls"] as? Bool == false)
        #expect(received["auth"] as? String == "alice")
        let data = try #require(received["data"] as? String)
        #expect(decodeEncodedWords(headers(of: data)["Subject"] ?? "") == "温度告警 36.2 °C")
        // The sink undid the dot-stuffing: the body arrives as written.
        #expect(data.hasSuffix("\r\n\r\nSensor 7 is hot.\r\n.hidden line\r\n..two dots\r\n.\r\nend\r\n"))
        #expect(headers(of: data)["Message-ID"]?.hasSuffix("@iot.test>") == true)
    }

    @Test func authLoginWhenPlainIsNotOffered() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain", "--auth", "bob:pw", "--auth-mechanisms", "LOGIN"])
        defer { sink.stop() }
        try SMTPClient(settings: smtpSettings(sink.port, tls: .none, username: "bob", password: "pw")).send(alertMail)
        #expect(try sink.next()["auth"] as? String == "bob")
    }

    @Test func wrongPasswordReports535() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain", "--auth", "alice:s3cret"])
        defer { sink.stop() }
        let failure = deliveryFailure {
            try SMTPClient(settings: smtpSettings(sink.port, tls: .none, username: "alice", password: "wrong")).send(alertMail)
        }
        #expect(failure.hasPrefix("SMTP 535"), "\(failure)")
        #expect(!failure.contains("wrong"), "the password must not appear in errors: \(failure)")
    }

    @Test func noUsableAuthMechanismIsAnError() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain", "--auth", "a:b", "--auth-mechanisms", "CRAM-MD5"])
        defer { sink.stop() }
        let failure = deliveryFailure { try SMTPClient(settings: smtpSettings(sink.port, tls: .none, username: "a", password: "b")).send(alertMail) }
        #expect(failure.contains("neither AUTH PLAIN nor AUTH LOGIN"), "\(failure)")
    }

    @Test func starttlsWithCAFileAndAuth() throws {
        let certificate = try TestCertificate.get()
        let sink = try Sink("smtp_sink.py", ["--mode", "starttls", "--auth", "alice:s3cret"] + certificate.sinkArguments)
        defer { sink.stop() }
        let settings = smtpSettings(sink.port, tls: .starttls, caFile: certificate.cert, username: "alice", password: "s3cret")
        try SMTPClient(settings: settings).send(alertMail)
        let received = try sink.next()
        #expect(received["tls"] as? Bool == true)
        #expect(received["auth"] as? String == "alice")
        #expect(received["rcpt_to"] as? [String] == ["ops@example.com", "ann@example.com"])
    }

    @Test func implicitTLS() throws {
        let certificate = try TestCertificate.get()
        let sink = try Sink("smtp_sink.py", ["--mode", "implicit", "--auth", "alice:s3cret"] + certificate.sinkArguments)
        defer { sink.stop() }
        let settings = smtpSettings(sink.port, tls: .implicit, host: "127.0.0.1", caFile: certificate.cert, username: "alice",
                                    password: "s3cret")
        try SMTPClient(settings: settings).send(alertMail)
        #expect(try sink.next()["tls"] as? Bool == true)
    }

    @Test func untrustedCertificateFailsClearly() throws {
        let certificate = try TestCertificate.get()
        let sink = try Sink("smtp_sink.py", ["--mode", "starttls"] + certificate.sinkArguments)
        defer { sink.stop() }
        let failure = deliveryFailure { try SMTPClient(settings: smtpSettings(sink.port, tls: .starttls)).send(alertMail) }
        #expect(failure.hasPrefix("TLS: certificate not trusted for localhost: self-signed certificate"), "\(failure)")
        #expect(sink.staysQuiet(for: 0.2))
    }

    @Test func wrongHostNameFails() throws {
        let certificate = try TestCertificate.get()
        // The certificate names localhost and 127.0.0.1, not 127.0.0.2 (loopback too on Linux).
        let sink = try Sink("smtp_sink.py", ["--mode", "implicit", "--host", "127.0.0.2"] + certificate.sinkArguments)
        defer { sink.stop() }
        let settings = smtpSettings(sink.port, tls: .implicit, host: "127.0.0.2", caFile: certificate.cert)
        let failure = deliveryFailure { try SMTPClient(settings: settings).send(alertMail) }
        #expect(failure == "TLS: certificate not trusted for 127.0.0.2: IP address mismatch", "\(failure)")

        let https = try Sink("http_sink.py", certificate.sinkArguments)
        defer { https.stop() }
        let stream = try DeliveryStream(host: "127.0.0.1", port: https.port, timeout: 5)
        let mismatch = deliveryFailure { try stream.startTLS(serverName: "mail.example.com", caFile: certificate.cert) }
        #expect(mismatch == "TLS: certificate not trusted for mail.example.com: hostname mismatch", "\(mismatch)")
    }

    @Test func starttlsIsRequiredWhenAsked() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain"])
        defer { sink.stop() }
        let failure = deliveryFailure { try SMTPClient(settings: smtpSettings(sink.port, tls: .starttls)).send(alertMail) }
        #expect(failure.contains("does not offer STARTTLS"), "\(failure)")
        #expect(sink.staysQuiet(for: 0.2))
    }

    @Test func stalledServerTimesOut() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain", "--stall"])
        defer { sink.stop() }
        let start = Date()
        let failure = deliveryFailure { try SMTPClient(settings: smtpSettings(sink.port, tls: .none, timeout: 2)).send(alertMail) }
        let elapsed = Date().timeIntervalSince(start)
        #expect(failure.contains("no reply to EHLO") && failure.contains("timed out after 2 s"), "\(failure)")
        #expect(elapsed >= 1.9 && elapsed < 4, "took \(elapsed) s")
    }

    @Test func temporaryFailureReports451ThenSucceeds() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain", "--fail-first", "1"])
        defer { sink.stop() }
        let client = SMTPClient(settings: smtpSettings(sink.port, tls: .none))
        let failure = deliveryFailure { try client.send(alertMail) }
        #expect(failure.hasPrefix("SMTP 451 4.3.0 try again later"), "\(failure)")
        try client.send(alertMail)
        #expect(try sink.next()["rcpt_to"] as? [String] == ["ops@example.com", "ann@example.com"])
    }

    @Test func rejectedRecipientNamesTheCode() throws {
        let sink = try Sink("smtp_sink.py", ["--mode", "plain"])
        defer { sink.stop() }
        let mail = MailMessage(from: "", to: ["ok@example.com", "rejected@example.com"], subject: "s", body: "b")
        let failure = deliveryFailure { try SMTPClient(settings: smtpSettings(sink.port, tls: .none)).send(mail) }
        #expect(failure.hasPrefix("SMTP 550") && failure.contains("RCPT TO:<rejected@example.com>"), "\(failure)")
    }

    @Test func misbehavingServersGiveErrorsNotHangs() throws {
        for (mode, expected) in [("close-in-data", "closed by"), ("garbage", "malformed reply to EHLO")] {
            let certificate = try TestCertificate.get()
            for tls in [SMTPSecurity.none, .implicit] {
                let sink = try Sink("smtp_sink.py", ["--mode", tls == .none ? "plain" : "implicit", "--misbehave", mode]
                                    + certificate.sinkArguments)
                defer { sink.stop() }
                let start = Date()
                let failure = deliveryFailure {
                    try SMTPClient(settings: smtpSettings(sink.port, tls: tls, caFile: certificate.cert, timeout: 3)).send(alertMail)
                }
                #expect(failure.contains(expected), "\(mode) \(tls): \(failure)")
                #expect(Date().timeIntervalSince(start) < 3.5)
            }
        }
    }

    @Test func drippingPeerHitsTheOverallLimit() throws {
        // A server that sends one byte every 0.2 s: each read is quick, but the stream never ends.
        let script = """
            import socket, sys, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
            print("port %d" % s.getsockname()[1], flush=True)
            c, _ = s.accept()
            for _ in range(100):
                c.sendall(b"2"); time.sleep(0.2)
            """
        let child = try Child(["python3", "-c", script])
        defer { child.finish(timeout: 5) }
        var buffer: [UInt8] = []
        let first = try Sink.line(child.output, &buffer, timeout: 15)
        let port = try #require(Int(first.dropFirst(5)))
        let stream = try DeliveryStream(host: "127.0.0.1", port: port, timeout: 1, totalTimeout: 1.5)
        let start = Date()
        let failure = deliveryFailure { _ = try stream.readAvailable(limit: 1000) }
        #expect(failure == "reading from 127.0.0.1:\(port) timed out: the whole exchange is limited to 1.5 s", "\(failure)")
        #expect(Date().timeIntervalSince(start) < 2.5)
    }

    @Test func refusedConnectionFailsFast() throws {
        // Bind a port, then close it, so nothing listens there.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
                                  sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        close(probe)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let failure = deliveryFailure { try SMTPClient(settings: smtpSettings(port, tls: .none, host: "127.0.0.1")).send(alertMail) }
        #expect(failure == "connect to 127.0.0.1:\(port) failed: Connection refused", "\(failure)")
        let unknown = deliveryFailure { _ = try DeliveryStream(host: "no-such-host.invalid", port: 25, timeout: 3) }
        #expect(unknown.hasPrefix("cannot resolve no-such-host.invalid"), "\(unknown)")
    }
}

// MARK: - Webhooks against http_sink.py

@Suite struct WebhookDeliveryTests {
    private func post(_ client: OutboundHTTPClient, _ url: String, body: String = #"{"alert":"温度告警"}"#) throws -> OutboundHTTPResponse {
        let bytes = Array(body.utf8)
        return try client.send(OutboundHTTPRequest(method: "POST", url: url, headers: [
            ("Content-Type", "application/json"),
            ("X-IoT-Signature", WebhookSignature.header(secret: "hook-secret", body: bytes)),
        ], body: bytes))
    }

    @Test func postOverHTTP() throws {
        let sink = try Sink("http_sink.py", [])
        defer { sink.stop() }
        let response = try post(OutboundHTTPClient(timeout: 5), "http://127.0.0.1:\(sink.port)/hooks/alert?x=1#fragment")
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"ok":true}"#)
        #expect(response.header("content-type") == "application/json")
        let seen = try sink.next()
        #expect(seen["method"] as? String == "POST")
        #expect(seen["path"] as? String == "/hooks/alert?x=1")
        #expect(seen["body"] as? String == #"{"alert":"温度告警"}"#)
        let headers = try #require(seen["headers"] as? [String: String])
        #expect(headers["Host"] == "127.0.0.1:\(sink.port)")
        #expect(headers["User-Agent"] == "iot-platform")
        #expect(headers["Connection"] == "close")
        #expect(headers["Content-Type"] == "application/json")
        #expect(headers["Content-Length"] == String(#"{"alert":"温度告警"}"#.utf8.count))
        #expect(headers["X-IoT-Signature"] == WebhookSignature.header(secret: "hook-secret", body: Array(#"{"alert":"温度告警"}"#.utf8)))
    }

    @Test func postOverHTTPSAndIPv6() throws {
        let certificate = try TestCertificate.get()
        let sink = try Sink("http_sink.py", certificate.sinkArguments)
        defer { sink.stop() }
        let response = try post(OutboundHTTPClient(timeout: 5, caFile: certificate.cert), "https://localhost:\(sink.port)/h")
        #expect(response.status == 200)
        let seen = try sink.next()
        #expect(seen["body"] as? String == #"{"alert":"温度告警"}"#)
        #expect((seen["headers"] as? [String: String])?["Host"] == "localhost:\(sink.port)")

        let untrusted = deliveryFailure { _ = try post(OutboundHTTPClient(timeout: 5), "https://localhost:\(sink.port)/h") }
        #expect(untrusted.hasPrefix("TLS: certificate not trusted for localhost"), "\(untrusted)")

        let v6 = try Sink("http_sink.py", ["--host", "::1"])
        defer { v6.stop() }
        #expect(try post(OutboundHTTPClient(timeout: 5), "http://[::1]:\(v6.port)/six").status == 200)
        #expect((try v6.next()["headers"] as? [String: String])?["Host"] == "[::1]:\(v6.port)")
    }

    @Test func serverErrorsAreResponsesNotErrors() throws {
        let sink = try Sink("http_sink.py", ["--fail-first", "1"])
        defer { sink.stop() }
        let client = OutboundHTTPClient(timeout: 5)
        #expect(try post(client, "http://127.0.0.1:\(sink.port)/").status == 500)
        #expect(try post(client, "http://127.0.0.1:\(sink.port)/").status == 200)
    }

    @Test func chunkedAndCloseDelimitedBodiesAndTheCap() throws {
        for mode in ["chunked", "close", "length"] {
            let small = try Sink("http_sink.py", ["--response", mode, "--response-size", "20000"])
            defer { small.stop() }
            let response = try post(OutboundHTTPClient(timeout: 5), "http://127.0.0.1:\(small.port)/")
            #expect(response.status == 200)
            #expect(response.body.count == 20000, "\(mode)")
            #expect(response.body.starts(with: Array(#"{"ok":true}"#.utf8)))

            let big = try Sink("http_sink.py", ["--response", mode, "--response-size", "\(3 << 20)"])
            defer { big.stop() }
            let capped = try post(OutboundHTTPClient(timeout: 5), "http://127.0.0.1:\(big.port)/")
            #expect(capped.body.count == OutboundHTTPClient.maxBodyBytes, "\(mode)")
        }
    }

    @Test func validateURL() {
        #expect(OutboundHTTPClient.validateURL("https://hooks.example.com/a/b?c=d") == nil)
        #expect(OutboundHTTPClient.validateURL("HTTP://[2606:4700::1]:8080/x") == nil)
        #expect(OutboundHTTPClient.validateURL("http://10.0.0.1", policy: .unrestricted) == nil)
        #expect(OutboundHTTPClient.validateURL("ftp://example.com/x")?.contains("http or https") == true)
        #expect(OutboundHTTPClient.validateURL("example.com/x")?.contains("http://") == true)
        #expect(OutboundHTTPClient.validateURL("https:///path")?.contains("no host") == true)
        #expect(OutboundHTTPClient.validateURL("https://:443/path")?.contains("no host") == true)
        #expect(OutboundHTTPClient.validateURL("https://user:pass@example.com/")?.contains("credentials") == true)
        #expect(OutboundHTTPClient.validateURL("https://example.com/" + String(repeating: "a", count: 2000))?.contains("2000") == true)
        #expect(OutboundHTTPClient.validateURL("https://example.com:99999/") != nil)
        #expect(OutboundHTTPClient.validateURL("https://exa mple.com/") != nil)
        #expect(OutboundHTTPClient.validateURL("https://[::1/") != nil)
        #expect(OutboundHTTPClient.validateURL("https://[example.com]/") != nil)

        let parsed = try? OutboundURL("https://[::1]:8443/p?q=温")
        #expect(parsed?.host == "::1")
        #expect(parsed?.port == 8443)
        #expect(parsed?.target == "/p?q=%E6%B8%A9")
        #expect(parsed?.hostHeader == "[::1]:8443")
        #expect((try? OutboundURL("http://Example.COM?x"))?.target == "/?x")
        #expect((try? OutboundURL("http://example.com:80/"))?.hostHeader == "example.com")
    }

    @Test func requestHeadersCannotBeInjected() {
        let request = OutboundHTTPRequest(url: "http://127.0.0.1:1/", headers: [("X-A", "b\r\nEvil: 1")])
        #expect(deliveryFailure { _ = try OutboundHTTPClient().send(request) }.contains("control characters"))
    }
}

// MARK: - Signatures

@Suite struct SignatureTests {
    @Test func rfc4231TestVectors() {
        // RFC 4231 test cases 1 and 2.
        #expect(WebhookSignature.hmacSHA256Hex(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(WebhookSignature.hmacSHA256Hex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // RFC 4231 test case 6: a key longer than the block size.
        #expect(WebhookSignature.hmacSHA256Hex(key: [UInt8](repeating: 0xaa, count: 131),
                                               message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        // Empty key and message (the well-known value).
        #expect(WebhookSignature.hmacSHA256Hex(key: [], message: [])
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func headerMatchesPythonHMAC() throws {
        let body = #"{"device":"t-7","value":36.2,"note":"温度"}"#
        let script = "import hmac, hashlib, sys; a = [bytes.fromhex(x) for x in sys.argv[1:]]; "
            + "print(hmac.new(a[0], a[1], hashlib.sha256).hexdigest())"
        func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
        let python = try Child(["python3", "-c", script, hex("s3cr3t-ключ"), hex(body)])
        let output = python.readAll(timeout: 10)
        #expect(python.finish(timeout: 10, terminate: false) == 0)
        let expected = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(expected.count == 64)
        #expect(WebhookSignature.header(secret: "s3cr3t-ключ", body: Array(body.utf8)) == "sha256=" + expected)
    }
}
