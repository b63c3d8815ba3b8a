import Core
import Foundation
import HTTP
#if canImport(Glibc)
import Glibc
#endif

/// A parsed HTTP response as tests see it.
public struct TestResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON (`.null` when it does not parse, which tests then notice).
    public var json: JSON { (try? JSONParser.parse(body)) ?? .null }

    public var code: String? { json["code"]?.stringValue }
}

/// A tiny blocking HTTP/1.1 client for tests, over a raw socket (end-to-end: keeps the connection open between
/// requests and reconnects when the server closed it) or straight into a responder (in-process route tests:
/// the same request value the server would build, no socket, no binary).
public final class HTTPTestClient: @unchecked Sendable {
    public let port: Int
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    public var token: String?
    private let responder: (any HTTPResponder)?

    public init(port: Int, token: String? = nil) {
        self.port = port
        self.token = token
        self.responder = nil
    }

    /// A client whose requests go to `responder` in this process.
    public init(responder: any HTTPResponder, token: String? = nil) {
        self.port = 0
        self.token = token
        self.responder = responder
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        buffer = []
    }

    /// Opens a TCP connection to 127.0.0.1:`port` with a receive timeout.
    /// `receiveBuffer` fixes the socket's receive buffer (no autotuning) before connecting, so that unread
    /// responses back up in the server.
    public static func connect(port: Int, timeout: Double = 30, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError("socket failed: \(errno)") }
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw TestClientError("connect failed: \(errno)")
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends one request and reads its response.
    public func request(_ method: String, _ path: String, json body: JSON? = nil, rawBody: [UInt8]? = nil,
                        headers extra: [(String, String)] = [], token explicitToken: String?? = .none) throws -> TestResponse {
        var bytes: [UInt8] = []
        if let body { bytes = JSONWriter.bytes(body) }
        if let rawBody { bytes = rawBody }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        let bearer: String? = explicitToken ?? token
        if let bearer { head += "Authorization: Bearer \(bearer)\r\n" }
        let hasContentType = extra.contains { $0.0.lowercased() == "content-type" }
        if (body != nil || rawBody != nil), !hasContentType { head += "Content-Type: application/json\r\n" }
        if body != nil || rawBody != nil || method == "POST" || method == "PATCH" || method == "PUT" { head += "Content-Length: \(bytes.count)\r\n" }
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        if let responder { return try respondInProcess(responder, method: method, head: head, body: bytes) }
        let raw = Array(head.utf8) + bytes
        for attempt in 0..<2 {
            if fd < 0 { fd = try Self.connect(port: port) }
            do {
                try send(raw)
                return try readResponse(isHead: method == "HEAD")
            } catch let error as TestClientError where error.retryable && attempt == 0 {
                close()
            }
        }
        throw TestClientError("request failed")
    }

    /// The in-process path: the head's lines become the request's headers, as the server's parser would make them.
    private func respondInProcess(_ responder: any HTTPResponder, method: String, head: String, body: [UInt8]) throws -> TestResponse {
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let start = lines.removeFirst().split(separator: " ")
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response: Response
        do {
            var request = try Request(method: HTTPMethod(method), target: String(start[1]), headers: headers, body: body)
            request.remoteAddress = "127.0.0.1"
            response = responder.respond(to: request)
        } catch {
            response = .error(error)   // what the server answers for a target it cannot decode
        }
        if let pending = response.pending {
            // A deferred answer (ingestion waits for its commit): what the server would send once it is known.
            switch pending.wait() {
            case .success(let answer): response = answer
            case .failure(let error): response = .error((error as? any PlatformError) ?? APIError.internalError("deferred response failed"))
            }
        }
        var fields = response.headers.fields.map { ($0.name, $0.value) }
        fields.append(("Content-Length", String(response.bodyLength)))
        let body = response.file?.bytes() ?? response.body
        return TestResponse(status: response.status, headers: fields, body: method == "HEAD" ? [] : body)
    }

    public func get(_ path: String) throws -> TestResponse { try request("GET", path) }
    public func post(_ path: String, _ body: JSON) throws -> TestResponse { try request("POST", path, json: body) }
    public func patch(_ path: String, _ body: JSON) throws -> TestResponse { try request("PATCH", path, json: body) }
    public func delete(_ path: String) throws -> TestResponse { try request("DELETE", path) }

    private func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw TestClientError("send failed: \(errno)", retryable: offset == 0) }
            offset += n
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw TestClientError("connection closed", retryable: buffer.isEmpty) }
        if n < 0 { throw TestClientError("recv failed: \(errno)") }
        buffer.append(contentsOf: chunk[0..<n])
    }

    private func readResponse(isHead: Bool) throws -> TestResponse {
        while true {
            if let end = findHeaderEnd() {
                let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestClientError("bad status line") }
                let headers = lines.compactMap { line -> (String, String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                if status == 100 {
                    buffer.removeFirst(end + 4)
                    continue
                }
                let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
                let bodyLength = isHead || status == 204 || status == 304 ? 0 : length
                while buffer.count < end + 4 + bodyLength { try fill() }
                let body = Array(buffer[(end + 4)..<(end + 4 + bodyLength)])
                buffer.removeFirst(end + 4 + bodyLength)
                if headers.contains(where: { $0.0.lowercased() == "connection" && $0.1.lowercased() == "close" }) { close() }
                return TestResponse(status: status, headers: headers, body: body)
            }
            try fill()
        }
    }

    private func findHeaderEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

/// A test client failure (connection refused, timeout, unparsable response).
public struct TestClientError: Error, CustomStringConvertible {
    public let description: String
    let retryable: Bool
    init(_ description: String, retryable: Bool = false) {
        self.description = description
        self.retryable = retryable
    }
}
