import Foundation
import Glibc
import Network
import Synchronization
import Testing

/// The client stack against a loopback listener served by a thread of the test.
@Suite struct NetworkStreamTests {
    /// Listens on 127.0.0.1 (a free port), accepts one connection and runs `serve` on it in a thread.
    ///
    /// The accepting thread owns the listening descriptor and closes it once `accept` returns; `deinit` only shuts it
    /// down (waking that `accept`) while it is still open. Closing it from here instead let a descriptor number that another
    /// suite reused meanwhile be accepted on by this thread: a parallel test's connection stolen ("connection closed by").
    final class OneShotServer: @unchecked Sendable {
        let port: Int
        private let listener: Int32
        /// Shared with the accepting thread (which must not keep the server alive).
        private final class Shared: Sendable { let closed = Mutex(false) }
        private let shared = Shared()

        init(_ serve: @escaping @Sendable (Int32) -> Void) throws {
            listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = listener
            let ok = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard ok else {
                close(fd)
                throw NetworkError(.io, "cannot listen")
            }
            port = Int(UInt16(bigEndian: address.sin_port))
            let shared = shared
            Thread.detachNewThread {
                let client = accept(fd, nil, nil)
                shared.closed.withLock { isClosed in
                    isClosed = true
                    close(fd)
                }
                guard client >= 0 else { return }
                serve(client)
                close(client)
            }
        }

        deinit {
            let fd = listener
            shared.closed.withLock { isClosed in if !isClosed { shutdown(fd, Int32(SHUT_RDWR)) } }
        }
    }

    static func send(_ fd: Int32, _ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    @Test func linesExactReadsAndWritesWithBuffering() throws {
        let server = try OneShotServer { fd in
            Self.send(fd, "220 hello\r\nbare\nABCDE")
            var buffer = [UInt8](repeating: 0, count: 5)
            var got = 0
            while got < 5 {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, 5 - got, 0) }
                if count <= 0 { return }
                got += count
            }
            Self.send(fd, "echo:" + String(decoding: buffer, as: UTF8.self))
        }
        defer { withExtendedLifetime(server) {} }  // the listener lives until the test ends
        let stream = try NetworkStream.connect(host: "127.0.0.1", port: server.port, timeout: 5)
        defer { stream.close() }
        #expect(try stream.readLine() == "220 hello")
        #expect(try stream.readLine() == "bare")
        #expect(try stream.read(exactly: 5) == Array("ABCDE".utf8))
        try stream.write("12345")
        #expect(try stream.read(exactly: 10) == Array("echo:12345".utf8))
        #expect(try stream.read(max: 10).isEmpty)  // the server closed
    }

    @Test func aReadPastItsDeadlineTimesOut() throws {
        let server = try OneShotServer { _ in usleep(1_500_000) }
        defer { withExtendedLifetime(server) {} }  // the listener lives until the test ends
        let stream = try NetworkStream.connect(host: "127.0.0.1", port: server.port, timeout: 5)
        defer { stream.close() }
        do {
            _ = try stream.read(max: 1, deadline: .after(seconds: 0.2))
            Issue.record("a read returned from a silent peer")
        } catch {
            #expect(error.kind == .timeout)
            #expect(error.message.contains("127.0.0.1:\(server.port)"))
        }
        #expect(!stream.waitReadable(deadline: .after(seconds: 0.05)))
    }

    @Test func refusedConnectionsAndRefusedAddresses() throws {
        do {
            _ = try NetworkStream.connect(host: "127.0.0.1", port: 1, timeout: 5)
            Issue.record("connected to port 1")
        } catch {
            #expect(error.kind == .connect)
        }
        let server = try OneShotServer { _ in }
        defer { withExtendedLifetime(server) {} }  // the listener lives until the test ends
        do {
            _ = try NetworkStream.connect(host: "127.0.0.1", port: server.port, timeout: 5) { $0.ipBytes != [127, 0, 0, 1] }
            Issue.record("a refused address was connected to")
        } catch {
            #expect(error.kind == .invalidAddress)
        }
        #expect(throws: NetworkError.self) { try NetworkStream.connect(host: "bad host", port: 80, timeout: 1) }
    }

    @Test func digestsMatchKnownValues() {
        #expect(Crypto.hex(Crypto.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Crypto.hex(Crypto.md5(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        // RFC 4231 test case 2.
        #expect(Crypto.hex(Crypto.hmacSHA256(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Crypto.base64URL([0xFB, 0xFF]) == "-_8")
    }
}
