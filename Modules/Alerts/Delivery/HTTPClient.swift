import Foundation
import Glibc

/// An HTTP request to send to someone else's server (a webhook).
public struct OutboundHTTPRequest: Sendable {
    public var method: String
    /// An absolute `http://` or `https://` URL.
    public var url: String
    /// Extra headers; `Host`, `Content-Length`, `Connection` and `Transfer-Encoding` are set by the client.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String = "POST", url: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// The answer to an `OutboundHTTPRequest`. Any status is a response, not an error.
public struct OutboundHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    /// At most `OutboundHTTPClient.maxBodyBytes`; the rest of a longer body is not read.
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }
}

/// A minimal HTTP/1.1 client for webhooks: one request per connection (`Connection: close`),
/// http and https (certificates and host names verified), a deadline on every step.
public final class OutboundHTTPClient: Sendable {
    /// Response bodies are cut after this many bytes.
    public static let maxBodyBytes = 1 << 20
    /// Longest URL accepted.
    public static let maxURLLength = 2000

    public let timeout: Double
    public let connectTimeout: Double
    public let caFile: String?
    public let policy: OutboundAddressPolicy

    /// `connectTimeout` bounds the lookup and connect, `timeout` each later step (TLS handshake, each write and read);
    /// the whole exchange is limited to the connect time plus three times `timeout`. `caFile` adds PEM CA certificates
    /// to the system's. `policy` says which addresses may be reached (webhooks: public ones only).
    public init(timeout: Double = 10, connectTimeout: Double? = nil, caFile: String? = nil, policy: OutboundAddressPolicy = .unrestricted) {
        self.timeout = timeout
        self.connectTimeout = connectTimeout ?? timeout
        self.caFile = caFile
        self.policy = policy
    }

    /// Why `url` cannot be used as a webhook target under `policy` (checked without DNS), or nil if it can.
    public static func validateURL(_ url: String, policy: OutboundAddressPolicy = .publicOnly) -> String? {
        do {
            let parsed = try OutboundURL(url)
            return policy.refusal(host: parsed.host).map { "URL host \(parsed.host) \($0)" }
        } catch {
            return error.message
        }
    }

    /// Sends `request` and reads the whole response (body capped at `maxBodyBytes`).
    public func send(_ request: OutboundHTTPRequest) throws(DeliveryError) -> OutboundHTTPResponse {
        let url = try OutboundURL(request.url)
        let method = request.method.uppercased()
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else { throw DeliveryError("invalid HTTP method \"\(request.method)\"") }

        var head = "\(method) \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
        var hasUserAgent = false
        for (name, value) in request.headers {
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { throw DeliveryError("invalid HTTP header name \"\(name)\"") }
            guard !value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else {
                throw DeliveryError("invalid value for HTTP header \(name): control characters")
            }
            switch name.lowercased() {
            case "host", "content-length", "connection", "transfer-encoding": continue
            case "user-agent": hasUserAgent = true
            default: break
            }
            head += "\(name): \(value)\r\n"
        }
        if !hasUserAgent { head += "User-Agent: iot-platform\r\n" }
        if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { head += "Content-Length: \(request.body.count)\r\n" }
        head += "Connection: close\r\n\r\n"

        if let refusal = policy.refusal(host: url.host) { throw DeliveryError("refused: \(url.host) \(refusal)") }
        let stream = try DeliveryStream(host: url.host, port: url.port, timeout: timeout, connectTimeout: connectTimeout,
                                       totalTimeout: connectTimeout + timeout * 3, policy: policy)
        defer { stream.close() }
        if url.secure { try stream.startTLS(serverName: url.host, caFile: caFile) }
        try stream.write(Array(head.utf8) + request.body)
        return try readResponse(stream, method: method)
    }

    private func readResponse(_ stream: DeliveryStream, method: String) throws(DeliveryError) -> OutboundHTTPResponse {
        var status = 0
        var headers: [(String, String)] = []
        repeat {  // skip 1xx interim responses such as 100 Continue
            let line = try stream.readLine(max: 8192)
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].utf8.count == 3, let code = Int(parts[1]), code >= 100 else {
                throw DeliveryError("\(stream.endpoint) did not answer with HTTP (malformed status line)")
            }
            status = code
            headers = try readHeaders(stream)
        } while status < 200 && status != 101

        var response = OutboundHTTPResponse(status: status, headers: headers, body: [])
        if method == "HEAD" || status == 204 || status == 304 || status < 200 { return response }
        let cap = Self.maxBodyBytes
        let transferEncoding = response.header("Transfer-Encoding")?.lowercased() ?? ""
        if transferEncoding.split(separator: ",").last?.trimmingCharacters(in: .whitespaces) == "chunked" {
            response.body = try readChunked(stream, cap: cap)
        } else if let lengthText = response.header("Content-Length") {
            let values = Set(lengthText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            guard values.count == 1, let length = Int(values.first!), length >= 0 else {
                throw DeliveryError("\(stream.endpoint) sent an invalid Content-Length")
            }
            response.body = try stream.read(exactly: min(length, cap))
        } else {
            response.body = try stream.readAvailable(limit: cap)
        }
        return response
    }

