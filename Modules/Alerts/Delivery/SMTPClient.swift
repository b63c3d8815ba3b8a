import Foundation
import Glibc
internal import COpenSSL

/// How the SMTP connection is protected.
public enum SMTPSecurity: String, Sendable {
    /// Plain connect, then `STARTTLS` (usually port 587); fails if the server does not offer it.
    case starttls
    /// TLS from the first byte (usually port 465).
    case implicit
    /// No TLS at all (usually port 25, or a local relay).
    case none
}

/// Where and how to send mail.
public struct SMTPSettings: Sendable {
    public var host: String
    public var port: Int
    public var tls: SMTPSecurity
    public var username: String?
    public var password: String?
    /// The envelope sender (`MAIL FROM`), and the `From` header when the message has none.
    public var from: String
    /// An extra PEM file of trusted CA certificates, on top of the system's.
    public var caFile: String?
    /// Seconds allowed for each step (connect, each reply, the TLS handshake, sending the message).
    public var timeout: Double
    /// The name given in `EHLO`.
    public var heloName: String

    /// `port` defaults to 587 for `.starttls`, 465 for `.implicit` and 25 for `.none`.
    public init(host: String, port: Int? = nil, tls: SMTPSecurity = .starttls, username: String? = nil, password: String? = nil,
                from: String, caFile: String? = nil, timeout: Double = 10, heloName: String = "localhost") {
        self.host = host
        self.port = port ?? (tls == .starttls ? 587 : tls == .implicit ? 465 : 25)
        self.tls = tls
        self.username = username
        self.password = password
        self.from = from
        self.caFile = caFile
        self.timeout = timeout
        self.heloName = heloName
    }
}

/// A plain-text mail. Addresses are `user@example.com` or `Name <user@example.com>`.
public struct MailMessage: Sendable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var body: String

    public init(from: String, to: [String], subject: String, body: String) {
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
    }
}

/// Sends mail over SMTP (RFC 5321): one connection per message, STARTTLS or implicit TLS with
/// certificate and host-name checks, AUTH PLAIN or LOGIN, and a deadline on every step.
public final class SMTPClient: Sendable {
    public let settings: SMTPSettings

    public init(settings: SMTPSettings) {
        self.settings = settings
    }

    /// Delivers `message` to the server, returning once the server accepted it (250 after DATA).
    public func send(_ message: MailMessage) throws(DeliveryError) {
        let envelopeFrom = try MailFormat.address(in: settings.from, role: "sender")
        guard !settings.heloName.isEmpty, settings.heloName.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw DeliveryError("invalid EHLO name \"\(DeliveryError.printable(settings.heloName, limit: 100))\"")
        }
        guard !message.to.isEmpty else { throw DeliveryError("mail has no recipients") }
        var recipients: [String] = []
        for recipient in message.to { recipients.append(try MailFormat.address(in: recipient, role: "recipient")) }
        let headerFrom = message.from.trimmingCharacters(in: .whitespaces).isEmpty ? settings.from : message.from
        _ = try MailFormat.address(in: headerFrom, role: "sender")
        let data = MailFormat.dotStuffed(MailFormat.render(
            MailMessage(from: headerFrom, to: message.to, subject: message.subject, body: message.body),
            date: Date(), messageID: MailFormat.newMessageID(sender: envelopeFrom, fallbackDomain: settings.heloName)))

        var session = try SMTPSession(settings: settings, recipients: recipients.count)
        defer { session.stream.close() }
        try session.open()
        try session.authenticate()
        try session.command("MAIL FROM:<\(envelopeFrom)>", expecting: [250])
        for recipient in recipients { try session.command("RCPT TO:<\(recipient)>", expecting: [250, 251]) }
        try session.command("DATA", expecting: [354])
        do {
            try session.stream.write(data)
        } catch {
            throw DeliveryError("SMTP \(session.stream.endpoint): sending the message failed: \(error.message)")
        }
        try session.expect(session.readReply(after: "the message data"), [250], after: "the message data")
        // The message is accepted; a failing QUIT changes nothing.
        _ = try? session.command("QUIT", expecting: [221])
    }
}

/// One SMTP conversation.
struct SMTPSession {
    struct Reply {
        var code: Int
        var lines: [String]
        var text: String { lines.joined(separator: " ") }
    }

    let settings: SMTPSettings
    /// The server's name as connected to and as checked against its certificate (no IPv6 brackets).
    let host: String
    let stream: DeliveryStream
    /// EHLO keywords (upper-cased) and their parameters.
    private(set) var extensions: [String: String] = [:]

