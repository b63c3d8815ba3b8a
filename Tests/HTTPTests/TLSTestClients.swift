import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test clients made directly with OpenSSL (independent of the server's `TLSSession`), verifying the server's
/// certificate against the test CA and checking the host name `localhost`.
enum TestTLS {
    /// A client `SSL_CTX` limited to `versions`, offering `alpn` (nil: no ALPN), trusting `caFile`.
    static func clientContext(versions: ClosedRange<Int32> = TLS1_2_VERSION...TLS1_3_VERSION, alpn: [String]? = ["http/1.1"],
                              caFile: String) -> OpaquePointer {
        let context = SSL_CTX_new(TLS_client_method())!
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(versions.lowerBound), nil)
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(versions.upperBound), nil)
        _ = SSL_CTX_load_verify_locations(context, caFile, nil)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let alpn {
            let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            _ = SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count))
        }
        return context
    }

    /// The subject of the certificate the server presented (`/CN=…`).
    static func peerSubject(_ ssl: OpaquePointer) -> String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let text = X509_NAME_oneline(X509_get_subject_name(certificate), nil, 0) else { return nil }
        defer { CRYPTO_free(text, #fileID, #line) }
        return String(cString: text)
    }

    /// A C string that OpenSSL wrote into `buffer`.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func alpn(_ ssl: OpaquePointer) -> String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }
}

/// A TLS client over memory BIOs: the tests move its ciphertext to and from a server `TLSSession` by hand.
final class MemoryTLSClient {
    let context: OpaquePointer
    let ssl: OpaquePointer
    private let incoming: OpaquePointer
    private let outgoing: OpaquePointer

    init(context: OpaquePointer) {
        self.context = context
        ssl = SSL_new(context)!
        incoming = BIO_new(BIO_s_mem())!
        outgoing = BIO_new(BIO_s_mem())!
        SSL_set_bio(ssl, incoming, outgoing)
        SSL_set_connect_state(ssl)
        _ = SSL_set1_host(ssl, "localhost")
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }
    var version: String { String(cString: SSL_get_version(ssl)) }

    /// Advances the handshake; true once it is complete. Throws when it failed (an alert, a bad certificate).
    func step() throws -> Bool {
        let result = SSL_do_handshake(ssl)
        if result == 1 { return true }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ { return false }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(ERR_get_error(), &buffer, buffer.count)
        throw TLSClientFailure(reason: TestTLS.text(buffer))
    }

    func feed(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        _ = bytes.withUnsafeBytes { BIO_write(incoming, $0.baseAddress, Int32($0.count)) }
    }

    func takeCiphertext() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(outgoing))
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        _ = bytes.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32(pending)) }
        return bytes
    }

    func write(_ plaintext: [UInt8]) {
        var written = 0
        _ = plaintext.withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }
    }

    /// Every plaintext byte the fed records hold.
    func read() -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            var count = 0
            guard buffer.withUnsafeMutableBytes({ SSL_read_ex(ssl, $0.baseAddress, $0.count, &count) }) == 1 else { break }
            result += buffer[0..<count]
        }
        return result
    }
}

struct TLSClientFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { "TLS client: \(reason)" }
}

/// A blocking TLS client over a real socket, for the in-process server tests.
final class SocketTLSClient {
    let ssl: OpaquePointer
    let fd: Int32
    private var buffered: [UInt8] = []

    /// Connects to 127.0.0.1:`port` and completes the handshake (throws when it fails).
    init(port: Int, context: OpaquePointer) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        ssl = SSL_new(context)!
        _ = SSL_set1_host(ssl, "localhost")
        guard connected == 0 else {
            SSL_free(ssl)
            Glibc.close(fd)
            throw TLSClientFailure(reason: "connect: errno \(errno)")
        }
        SSL_set_fd(ssl, fd)
        guard SSL_connect(ssl) == 1 else {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(ERR_get_error(), &buffer, buffer.count)
            SSL_free(ssl)
            Glibc.close(fd)
            throw TLSClientFailure(reason: "handshake: \(TestTLS.text(buffer))")
        }
    }

    deinit {
        SSL_free(ssl)
        Glibc.close(fd)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var written = 0
        guard bytes.withUnsafeBytes({ SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }) == 1 else {
            throw TLSClientFailure(reason: "write failed")
        }
    }

    /// Reads one response with a `Content-Length` body: (status, headers text, body).
    func readResponse() throws -> (status: Int, head: String, body: [UInt8]) {
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffered[0..<end], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if buffered.count >= end + 4 + length {
                    let body = Array(buffered[(end + 4)..<(end + 4 + length)])
                    buffered.removeFirst(end + 4 + length)
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    return (status, head, body)
                }
            }
            guard try fill() else { throw TLSClientFailure(reason: "connection closed mid-response") }
        }
    }

    /// True when the server closed the TLS connection (close_notify or EOF) before sending anything more.
    func isClosedByPeer() -> Bool { (try? fill()) == false }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var count = 0
        guard chunk.withUnsafeMutableBytes({ SSL_read_ex(ssl, $0.baseAddress, $0.count, &count) }) == 1 else {
            ERR_clear_error()   // close_notify, EOF, a timeout or a reset: nothing more to read
            return false
        }
        buffered += chunk[0..<count]
        return true
    }

    private func headEnd() -> Int? {
        guard buffered.count >= 4 else { return nil }
        for index in 0...(buffered.count - 4) where buffered[index] == 13 && buffered[index + 1] == 10 && buffered[index + 2] == 13 && buffered[index + 3] == 10 {
            return index
        }
        return nil
    }
}