    private func readHeaders(_ stream: DeliveryStream) throws(DeliveryError) -> [(String, String)] {
        var headers: [(String, String)] = []
        while true {
            let line = try stream.readLine(max: 8192)
            if line.isEmpty { return headers }
            if line.first == " " || line.first == "\t", !headers.isEmpty {  // obsolete line folding
                headers[headers.count - 1].1 += " " + line.trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon > line.startIndex else {
                throw DeliveryError("\(stream.endpoint) sent a malformed HTTP header line")
            }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            if headers.count > 200 { throw DeliveryError("\(stream.endpoint) sent more than 200 HTTP headers") }
        }
    }

    private func readChunked(_ stream: DeliveryStream, cap: Int) throws(DeliveryError) -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let line = try stream.readLine(max: 1024)
            let sizeText = line.split(separator: ";", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !sizeText.isEmpty, sizeText.utf8.count <= 15, let size = Int(sizeText, radix: 16), size >= 0 else {
                throw DeliveryError("\(stream.endpoint) sent a malformed chunk size")
            }
            if size == 0 {
                while try !stream.readLine(max: 8192).isEmpty {}  // trailer fields
                return body
            }
            let take = min(size, cap - body.count)
            body += try stream.read(exactly: take)
            if take < size { return body }  // over the cap: the rest is never read
            guard try stream.readLine(max: 2).isEmpty else { throw DeliveryError("\(stream.endpoint) sent a malformed chunk") }
        }
    }
}

/// `[0-9A-Za-z!#$%&'*+.^_`|~-]`, the characters of an HTTP token (method, header name).
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

/// The parts of an absolute http(s) URL that a request needs.
struct OutboundURL {
    var secure: Bool
    /// Without brackets for IPv6 literals.
    var host: String
    var port: Int
    /// Path and query, never empty ("/" at least); the fragment is dropped.
    var target: String
    /// The `Host` header value: the host (bracketed if IPv6) and the port unless it is the default.
    var hostHeader: String

    init(_ url: String) throws(DeliveryError) {
        guard url.utf8.count <= OutboundHTTPClient.maxURLLength else {
            throw DeliveryError("URL is longer than \(OutboundHTTPClient.maxURLLength) characters")
        }
        guard !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw DeliveryError("URL must not contain spaces or control characters")
        }
        guard let schemeEnd = url.range(of: "://") else { throw DeliveryError("URL must start with http:// or https://") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw DeliveryError("URL scheme must be http or https, not \"\(DeliveryError.printable(scheme, limit: 20))\"")
        }
        secure = scheme == "https"
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@") else { throw DeliveryError("URL must not contain credentials (user:password@)") }

        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw DeliveryError("URL has an unclosed [ in its host") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw DeliveryError("URL has junk after its IPv6 host") }
                portPart = after.dropFirst()
            }
            guard let address = DeliveryStream.ipAddressBytes(String(hostPart)), address.count == 16 else {
                throw DeliveryError("URL host [\(DeliveryError.printable(String(hostPart), limit: 60))] is not an IPv6 address")
            }
        } else {
            hostPart = authority
            if let colon = authority.lastIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            }
            let allowed = hostPart.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D
                    || byte == 0x2E || byte == 0x5F
            }
            guard allowed else {
                throw DeliveryError("URL host \"\(DeliveryError.printable(String(hostPart), limit: 60))\" has characters a host name cannot have")
            }
        }
        guard !hostPart.isEmpty else { throw DeliveryError("URL has no host") }
        host = String(hostPart).lowercased()

        let defaultPort = secure ? 443 : 80
        if let portPart, !portPart.isEmpty {
            guard portPart.utf8.count <= 5, portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(portPart),
                  (1...65535).contains(number)
            else {
                throw DeliveryError("URL port \"\(DeliveryError.printable(String(portPart), limit: 20))\" is not a number from 1 to 65535")
            }
            port = number
        } else {
            port = defaultPort
        }

        var target = String(rest[authorityEnd...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if !target.hasPrefix("/") { target = "/" + target }
        // Characters outside ASCII are sent percent-encoded (as UTF-8).
        self.target = target.utf8.contains { $0 >= 0x80 }
            ? target.utf8.map { $0 >= 0x80 ? "%" + String($0, radix: 16, uppercase: true) : String(UnicodeScalar($0)) }.joined()
            : target

        let bracketed = host.contains(":") ? "[\(host)]" : host
        hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }
}
