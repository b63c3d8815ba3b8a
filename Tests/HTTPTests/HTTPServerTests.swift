import Core
import Foundation
@testable import HTTP
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Fixtures

/// An in-process server on a free port with an echo responder. Every test owns its own instance.
final class TestHTTPServer: Sendable {
    let server: HTTPServer
    let port: Int
    /// The path of every request handled, in the order the handlers ran.
    let handled = Recorder()
    /// `"<path> <thread>"` for every request handled: which thread (`pthread_self()`) ran its handler.
    let threads = Recorder()

    /// `onRequest` runs on the handler's thread before the echo (and before `/sleep` sleeps). `mayBlock` says which
    /// requests run on the blocking worker pool (default: all of them, as `ClosureResponder`'s default).
    init(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
         mayBlock: @escaping @Sendable (HTTPMethod, String) -> Bool = { _, _ in true },
         onRequest: (@Sendable (Request) -> Void)? = nil) throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.workerThreads = 8
        configure(&configuration)
        let handled = handled, threads = threads
        server = HTTPServer(configuration: configuration, responder: ClosureResponder(mayBlock: mayBlock) { request in
            handled.append(request.path)
            threads.append("\(request.path) \(pthread_self())")
            onRequest?(request)
            return TestHTTPServer.echo(request)
        }, logger: Logger(level: .error))
        port = try server.start()
    }

    /// A server whose handlers run on its `loops` event loops, except `/sleep` (marked blocking), which runs on a pool
    /// of 4 workers; `configure` runs last.
    static func inline(loops: Int = 2, _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws -> TestHTTPServer {
        try TestHTTPServer({
            $0.workerThreads = 4
            $0.eventLoops = loops
            configure(&$0)
        }, mayBlock: { _, path in path == "/sleep" })
    }

    func stop() { server.shutdown(gracePeriod: 1) }

    /// A client that pipelines seven `GET /big` requests (`pause` seconds apart, after the first has had 0.3 s) without
    /// reading: after `settle` more seconds only the first has been handled, since its response is still unread. Once
    /// the client reads, all seven answers arrive whole, in order, and all seven have been handled.
    func expectUnreadResponsesDoNotPileUp(pause: Double, settle: Double, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let connection = try RawConnection(port: port, receiveBuffer: 4096)
        try connection.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.3)
        for index in 1...6 {
            try connection.send("GET /big?x=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: pause)
        }
        Thread.sleep(forTimeInterval: settle)
        #expect(handled.values.count == 1, "handled \(handled.values.count) requests while the first response was unread",
                sourceLocation: sourceLocation)
        for index in 0...6 {
            let response = try connection.readResponse()
            #expect(response.status == 200, sourceLocation: sourceLocation)
            #expect(response.body.count == TestHTTPServer.bigBodyBytes, "response \(index)", sourceLocation: sourceLocation)
        }
        #expect(handled.values.count == 7, sourceLocation: sourceLocation)
    }

    /// Echoes what the handler saw, one `name=value` per line, the body last. `/sleep?s=…` sleeps first;
    /// `/head` answers a fixed text whatever the method.
    static func echo(_ request: Request) -> Response {
        if request.path == "/sleep" {
            Thread.sleep(forTimeInterval: Double(request.query["s"] ?? "") ?? 2)
        }
        if request.path == "/head" { return .text(headBody) }
        if request.path == "/big" { return Response(body: [UInt8](repeating: UInt8(ascii: "b"), count: bigBodyBytes)) }
        let lines = [
            "method=\(request.method.rawValue)",
            "path=\(request.path)",
            "x=\(request.query["x"] ?? "")",
            "length=\(request.body.count)",
            "remote=\(request.remoteAddress)",
            "body=\(String(decoding: request.body, as: UTF8.self))",
        ]
        return .text(lines.joined(separator: "\n"))
    }

    static let headBody = "a fixed body for the HEAD test"
    /// More than the kernel buffers of a loopback connection hold when the client keeps a small receive buffer.
    static let bigBodyBytes = 8 << 20
}

