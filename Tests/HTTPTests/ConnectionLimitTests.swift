import Core
import Foundation
@testable import HTTP
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14 item 4: one address cannot exhaust the server with silent connections. A connection that sends no
/// complete head is closed after the header timeout counted from accept (not the idle timeout), and one client IP
/// holds at most `maxConnectionsPerAddress` connections.
@Suite struct ConnectionLimitTests {
    @Test func aSilentConnectionIsClosedAfterTheHeaderTimeoutCountedFromAccept() throws {
        let server = try TestHTTPServer {
            $0.headerTimeout = 0.5
            $0.idleTimeout = 60
        }
        defer { server.stop() }
        let start = monotonicNow()
        let silent = try RawConnection(port: server.port, timeout: 10)
        #expect(silent.readEnd() == .eof)
        let elapsed = monotonicNow() - start
        #expect(elapsed >= 0.4, "closed after \(elapsed) s, before the header timeout")
        #expect(elapsed < 3, "closed only after \(elapsed) s (the idle timeout is 60 s)")
        #expect(server.handled.values.isEmpty)
    }

    @Test func aKeepAliveConnectionBetweenRequestsIsGovernedByTheIdleTimeoutNotTheHeaderTimeout() throws {
        let server = try TestHTTPServer {
            $0.headerTimeout = 0.5
            $0.idleTimeout = 60
        }
        defer { server.stop() }
        let connection = try RawConnection(port: server.port, timeout: 10)
        try connection.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        Thread.sleep(forTimeInterval: 1.2)
        try connection.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        let second = try connection.readResponse()
        #expect(second.status == 200 && second.echo("path") == "/second")
    }

    @Test func theCapRefusesOneConnectionTooManyFromOneAddressAndOthersAreServed() throws {
        let server = try TestHTTPServer { $0.maxConnectionsPerAddress = 3 }
        defer { server.stop() }
        var open: [RawConnection] = []
        for index in 0..<3 {
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /held\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
            open.append(connection)
        }
        // The fourth from 127.0.0.1 is closed at once, before any request.
        let refused = try RawConnection(port: server.port, timeout: 5)
        let end = refused.readEnd()
        #expect(end == .eof || end == .reset, "\(end)")

        // Another address is not affected.
        let other = try RawConnection(port: server.port, source: "127.0.0.2")
        try other.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let otherResponse = try other.readResponse()
        #expect(otherResponse.status == 200 && otherResponse.echo("remote")?.hasPrefix("127.0.0.2:") == true)

        // Once some close, 127.0.0.1 is served again.
        open.removeLast(2)
        let served = RawConnection.firstServed("/healthz", port: server.port, within: 5)
        #expect(served?.status == 200 && served?.echo("path") == "/healthz")
        #expect(server.server.perAddress.withLock { $0["127.0.0.1"] ?? 0 } <= 3)
    }

    @Test func addressKeysDropThePort() {
        #expect(HTTPServer.addressKey("127.0.0.1:5555") == "127.0.0.1")
        #expect(HTTPServer.addressKey("[::1]:80") == "[::1]")
    }
}

extension RawConnection {
    /// Sends `GET path` on fresh connections until one is answered (a freed slot may take a moment), for `seconds`.
    static func firstServed(_ path: String, port: Int, within seconds: Double) -> RawResponse? {
        let start = monotonicNow()
        while monotonicNow() - start < seconds {
            do {
                let connection = try RawConnection(port: port, timeout: 2)
                try connection.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                return try connection.readResponse()
            } catch {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        return nil
    }

    /// Connects to 127.0.0.1:`port` from the loopback address `source` (any 127.x.y.z works on Linux).
    convenience init(port: Int, source: String, timeout: Double = 10) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError(description: "socket failed: \(errno)") }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, connected == 0 else {
            Glibc.close(fd)
            throw RawSocketError(description: "bind/connect from \(source) failed: \(errno)")
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.init(adopting: fd)
    }
}