    init(settings: SMTPSettings, recipients: Int) throws(DeliveryError) {
        self.settings = settings
        let bracketed = settings.host.hasPrefix("[") && settings.host.hasSuffix("]")
        host = bracketed ? String(settings.host.dropFirst().dropLast()) : settings.host
        // Each step has `timeout`; the whole conversation gets a generous multiple of it.
        stream = try DeliveryStream(host: host, port: settings.port, timeout: settings.timeout,
                                   totalTimeout: settings.timeout * Double(10 + recipients))
    }

    /// Greeting, EHLO, STARTTLS (or implicit TLS) and the EHLO after it.
    mutating func open() throws(DeliveryError) {
        if settings.tls == .implicit { try stream.startTLS(serverName: host, caFile: settings.caFile) }
        try expect(readReply(after: "connecting"), [220], after: "connecting")
        try hello()
        if settings.tls == .starttls {
            guard extensions["STARTTLS"] != nil else {
                throw DeliveryError("SMTP server \(stream.endpoint) does not offer STARTTLS; refusing to send in plain text "
                                    + "(use tls: .none to allow it)")
            }
            try command("STARTTLS", expecting: [220])
            try stream.startTLS(serverName: host, caFile: settings.caFile)
            try hello()
        }
    }

    private mutating func hello() throws(DeliveryError) {
        try stream.writeCommand("EHLO \(settings.heloName)", endpoint: stream.endpoint)
        let reply = try readReply(after: "EHLO")
        if reply.code / 100 == 5, settings.tls == .none, settings.username == nil {
            // A server from before ESMTP: plain HELO is enough when neither TLS nor AUTH is wanted.
            try command("HELO \(settings.heloName)", expecting: [250])
            extensions = [:]
            return
        }
        try expect(reply, [250], after: "EHLO")
        extensions = Self.parseExtensions(reply.lines.dropFirst())
    }

    /// The keywords of the lines after the first of an EHLO reply, e.g. `AUTH` → `PLAIN LOGIN`.
    static func parseExtensions<S: Sequence>(_ lines: S) -> [String: String] where S.Element == String {
        var result: [String: String] = [:]
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            // Some old servers write "AUTH=PLAIN LOGIN".
            let separator = trimmed.firstIndex { $0 == " " || $0 == "=" } ?? trimmed.endIndex
            let keyword = trimmed[..<separator].uppercased()
            let parameters = separator < trimmed.endIndex ? String(trimmed[trimmed.index(after: separator)...]) : ""
            if let existing = result[keyword], !existing.isEmpty {
                result[keyword] = existing + " " + parameters
            } else {
                result[keyword] = parameters
            }
        }
        return result
    }

    /// AUTH PLAIN if offered, else AUTH LOGIN; nothing when no user name is set.
    func authenticate() throws(DeliveryError) {
        guard let username = settings.username else { return }
        let password = settings.password ?? ""
        guard let offered = extensions["AUTH"] else {
            throw DeliveryError("SMTP server \(stream.endpoint) does not offer AUTH, but a user name is configured")
        }
        let mechanisms = Set(offered.uppercased().split(separator: " ").map(String.init))
        if mechanisms.contains("PLAIN") {
            let token = Data([0] + Array(username.utf8) + [0] + Array(password.utf8)).base64EncodedString()
            try command("AUTH PLAIN \(token)", expecting: [235], shownAs: "AUTH PLAIN (as \(username))")
        } else if mechanisms.contains("LOGIN") {
            try command("AUTH LOGIN", expecting: [334])
            try command(Data(username.utf8).base64EncodedString(), expecting: [334], shownAs: "AUTH LOGIN user name")
            try command(Data(password.utf8).base64EncodedString(), expecting: [235], shownAs: "AUTH LOGIN password (as \(username))")
        } else {
            throw DeliveryError("SMTP server \(stream.endpoint) offers neither AUTH PLAIN nor AUTH LOGIN (it offers: \(offered))")
        }
    }

    /// Sends one command line and checks the reply code. `shownAs` replaces the line in errors (secrets).
    @discardableResult
    func command(_ line: String, expecting codes: Set<Int>, shownAs: String? = nil) throws(DeliveryError) -> Reply {
        let label = shownAs ?? line
        try stream.writeCommand(line, endpoint: stream.endpoint, label: label)
        let reply = try readReply(after: label)
        try expect(reply, codes, after: label)
        return reply
    }

    func expect(_ reply: Reply, _ codes: Set<Int>, after label: String) throws(DeliveryError) {
        guard codes.contains(reply.code) else {
            throw DeliveryError("SMTP \(reply.code) \(DeliveryError.printable(reply.text, limit: 300)) (in reply to \(label))")
        }
    }

    /// Reads a possibly multi-line reply (`250-…` lines, then `250 …`).
    func readReply(after label: String) throws(DeliveryError) -> Reply {
        var reply = Reply(code: 0, lines: [])
        while true {
            let line: String
            do {
                line = try stream.readLine(max: 2048)
            } catch {
                throw DeliveryError("SMTP \(stream.endpoint): no reply to \(label): \(error.message)")
            }
            let bytes = Array(line.utf8)
            let digits = bytes.prefix(3)
            guard digits.count == 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), (0x32...0x35).contains(bytes[0]),
                  bytes.count == 3 || bytes[3] == 0x20 || bytes[3] == 0x2D
            else {
                throw DeliveryError("SMTP \(stream.endpoint) sent a malformed reply to \(label): \"\(DeliveryError.printable(line, limit: 100))\"")
            }
            let code = Int(String(decoding: digits, as: UTF8.self))!
            if reply.code != 0, code != reply.code {
                throw DeliveryError("SMTP \(stream.endpoint) mixed reply codes \(reply.code) and \(code) in one reply to \(label)")
            }
            reply.code = code
            reply.lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
            if bytes.count == 3 || bytes[3] == 0x20 { return reply }
            if reply.lines.count > 200 { throw DeliveryError("SMTP \(stream.endpoint) sent a reply of over 200 lines to \(label)") }
        }
    }
}