/// A thread-safe list of strings.
final class Recorder: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ value: String) { storage.withLock { $0.append(value) } }
    var values: [String] { storage.withLock { $0 } }
}

/// A response as read off a raw socket.
struct RawResponse {
    let statusLine: String
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// A field of the echo responder's body.
    func echo(_ name: String) -> String? {
        if name == "body" {
            guard let range = text.range(of: "\nbody=") else { return nil }
            return String(text[range.upperBound...])
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where line.hasPrefix("\(name)=") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }
}

/// How a read on a connection ended.
enum ReadEnd: Equatable {
    /// Orderly close (recv returned 0).
    case eof
    /// The peer reset the connection.
    case reset
    /// Nothing arrived within the receive timeout.
    case timeout
    /// Unexpected bytes arrived.
    case data(Int)
    case error(Int32)
}

struct RawSocketError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking client socket with a receive timeout, for protocol-level tests.
final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(port: Int, timeout: Double = 10) throws { fd = try HTTPTestClient.connect(port: port, timeout: timeout) }

    /// Takes over a connected socket.
    init(adopting fd: Int32) { self.fd = fd }

    /// Connects with a small, fixed receive buffer (no autotuning), so that unread responses back up in the server.
    init(port: Int, receiveBuffer: Int32, timeout: Double = 10) throws {
        fd = try HTTPTestClient.connect(port: port, timeout: timeout, receiveBuffer: receiveBuffer)
    }

    deinit { close() }

    func close() {
        if !closed { Glibc.close(fd) }
        closed = true
    }

    /// The local port of the socket (the server sees the client as 127.0.0.1:localPort).
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw RawSocketError(description: "send failed: errno \(errno)") }
            offset += count
        }
    }

    /// Writes all of `text` in a single `send` call.
    func sendInOneCall(_ text: String) throws {
        let bytes = Array(text.utf8)
        let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard count == bytes.count else { throw RawSocketError(description: "single send wrote \(count) of \(bytes.count)") }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count == 0 { throw RawSocketError(description: "connection closed by the server") }
        if count < 0 { throw RawSocketError(description: "recv failed: errno \(errno)") }
        buffer.append(contentsOf: chunk[0..<count])
    }

    /// Bytes received but not yet consumed by `readResponse`.
    var buffered: Int { buffer.count }

    /// Reads one response (a 1xx response is returned as is). `head`: the response to a HEAD request (no body).
    func readResponse(head: Bool = false) throws -> RawResponse {
        while true {
            if let end = headEnd() {
                let lines = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
                let statusLine = lines[0]
                let fields = statusLine.split(separator: " ")
                guard fields.count >= 2, fields[0].hasPrefix("HTTP/1."), let status = Int(fields[1]) else {
                    throw RawSocketError(description: "bad status line \(statusLine)")
                }
                let headers = lines.dropFirst().compactMap { line -> (String, String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                var length = 0
                if !head, status >= 200, status != 204, status != 304 {
                    guard let declared = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) else {
                        throw RawSocketError(description: "response without Content-Length")
                    }
                    length = declared
                }
                while buffer.count < end + 4 + length { try fill() }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return RawResponse(statusLine: statusLine, status: status, headers: headers, body: body)
            }
            try fill()
        }
    }

    /// Reads until the server closes (or the receive timeout passes); any byte is reported as `.data`.
    func readEnd() -> ReadEnd {
        if !buffer.isEmpty { return .data(buffer.count) }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return .eof }
            if count > 0 { return .data(count) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .timeout }
            if code == ECONNRESET { return .reset }
            return .error(code)
        }
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Runs `work` on its own thread (not the Swift concurrency pool); the semaphore is signalled when it ends.
func onThread(_ work: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        work()
        done.signal()
    }
    thread.start()
    return done
}

func monotonicNow() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

// MARK: - Tests

