import COpenSSL
import Core
import Foundation
@testable import HTTP
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `TLSStream`, the `ByteStream` the event loop uses for HTTPS, over one end of a socket pair; the test plays the client
/// with OpenSSL over memory BIOs and moves its ciphertext through the other end by hand.
@Suite struct TLSStreamTests {
    /// A server `TLSStream` on a non-blocking socket and a client that finished the handshake with it.
    final class Pair {
        let directory: TemporaryDirectory
        let client: MemoryTLSClient
        var stream: TLSStream
        /// The client's end of the socket pair (blocking reads are not used: it is drained with MSG_DONTWAIT).
        let peer: Int32
        let server: Int32

        init(serverSendBuffer: Int32? = nil) throws {
            let (directory, certificate) = try TLSSessionTests.certificate()
            self.directory = directory
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw TLSClientFailure(reason: "socketpair") }
            server = fds[0]
            peer = fds[1]
            Posix.setNonBlocking(server)
            if var size = serverSendBuffer {
                setsockopt(server, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            let context = try TLSContext(certificatePath: certificate.certificatePath, privateKeyPath: certificate.privateKeyPath)
            stream = TLSStream(socket: SocketStream(fd: server), session: try context.makeSession(), logger: Logger(level: .error),
                               remoteAddress: "test")
            client = MemoryTLSClient(context: TestTLS.clientContext(caFile: certificate.certificatePath))
            var scratch = [UInt8](repeating: 0, count: 4_096)
            for _ in 0..<20 {
                let done = try client.step()
                sendClientCiphertext()
                let result = scratch.withUnsafeMutableBytes { stream.read(into: $0) }
                #expect(result == .wouldBlock, "the handshake yields no plaintext")
                client.feed(receiveAll()[...])
                if done, stream.session.isHandshakeComplete { return }
            }
            throw TLSClientFailure(reason: "handshake did not finish")
        }

        deinit {
            stream.close()
            Glibc.close(peer)
            directory.remove()
        }

        func sendClientCiphertext() {
            let bytes = client.takeCiphertext()
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { send(peer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { return }
                offset += sent
            }
        }

        /// Everything the server sent so far.
        func receiveAll() -> [UInt8] {
            var result: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard count > 0 else { return result }
                result += chunk[0..<count]
            }
        }
    }

    @Test func plaintextThatDoesNotFitTheBufferAndACloseNotifyWaitInTheStreamAsBufferedInput() throws {
        let pair = try Pair()
        let sent = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        pair.client.write(sent)
        _ = SSL_shutdown(pair.client.ssl)   // close_notify right behind the data, the socket stays open
        pair.sendClientCiphertext()

        // A small buffer: a record's plaintext comes out of the stream in pieces, without the socket.
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1_000)
        var sawBufferedInput = false
        var end: StreamResult?
        for _ in 0..<10_000 {
            let result = buffer.withUnsafeMutableBytes { pair.stream.read(into: $0) }
            switch result {
            case .bytes(let count):
                received += buffer[0..<count]
                sawBufferedInput = sawBufferedInput || pair.stream.hasBufferedInput
            case .wouldBlock:
                continue   // the socket holds the rest: the loop would wait for epoll here
            default:
                end = result
            }
            if end != nil { break }
        }
        #expect(received.count == sent.count)
        let sameSent = received == sent
        #expect(sameSent, "the plaintext, in order")
        #expect(sawBufferedInput)
        #expect(end == .endOfInput)
        #expect(!pair.stream.hasBufferedInput, "the end was returned: nothing left for the loop to read")
    }

    @Test func aWriteIsAcknowledgedOnlyOnceItsCiphertextIsInTheSocket() throws {
        let pair = try Pair(serverSendBuffer: 4_096)
        let plaintext = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 / 3) }
        var acknowledged = 0
        var decrypted: [UInt8] = []
        var sawWouldBlockWithOutput = false
        for _ in 0..<10_000 where acknowledged < plaintext.count {
            let result = plaintext[acknowledged...].withUnsafeBytes { pair.stream.write($0) }
            switch result {
            case .bytes(let count):
                #expect(count % TLSStream.recordSize == 0 || acknowledged + count == plaintext.count, "whole records")
                acknowledged += count
            case .wouldBlock:
                sawWouldBlockWithOutput = sawWouldBlockWithOutput || pair.stream.hasBufferedOutput
                // What was acknowledged is all in the socket: the client can decrypt at least that much now.
                pair.client.feed(pair.receiveAll()[...])
                decrypted += pair.client.read()
                #expect(decrypted.count >= acknowledged)
            default:
                Issue.record("write failed: \(result)")
                return
            }
        }
        #expect(acknowledged == plaintext.count)
        #expect(sawWouldBlockWithOutput, "a socket that is behind keeps the ciphertext in the stream")
        pair.client.feed(pair.receiveAll()[...])
        decrypted += pair.client.read()
        #expect(decrypted.count == plaintext.count)
        let samePlaintext = decrypted == plaintext
        #expect(samePlaintext, "the plaintext, in order")
    }

    @Test func aFileBodyIsReadAndEncryptedAndAShrunkFileFails() throws {
        let pair = try Pair()
        let path = pair.directory.file("body.bin")
        let content = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        _ = FileManager.default.createFile(atPath: path, contents: Data(content))
        var file = try #require(FileBody(path: path))
        var decrypted: [UInt8] = []
        while file.length > 0 {
            let result = pair.stream.write(file: file, count: Int(file.length))
            if case .bytes(let count) = result { file.advance(by: Int64(count)) }
            pair.client.feed(pair.receiveAll()[...])
            decrypted += pair.client.read()
            if case .failed = result { Issue.record("write failed"); return }
        }
        #expect(decrypted.count == content.count)
        let sameContent = decrypted == content
        #expect(sameContent, "the file, in order")

        var truncated = try #require(FileBody(path: path))
        truncated.select(0...99_999)
        _ = truncate(path, 10)
        truncated.advance(by: 50)
        #expect(pair.stream.write(file: truncated, count: 1_000) == .failed(EIO))
    }

    @Test func theHalfCloseWaitsForTheCiphertextAndSendsCloseNotifyFirst() throws {
        let pair = try Pair(serverSendBuffer: 4_096)
        let plaintext = [UInt8](repeating: 0x61, count: 200_000)
        var acknowledged = 0
        while acknowledged < plaintext.count {
            guard case .bytes(let count) = plaintext[acknowledged...].withUnsafeBytes({ pair.stream.write($0) }) else { break }
            acknowledged += count
        }
        #expect(pair.stream.hasBufferedOutput)
        pair.stream.shutdownWrite()
        // The socket's write side is still open: what the client drains is followed by more ciphertext, not EOF.
        var decrypted: [UInt8] = []
        for _ in 0..<10_000 {
            pair.client.feed(pair.receiveAll()[...])
            decrypted += pair.client.read()
            if !pair.stream.hasBufferedOutput { break }
            let flushed = pair.stream.flush()
            #expect(flushed != .failed(EPIPE))
        }
        pair.client.feed(pair.receiveAll()[...])
        decrypted += pair.client.read()
        #expect(decrypted.count >= max(acknowledged, 1) && decrypted.allSatisfy { $0 == 0x61 },
                "every encrypted record arrived before the shutdown")
        #expect(SSL_get_shutdown(pair.client.ssl) & SSL_RECEIVED_SHUTDOWN != 0, "close_notify arrived")
        var byte: UInt8 = 0
        #expect(recv(pair.peer, &byte, 1, Int32(MSG_DONTWAIT)) == 0, "then the socket's write side was shut")
    }
}