extension DeliveryStream {
    /// Writes `line` + CRLF, naming the command (or `label`, to hide secrets) if it fails.
    fileprivate func writeCommand(_ line: String, endpoint: String, label: String? = nil) throws(DeliveryError) {
        do {
            try write(line + "\r\n")
        } catch {
            throw DeliveryError("SMTP \(endpoint): sending \(label ?? line) failed: \(error.message)")
        }
    }
}

// MARK: - Message format

/// Turns a `MailMessage` into the bytes sent after DATA (RFC 5322 + MIME); pure, so tests need no sockets.
enum MailFormat {
    /// The bare address in `Name <user@host>` or `user@host`, checked to be safe on an SMTP command line.
    static func address(in text: String, role: String) throws(DeliveryError) -> String {
        var candidate = text.trimmingCharacters(in: .whitespaces)
        if let open = candidate.lastIndex(of: "<"), let close = candidate.lastIndex(of: ">"), open < close {
            candidate = String(candidate[candidate.index(after: open)..<close]).trimmingCharacters(in: .whitespaces)
        }
        let bytes = Array(candidate.utf8)
        guard let at = bytes.lastIndex(of: 0x40), at > 0, at < bytes.count - 1,
              bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3C && $0 != 0x3E && $0 != 0x2C })
        else {
            throw DeliveryError("invalid \(role) address \"\(DeliveryError.printable(text, limit: 100))\"")
        }
        return candidate
    }

    /// The full message with CRLF line ends, before dot-stuffing.
    static func render(_ message: MailMessage, date: Date, messageID: String) -> [UInt8] {
        var body = message.body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if !body.hasSuffix("\n") { body += "\n" }
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let plain = body.utf8.allSatisfy { $0 < 0x80 } && lines.allSatisfy { $0.utf8.count <= 998 }

        var text = "Date: \(rfc5322Date(date))\r\n"
        text += addressHeader("From", [message.from])
        text += addressHeader("To", message.to)
        text += unstructuredHeader("Subject", message.subject)
        text += "Message-ID: \(messageID)\r\n"
        text += "Auto-Submitted: auto-generated\r\n"
        text += "MIME-Version: 1.0\r\n"
        text += "Content-Type: text/plain; charset=UTF-8\r\n"
        text += "Content-Transfer-Encoding: \(plain ? "7bit" : "base64")\r\n\r\n"
        if plain {
            text += lines.joined(separator: "\r\n") + "\r\n"
        } else {
            text += Data(Array((lines.joined(separator: "\r\n") + "\r\n").utf8))
                .base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]) + "\r\n"
        }
        return Array(text.utf8)
    }

    /// Doubles a leading "." on every line and appends the terminating `.` line (RFC 5321 4.5.2).
    /// `message` must end with CRLF.
    static func dotStuffed(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 64)
        var atLineStart = true
        for byte in message {
            if atLineStart, byte == 0x2E { out.append(0x2E) }
            out.append(byte)
            atLineStart = byte == 0x0A
        }
        if !atLineStart { out += [0x0D, 0x0A] }
        out += [0x2E, 0x0D, 0x0A]
        return out
    }

    /// `Tue, 05 Mar 2024 14:03:07 +0000`.
    static func rfc5322Date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// `<random hex@sender's domain>`.
    static func newMessageID(sender: String, fallbackDomain: String) -> String {
        var random = [UInt8](repeating: 0, count: 16)
        if RAND_bytes(&random, 16) != 1 { random = (0..<16).map { _ in UInt8.random(in: 0...255) } }
        let hex = random.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        var domain = sender.split(separator: "@").last.map(String.init) ?? fallbackDomain
        domain = String(domain.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") })
        return "<\(hex)@\(domain.isEmpty ? "localhost" : domain)>"
    }

    // MARK: Headers

    /// `Name: value` folded to lines of at most 78 characters: ASCII text is folded at spaces,
    /// anything else becomes RFC 2047 encoded words (`=?UTF-8?B?…?=`, each at most 75 characters).
    static func unstructuredHeader(_ name: String, _ value: String) -> String {
        let clean = value.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
        let words = clean.split(separator: " ")
        let needsEncoding = clean.unicodeScalars.contains { $0.value >= 0x7F || ($0.value < 0x20 && $0 != "\t") }
            || words.contains { $0.utf8.count > 77 } || clean.contains("=?")
        if !needsEncoding { return fold(name: name, tokens: words.map(String.init)) }
        return fold(name: name, tokens: encodedWords(clean, firstLineUsed: name.utf8.count + 2))
    }

    /// Address-list header (`From`, `To`): non-ASCII display names become encoded words.
    static func addressHeader(_ name: String, _ entries: [String]) -> String {
        var tokens: [String] = []
        for (index, entry) in entries.enumerated() {
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            let comma = index < entries.count - 1 ? "," : ""
            guard let open = trimmed.lastIndex(of: "<"), open > trimmed.startIndex else {
                tokens.append(trimmed + comma)
                continue
            }
            var display = trimmed[..<open].trimmingCharacters(in: .whitespaces)
            let address = String(trimmed[open...])
            if display.unicodeScalars.contains(where: { $0.value >= 0x7F || $0.value < 0x20 }) {
                tokens += encodedWords(display, firstLineUsed: name.utf8.count + 2)
            } else {
                let specials = "()<>[]:;@\\,.\""
                if display.contains(where: { specials.contains($0) }) && !(display.hasPrefix("\"") && display.hasSuffix("\"")) {
                    display = "\"" + display.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
                }
                tokens += display.split(separator: " ").map(String.init)
            }
            tokens.append(address + comma)
        }
        return fold(name: name, tokens: tokens)
    }

    /// Joins `tokens` after `Name: `, starting a continuation line (CRLF + space) whenever the next
    /// token would pass column 78. Tokens are separated by one space.
    private static func fold(name: String, tokens: [String]) -> String {
        var out = name + ":"
        var column = out.utf8.count
        for token in tokens {
            let width = token.utf8.count + 1
            if column + width > 78, column > name.utf8.count + 1 {
                out += "\r\n"
                column = 0
            }
            out += " " + token
            column += width
        }
        return out + "\r\n"
    }

    /// `text` as RFC 2047 B-encoded words of whole characters, each at most 75 characters long and short
    /// enough that a folded header line stays within 78 columns.
    static func encodedWords(_ text: String, firstLineUsed: Int) -> [String] {
        // "=?UTF-8?B?" + base64 + "?=": 12 characters of framing; 60 base64 characters (45 bytes) gives 72.
        func capacity(_ used: Int) -> Int { Swift.min(45, Swift.max(12, (78 - used - 12) / 4 * 3)) }
        var words: [String] = []
        var chunk: [UInt8] = []
        var limit = capacity(firstLineUsed)
        func flush() {
            guard !chunk.isEmpty else { return }
            words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
            chunk = []
            limit = capacity(1)
        }
        for character in text {
            let bytes = Array(String(character).utf8)
            if bytes.count <= limit {
                if chunk.count + bytes.count > limit { flush() }
                chunk += bytes
            } else {
                // A character cluster longer than a word: split it between its scalars.
                for scalar in character.unicodeScalars {
                    let scalarBytes = Array(String(scalar).utf8)
                    if chunk.count + scalarBytes.count > limit { flush() }
                    chunk += scalarBytes
                }
            }
        }
        flush()
        return words
    }
}