@Suite struct HTTPServerTests {
    @Test func severalRequestsShareOneKeepAliveConnection() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        var remotes: Set<String> = []
        for index in 0..<4 {
            if index == 2 {
                try connection.send("POST /k2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            } else {
                try connection.send("GET /k\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Connection") == nil)
            #expect(response.echo("path") == "/k\(index)")
            #expect(response.echo("length") == (index == 2 ? "5" : "0"))
            remotes.insert(response.echo("remote") ?? "?")
        }
        // Every request came over the same TCP connection: the server saw one peer address, ours.
        #expect(remotes == ["127.0.0.1:\(connection.localPort)"])
        #expect(server.handled.values == ["/k0", "/k1", "/k2", "/k3"])
    }

    @Test func pipelinedRequestsInOneSendAreAnsweredInOrder() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        // The first one is slow, so answering out of order would show.
        try connection.sendInOneCall("GET /sleep?s=0.3&x=first HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
            + "GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try connection.readResponse()
        let second = try connection.readResponse()
        let third = try connection.readResponse()
        #expect([first.status, second.status, third.status] == [Int](repeating: 200, count: 3))
        #expect(first.echo("path") == "/sleep")
        #expect(first.echo("x") == "first")
        #expect(second.echo("path") == "/second")
        #expect(second.echo("body") == "xyz")
        #expect(third.echo("path") == "/third")
        #expect(connection.buffered == 0)
        #expect(server.handled.values == ["/sleep", "/second", "/third"])
    }

    @Test func pipelinedRequestsWaitUntilTheCurrentResponseIsWritten() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        // A client that pipelines requests but does not read: its responses must not pile up in the server.
        try server.expectUnreadResponsesDoNotPileUp(pause: 0.1, settle: 0.5)
    }

    @Test func aMalformedPipelinedRequestIsAnsweredAfterTheOnesBeforeIt() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.sendInOneCall("GET /sleep?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try connection.readResponse()
        #expect(first.status == 200)
        #expect(first.echo("path") == "/sleep")
        let second = try connection.readResponse()
        #expect(second.status == 400)
        #expect(second.header("Connection") == "close")
        #expect(connection.readEnd() == .eof)
        #expect(server.handled.values == ["/sleep"])
    }

    @Test func chunkedRequestBodyReachesTheHandlerWhole() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWi")
        Thread.sleep(forTimeInterval: 0.05)
        try connection.send("ki\r\n5;ext=a\r\npedia\r\nE\r\n in\r\n\r\nch")
        Thread.sleep(forTimeInterval: 0.05)
        try connection.send("unks.\r\n0\r\nX-Trailer: t\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.echo("length") == "23")
        #expect(response.echo("body") == "Wikipedia in\r\n\r\nchunks.")
        // The trailers were consumed: the connection goes on with the next request.
        try connection.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().echo("path") == "/after")
    }

    @Test func expectContinueGetsAnInterimResponseBeforeTheBody() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try connection.readResponse()
        #expect(interim.statusLine == "HTTP/1.1 100 Continue")
        #expect(interim.status == 100)
        #expect(connection.buffered == 0)
        #expect(server.handled.values.isEmpty)
        try connection.send("hello")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.echo("path") == "/upload")
        #expect(response.echo("body") == "hello")
    }

    @Test func headResponseHasTheLengthButNoBody() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.sendInOneCall("HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /head HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try connection.readResponse(head: true)
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == String(TestHTTPServer.headBody.utf8.count))
        #expect(head.body.isEmpty)
        // The GET response starts right after the HEAD response's header block.
        let get = try connection.readResponse()
        #expect(get.status == 200)
        #expect(get.text == TestHTTPServer.headBody)
        #expect(get.header("Content-Length") == head.header("Content-Length"))
        #expect(connection.buffered == 0)
    }

    @Test func headerBlockOverTheLimitGets431AndTheConnectionCloses() throws {
        let server = try TestHTTPServer { $0.limits.maxHeaderBytes = 1024 }
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 2_000))\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 431)
        #expect(response.header("Connection") == "close")
        #expect(response.text.contains("HEADER_TOO_LARGE"))
        #expect(connection.readEnd() == .eof)
        #expect(server.handled.values.isEmpty)
    }

    @Test func bodyOverTheLimitGets413BeforeTheBodyIsSent() throws {
        let server = try TestHTTPServer { $0.limits.maxBodyBytes = 1000 }
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.header("Connection") == "close")
        #expect(response.text.contains("PAYLOAD_TOO_LARGE"))
        #expect(connection.readEnd() == .eof)
        #expect(server.handled.values.isEmpty)
    }

    @Test func malformedRequestLineGets400ThenACleanClose() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("GARBAGE\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 400)
        #expect(response.header("Connection") == "close")
        #expect(response.text.contains("BAD_REQUEST"))
        #expect(connection.readEnd() == .eof)   // an orderly FIN, not a reset
        #expect(server.handled.values.isEmpty)
    }

    @Test func aTricklingHeadIsDroppedAfterTheHeaderTimeout() throws {
        let server = try TestHTTPServer { $0.headerTimeout = 1.5 }
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        let head = Array("GET /slow HTTP/1.1\r\nHost: x\r\nX-Trickle: one byte every half second\r\n\r\n".utf8)
        // Never the last byte: the head stays incomplete whatever happens.
        let (sent, closedAfter, answered) = trickle(Array(head.dropLast()), on: connection, pauseMilliseconds: 500)
        #expect(!answered, "the server should just close, not answer a partial head")
        #expect(closedAfter != nil, "connection still open after \(sent) bytes")
        #expect(sent < head.count - 1, "the whole head (but its last byte) went through")
        if let closedAfter {
            #expect(closedAfter >= 1.0, "closed after \(closedAfter) s, before the header timeout")
            #expect(closedAfter < 10)
        }
        #expect(server.handled.values.isEmpty)
    }

    @Test func aTricklingBodyIsDroppedAfterTheBodyTimeout() throws {
        // The idle timeout never fires (a byte arrives every 0.3 s); only the body timeout can end this.
        let server = try TestHTTPServer {
            $0.bodyTimeout = 1.5
            $0.idleTimeout = 60
            $0.headerTimeout = 60
        }
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
        // Never the whole body: the request stays incomplete whatever happens.
        let start = monotonicNow()
        let (sent, closedAfter, answered) = trickle(Array(repeating: UInt8(ascii: "b"), count: 999), on: connection, pauseMilliseconds: 300)
        #expect(!answered, "the server should just close, not answer a partial body")
        #expect(closedAfter != nil, "connection still open after \(sent) body bytes in \(monotonicNow() - start) s")
        if let closedAfter {
            #expect(closedAfter >= 1.0, "closed after \(closedAfter) s, before the body timeout")
            #expect(closedAfter < 6, "closed only after \(closedAfter) s")
        }
        #expect(server.handled.values.isEmpty)
    }

    @Test func aBodyThatArrivesWithinTheBodyTimeoutIsAnsweredAndTheTimerEndsWithIt() throws {
        let server = try TestHTTPServer {
            $0.bodyTimeout = 1.5
            $0.idleTimeout = 60
        }
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n")
        // 20 bytes over about a second: slow, but inside the timeout.
        for _ in 0..<20 {
            try connection.send("c")
            Thread.sleep(forTimeInterval: 0.05)
        }
        let first = try connection.readResponse()
        #expect(first.status == 200)
        #expect(first.echo("length") == "20")
        #expect(first.echo("body") == String(repeating: "c", count: 20))
        // The body timer belonged to that request: the keep-alive connection idles past it and is still served.
        Thread.sleep(forTimeInterval: 2.2)
        try connection.send("POST /again HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc")
        let second = try connection.readResponse()
        #expect(second.status == 200)
        #expect(second.echo("path") == "/again" && second.echo("body") == "abc")
        #expect(server.handled.values == ["/upload", "/again"])
    }

    @Test func aSlowHandlerDoesNotDelayAConcurrentFastRequest() throws {
        let slowStarted = DispatchSemaphore(value: 0)
        let server = try TestHTTPServer(onRequest: { request in
            if request.path == "/sleep" { slowStarted.signal() }
        })
        defer { server.stop() }
        let order = Recorder()
        let port = server.port
        let slowDone = onThread {
            do {
                let response = try HTTPTestClient(port: port).get("/sleep?s=2")
                order.append("slow \(response.status)")
            } catch {
                order.append("slow failed: \(error)")
            }
        }
        #expect(slowStarted.wait(timeout: .now() + 10) == .success)
        let fast = try HTTPTestClient(port: port).get("/fast")
        order.append("fast \(fast.status)")
        #expect(slowDone.wait(timeout: .now() + 20) == .success)
        #expect(order.values == ["fast 200", "slow 200"])
    }

    @Test func aClientResetDuringASlowHandlerFreesItsConnectionAtOnce() throws {
        let slowStarted = DispatchSemaphore(value: 0)
        let server = try TestHTTPServer({ $0.maxConnections = 1 }, onRequest: { request in
            if request.path == "/sleep" { slowStarted.signal() }
        })
        defer { server.stop() }
        let doomed = try RawConnection(port: server.port)
        try doomed.send("GET /sleep?s=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(slowStarted.wait(timeout: .now() + 10) == .success)
        // Reset (not a FIN): SO_LINGER 0, then close.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(doomed.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        doomed.close()

        // The only connection slot must be free again long before the handler returns (4 s): the server notices
        // the hangup instead of keeping (and, level-triggered, spinning on) the dead socket.
        let served = RawConnection.firstServed("/next", port: server.port, within: 2)
        #expect(served?.status == 200)
        #expect(served?.echo("path") == "/next")
    }

    @Test func thousandsOfIdleKeepAliveConnectionsStayOpenWhileAnotherClientIsServed() throws {
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        }
        // Client and server ends both live in this process.
        try #require(limit.rlim_cur >= 10_500, "RLIMIT_NOFILE hard limit \(limit.rlim_max) is too low for 5 000 connections")

        // All 5 000 come from 127.0.0.1, and they never send a head: both defences against one address hoarding
        // connections (the per-address cap, the header timeout counted from accept) are set explicitly above them.
        let server = try TestHTTPServer {
            $0.maxConnectionsPerAddress = 6_000
            $0.headerTimeout = 120
        }
        defer { server.stop() }
        var idle: [RawConnection] = []
        defer { for connection in idle { connection.close() } }
        for _ in 0..<5_000 { idle.append(try RawConnection(port: server.port)) }

        // Accepts are FIFO: once this client is served, the server has taken all the idle ones.
        let fresh = try HTTPTestClient(port: server.port).get("/fresh")
        #expect(fresh.status == 200)
        #expect(fresh.text.contains("path=/fresh"))

        var closed = 0
        for connection in idle {
            var byte: UInt8 = 0
            let count = recv(connection.fd, &byte, 1, Int32(MSG_DONTWAIT))
            if !(count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { closed += 1 }
        }
        #expect(closed == 0, "\(closed) idle connections were closed")

        for index in stride(from: 0, to: idle.count, by: 500) {
            try idle[index].send("GET /idle\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try idle[index].readResponse()
            #expect(response.status == 200)
            #expect(response.echo("path") == "/idle\(index)")
        }
    }

    @Test func responsesCarryDateAndContentLengthAndHTTP10ClosesWithoutKeepAlive() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }

        let modern = try RawConnection(port: server.port)
        try modern.send("GET /dated HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try modern.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Content-Length") == String(response.body.count))
        let date = try #require(response.header("Date"))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let parsed = try #require(formatter.date(from: date), "Date \(date) is not an IMF-fixdate")
        #expect(abs(parsed.timeIntervalSinceNow) < 300)
        #expect(formatter.string(from: parsed) == date)

        let old = try RawConnection(port: server.port)
        try old.send("GET /old HTTP/1.0\r\n\r\n")
        let closing = try old.readResponse()
        #expect(closing.status == 200)
        #expect(closing.header("Connection") == "close")
        #expect(closing.header("Content-Length") == String(closing.body.count))
        #expect(closing.header("Date") != nil)
        #expect(closing.echo("path") == "/old")
        #expect(old.readEnd() == .eof)

        // HTTP/1.0 opting in to keep-alive keeps the connection.
        let kept = try RawConnection(port: server.port)
        try kept.send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let first = try kept.readResponse()
        #expect(first.header("Connection")?.lowercased() == "keep-alive")
        try kept.send("GET /two HTTP/1.0\r\n\r\n")
        let second = try kept.readResponse()
        #expect(second.echo("path") == "/two")
        #expect(second.header("Connection") == "close")
        #expect(kept.readEnd() == .eof)
    }

    @Test func percentEncodedTargetsAreDecodedAndInvalidEscapesGet400() throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("GET /a%20b?x=1%202 HTTP/1.1\r\nHost: x\r\n\r\n")
        let decoded = try connection.readResponse()
        #expect(decoded.status == 200)
        #expect(decoded.echo("path") == "/a b")
        #expect(decoded.echo("x") == "1 2")

        try connection.send("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n")
        let invalid = try connection.readResponse()
        #expect(invalid.status == 400)
        #expect(invalid.text.contains("BAD_REQUEST"))

        try connection.send("GET /q?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 400)
        // The handler never saw the undecodable targets.
        #expect(server.handled.values == ["/a b"])
    }

    @Test func gracefulShutdownFinishesInFlightRequestsThenRefusesConnections() throws {
        let slowStarted = DispatchSemaphore(value: 0)
        let server = try TestHTTPServer(onRequest: { request in
            if request.path == "/sleep" { slowStarted.signal() }
        })
        defer { server.stop() }
        let port = server.port

        let idle = try RawConnection(port: port)
        try idle.send("GET /warmup HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().status == 200)

        let busy = try RawConnection(port: port)
        try busy.send("GET /sleep?s=1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(slowStarted.wait(timeout: .now() + 10) == .success)

        server.server.shutdown(gracePeriod: 10)

        // The response was written before shutdown returned (a response still being computed would be
        // 1.5 s away, or never come).
        var descriptor = pollfd(fd: busy.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&descriptor, 1, 200) == 1)
        let response = try busy.readResponse()
        #expect(response.status == 200)
        #expect(response.echo("path") == "/sleep")
        #expect(response.header("Connection") == "close")
        #expect(busy.readEnd() == .eof)
        #expect(idle.readEnd() == .eof)

        #expect(throws: (any Error).self) { _ = try HTTPTestClient.connect(port: port, timeout: 2) }
    }
}

/// Sends `bytes` one at a time, waiting up to `pauseMilliseconds` for an answer after each, for at most 10 s.
/// Returns how many were sent, when (seconds after the first) the server closed, and whether it answered.
func trickle(_ bytes: [UInt8], on connection: RawConnection, pauseMilliseconds: Int32) -> (sent: Int, closedAfter: Double?, answered: Bool) {
    let start = monotonicNow()
    var sent = 0
    while sent < bytes.count, monotonicNow() - start < 10 {
        var byte = bytes[sent]
        if Glibc.send(connection.fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { return (sent, monotonicNow() - start, false) }
        sent += 1
        var descriptor = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, pauseMilliseconds) > 0 {
            var scratch = [UInt8](repeating: 0, count: 1024)
            let count = scratch.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 { return (sent, nil, true) }
            if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return (sent, monotonicNow() - start, false) }
        }
    }
    return (sent, nil, false)
}
