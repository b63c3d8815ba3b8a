import Dispatch
import Foundation
import Glibc
import Synchronization
internal import COpenSSL

/// A failure to deliver an alert (mail or webhook), with a message meant for people:
/// "connect to smtp.example.com:587 timed out after 10 s", "SMTP 554 5.7.1 relay denied", …
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

extension DeliveryError {
    /// `text` with control characters replaced by spaces and its length capped, for quoting peers in errors.
    static func printable(_ text: String, limit: Int) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        return cleaned.count > limit ? String(cleaned.prefix(limit)) + "…" : cleaned
    }
}

/// A blocking TCP client connection in which every step (DNS, connect, each read and write, the
/// TLS handshake) has a deadline of `timeout` seconds; it can be upgraded in place to TLS.
///
/// Optionally `totalTimeout` bounds the whole conversation from the start of `init`, so a peer that
/// drips one byte per step cannot hold the caller for long. Not thread-safe: one thread uses it.
final class NetworkStream {
    let host: String
    let port: Int
    let timeout: Double
    let totalTimeout: Double?
    /// No step waits past this `monotonicSeconds()` value.
    private let overallDeadline: Double?

    private var fd: Int32
    private var ssl: OpaquePointer?
    private var context: OpaquePointer?
    /// After a fatal TLS error OpenSSL must not be asked for a clean shutdown.
    private var tlsFailed = false
    private var pending: [UInt8] = []
    private var pendingStart = 0

    /// True once `startTLS` has succeeded.
    var isTLS: Bool { ssl != nil }

    /// `host:port`, with brackets around IPv6 literals.
    var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Resolves `host` (a name, an IPv4 or an IPv6 literal without brackets) and connects to the
    /// first address that answers, all within `timeout` seconds. Only addresses `policy` permits are tried, and the
    /// socket connects to exactly the address that was checked.
    /// `connectTimeout` (default `timeout`) bounds the lookup and connect.
    init(host: String, port: Int, timeout: Double, connectTimeout: Double? = nil, totalTimeout: Double? = nil,
         policy: OutboundAddressPolicy = .unrestricted) throws(DeliveryError) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.totalTimeout = totalTimeout
        self.overallDeadline = totalTimeout.map { monotonicSeconds() + $0 }
        self.fd = -1
        guard (1...65535).contains(port) else { throw DeliveryError("invalid port \(port) for \(host)") }
        guard !host.isEmpty, !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw DeliveryError("invalid host name \"\(host)\"")
        }
        let connectSeconds = connectTimeout ?? timeout
        let deadline = Swift.min(monotonicSeconds() + connectSeconds, overallDeadline ?? .infinity)
        let resolved = try resolve(deadline: deadline, seconds: connectSeconds)
        let addresses = resolved.filter { policy.permits($0.ipBytes, host: host) }
        guard !addresses.isEmpty else {
            throw DeliveryError("refused: \(host) is not a public address (an operator can allow it in notifications.webhook.allowed_hosts)")
        }
        var lastError = "no address"
        for address in addresses {
            switch connectOne(address, deadline: deadline) {
            case .connected(let socket):
                fd = socket
                return
            case .failed(let reason):
                lastError = reason
            case .timedOut:
                throw DeliveryError("connect to \(endpoint) timed out after \(formatSeconds(connectSeconds))")
            }
        }
        throw DeliveryError("connect to \(endpoint) failed: \(lastError)")
    }

    deinit { close() }

    /// Closes the connection (sending a TLS close_notify if it can without waiting). Safe to call twice.
    func close() {
        if let ssl {
            ERR_clear_error()
            if !tlsFailed, SSL_is_init_finished(ssl) == 1 { _ = SSL_shutdown(ssl) }
            SSL_free(ssl)
            self.ssl = nil
        }
        if let context {
            SSL_CTX_free(context)
            self.context = nil
        }
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
        ERR_clear_error()
    }

    // MARK: Writing

    /// Writes all of `bytes`, waiting at most `timeout` seconds in total.
    func write(_ bytes: [UInt8]) throws(DeliveryError) {
        guard fd >= 0 else { throw DeliveryError("write to \(endpoint) on a closed connection") }
        let deadline = stepDeadline()
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Result { () throws(DeliveryError) in try writeSome(raw.baseAddress! + offset, raw.count - offset, deadline: deadline) }
            }
            offset += try written.get()
        }
    }

    /// Writes the UTF-8 bytes of `text`.
    func write(_ text: String) throws(DeliveryError) { try write(Array(text.utf8)) }

    private func writeSome(_ pointer: UnsafeRawPointer, _ count: Int, deadline: Double) throws(DeliveryError) -> Int {
        while true {
            if let ssl {
                ERR_clear_error()
                var written = 0
                if SSL_write_ex(ssl, pointer, count, &written) == 1 { return written }
                let failure = SSL_get_error(ssl, 0)
                switch failure {
                case SSL_ERROR_WANT_READ: try wait(for: Int16(POLLIN), until: deadline, doing: "writing to")
                case SSL_ERROR_WANT_WRITE: try wait(for: Int16(POLLOUT), until: deadline, doing: "writing to")
                default:
                    tlsFailed = true
                    throw DeliveryError("writing to \(endpoint) failed: \(tlsFailure(failure))")
                }
            } else {
                let written = Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
                if written >= 0 { return written }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    throw DeliveryError("writing to \(endpoint) failed: \(errorText(code))")
                }
                try wait(for: Int16(POLLOUT), until: deadline, doing: "writing to")
            }
        }
    }

    // MARK: Reading

    /// Reads one line terminated by CRLF (a bare LF is accepted too) and returns it without the
    /// terminator. Fails when the line exceeds `max` bytes or the peer closes before its end.
    func readLine(max: Int = 4096) throws(DeliveryError) -> String {
        let deadline = stepDeadline()
        var searchFrom = pendingStart
        while true {
            if let newline = pending[searchFrom...].firstIndex(of: 0x0A) {
                var end = newline
                if end > pendingStart, pending[end - 1] == 0x0D { end -= 1 }
                let line = String(decoding: pending[pendingStart..<end], as: UTF8.self)
                consume(upTo: newline + 1)
                return line
            }
            if pending.count - pendingStart > max {
                throw DeliveryError("line from \(endpoint) is longer than \(max) bytes")
            }
            searchFrom = pending.count
            if try fill(deadline: deadline) == 0 {
                throw DeliveryError("connection closed by \(endpoint)" + (pending.count > pendingStart ? " in the middle of a line" : ""))
            }
        }
    }

    /// Returns between 1 and `max` bytes, whatever is available first; an empty array means the peer
    /// closed the connection.
    func read(max: Int) throws(DeliveryError) -> [UInt8] {
        if pending.count == pendingStart {
            if try fill(deadline: stepDeadline(), chunk: Swift.max(max, 1)) == 0 { return [] }
        }
        let end = Swift.min(pending.count, pendingStart + max)
        let bytes = Array(pending[pendingStart..<end])
        consume(upTo: end)
        return bytes
    }

    /// Reads until the peer closes or `limit` bytes have arrived; each read has the step timeout.
    func readAvailable(limit: Int) throws(DeliveryError) -> [UInt8] {
        var result: [UInt8] = []
        while result.count < limit {
            let chunk = try read(max: Swift.min(65536, limit - result.count))
            if chunk.isEmpty { break }
            result += chunk
        }
        return result
    }

    /// Reads exactly `count` bytes; fails if the peer closes first.
    func read(exactly count: Int) throws(DeliveryError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            let chunk = try read(max: count - result.count)
            if chunk.isEmpty {
                throw DeliveryError("connection closed by \(endpoint) after \(result.count) of \(count) bytes")
            }
            result += chunk
        }
        return result
    }

    private func consume(upTo index: Int) {
        pendingStart = index
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        } else if pendingStart > 65536 {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }

    /// Appends up to `chunk` new bytes to `pending`; returns how many (0 at end of stream).
    private func fill(deadline: Double, chunk: Int = 4096) throws(DeliveryError) -> Int {
        guard fd >= 0 else { throw DeliveryError("read from \(endpoint) on a closed connection") }
        var buffer = [UInt8](repeating: 0, count: Swift.min(chunk, 65536))
        let received = buffer.withUnsafeMutableBytes { raw in
            Result { () throws(DeliveryError) in try receive(into: raw.baseAddress!, raw.count, deadline: deadline) }
        }
        let count = try received.get()
        pending += buffer[0..<count]
        return count
    }

    private func receive(into pointer: UnsafeMutableRawPointer, _ count: Int, deadline: Double) throws(DeliveryError) -> Int {
        while true {
            if let ssl {
                ERR_clear_error()
                var received = 0
                if SSL_read_ex(ssl, pointer, count, &received) == 1 { return received }
                let failure = SSL_get_error(ssl, 0)
                switch failure {
                case SSL_ERROR_WANT_READ: try wait(for: Int16(POLLIN), until: deadline, doing: "reading from")
                case SSL_ERROR_WANT_WRITE: try wait(for: Int16(POLLOUT), until: deadline, doing: "reading from")
                case SSL_ERROR_ZERO_RETURN: return 0
                case SSL_ERROR_SYSCALL where ERR_peek_error() == 0, SSL_ERROR_SSL where isUnexpectedEOF(ERR_peek_error()):
                    tlsFailed = true
                    return 0  // closed without close_notify: the caller decides whether the data was complete
                default:
                    tlsFailed = true
                    throw DeliveryError("reading from \(endpoint) failed: \(tlsFailure(failure))")
                }
            } else {
                let received = Glibc.recv(fd, pointer, count, 0)
                if received >= 0 { return received }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    throw DeliveryError("reading from \(endpoint) failed: \(errorText(code))")
                }
                try wait(for: Int16(POLLIN), until: deadline, doing: "reading from")
            }
        }
    }

    // MARK: TLS

    /// Upgrades the connection to TLS (1.2 or later) in place: the server's certificate must chain to
    /// the system's trusted CAs or to one in `caFile` (PEM), and must name `serverName` (a host name
    /// or an IP literal). The handshake has the step timeout.
    func startTLS(serverName: String, caFile: String? = nil) throws(DeliveryError) {
        guard fd >= 0 else { throw DeliveryError("TLS on a closed connection to \(endpoint)") }
        guard ssl == nil else { throw DeliveryError("TLS is already on for \(endpoint)") }
        guard pending.count == pendingStart else {
            // Bytes sent before the handshake would otherwise be read as if they came over TLS.
            throw DeliveryError("\(endpoint) sent unexpected data before the TLS handshake")
        }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw DeliveryError("TLS setup failed: \(openSSLErrors())")
        }
        self.context = context
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        _ = SSL_CTX_set_default_verify_paths(context)
        if let caFile {
            guard access(caFile, R_OK) == 0 else { throw DeliveryError("cannot read CA file \(caFile): \(errorText(errno))") }
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw DeliveryError("cannot load CA file \(caFile): \(openSSLErrors())")
            }
        }
        guard let ssl = SSL_new(context), let bio = BIO_new(socketBIOMethod) else {
            throw DeliveryError("TLS setup failed: \(openSSLErrors())")
        }
        BIO_set_data(bio, UnsafeMutableRawPointer(bitPattern: Int(fd) + 1))
        SSL_set_bio(ssl, bio, bio)
        self.ssl = ssl

        let isAddress = parseIPAddress(serverName) != nil
        if isAddress {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                throw DeliveryError("TLS setup failed: bad IP address \(serverName)")
            }
        } else {
            guard SSL_set1_host(ssl, serverName) == 1 else { throw DeliveryError("TLS setup failed: bad host name \(serverName)") }
            // SSL_set_tlsext_host_name is a macro Swift cannot see.
            let sni = serverName.withCString { name in
                SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: name))
            }
            guard sni == 1 else { throw DeliveryError("TLS setup failed: cannot set server name \(serverName)") }
        }

        let deadline = stepDeadline()
        while true {
            ERR_clear_error()
            let status = SSL_connect(ssl)
            if status == 1 { return }
            let failure = SSL_get_error(ssl, status)
            switch failure {
            case SSL_ERROR_WANT_READ: try wait(for: Int16(POLLIN), until: deadline, doing: "TLS handshake with")
            case SSL_ERROR_WANT_WRITE: try wait(for: Int16(POLLOUT), until: deadline, doing: "TLS handshake with")
            default:
                tlsFailed = true
                let verify = SSL_get_verify_result(ssl)
                if verify != Int(X509_V_OK) {
                    let reason = String(cString: X509_verify_cert_error_string(verify))
                    throw DeliveryError("TLS: certificate not trusted for \(serverName): \(reason)")
                }
                throw DeliveryError("TLS handshake with \(endpoint) failed: \(tlsFailure(failure))")
            }
        }
    }

    private func tlsFailure(_ code: Int32) -> String {
        if code == SSL_ERROR_SYSCALL {
            let queued = openSSLErrors()
            if queued != "unknown error" { return queued }
            return errno == 0 ? "connection closed" : errorText(errno)
        }
        if code == SSL_ERROR_ZERO_RETURN { return "connection closed" }
        return openSSLErrors()
    }

    // MARK: Deadlines

    private func stepDeadline() -> Double {
        let step = monotonicSeconds() + timeout
        guard let overallDeadline else { return step }
        return Swift.min(step, overallDeadline)
    }

    /// Waits until the socket is ready for `events`, failing with "<doing> host:port timed out".
    private func wait(for events: Int16, until deadline: Double, doing: String) throws(DeliveryError) {
        while true {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                if let overallDeadline, let totalTimeout, deadline >= overallDeadline {
                    throw DeliveryError("\(doing) \(endpoint) timed out: the whole exchange is limited to \(formatSeconds(totalTimeout))")
                }
                throw DeliveryError("\(doing) \(endpoint) timed out after \(formatSeconds(timeout))")
            }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let status = poll(&descriptor, 1, Int32(Swift.min(remaining * 1000 + 1, 3_600_000)))
            if status > 0 { return }  // readable, writable, or an error/hang-up the next call reports
            if status < 0, errno != EINTR { throw DeliveryError("\(doing) \(endpoint) failed: \(errorText(errno))") }
        }
    }

    // MARK: Connecting

    private struct Address {
        var family: Int32
        var bytes: [UInt8]  // a sockaddr_in or sockaddr_in6

        /// The 4 or 16 bytes of the address inside the sockaddr.
        var ipBytes: [UInt8] {
            family == AF_INET ? Array(bytes[4..<min(8, bytes.count)]) : Array(bytes[8..<min(24, bytes.count)])
        }
    }

    private enum ConnectOutcome {
        case connected(Int32)
        case failed(String)
        case timedOut
    }

    /// getaddrinfo has no timeout, so names are looked up on a separate thread that is abandoned
    /// (and finishes on its own) when the deadline passes first.
    private func resolve(deadline: Double, seconds: Double) throws(DeliveryError) -> [Address] {
        let host = self.host
        let port = self.port
        if parseIPAddress(host) != nil {
            return try Self.lookup(host: host, port: port).get()
        }
        let box = LookupBox()
        Thread.detachNewThread {
            let outcome = Self.lookup(host: host, port: port)
            box.result.withLock { $0 = outcome }
            box.done.signal()
        }
        let wait = Swift.max(0, deadline - monotonicSeconds())
        guard box.done.wait(timeout: .now() + .milliseconds(Int(wait * 1000))) == .success else {
            throw DeliveryError("looking up \(host) timed out after \(formatSeconds(seconds))")
        }
        guard let outcome = box.result.withLock({ $0 }) else { throw DeliveryError("looking up \(host) failed") }
        return try outcome.get()
    }

    private final class LookupBox: Sendable {
        let result = Mutex<Result<[Address], DeliveryError>?>(nil)
        let done = DispatchSemaphore(value: 0)
    }

    private static func lookup(host: String, port: Int) -> Result<[Address], DeliveryError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // AI_ADDRCONFIG would hide ::1 on hosts with only loopback IPv6; a literal needs no such filter.
        hints.ai_flags = parseIPAddress(host) != nil ? AI_NUMERICHOST : AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let reason = status == EAI_SYSTEM ? errorText(errno) : String(cString: gai_strerror(status))
            return .failure(DeliveryError("cannot resolve \(host): \(reason)"))
        }
        defer { freeaddrinfo(list) }
        var addresses: [Address] = []
        var cursor = list
        while let entry = cursor?.pointee {
            if let sockaddr = entry.ai_addr, entry.ai_family == AF_INET || entry.ai_family == AF_INET6 {
                let bytes = Array(UnsafeRawBufferPointer(start: sockaddr, count: Int(entry.ai_addrlen)))
                addresses.append(Address(family: entry.ai_family, bytes: bytes))
            }
            cursor = entry.ai_next
        }
        guard !addresses.isEmpty else { return .failure(DeliveryError("cannot resolve \(host): no IPv4 or IPv6 address")) }
        return .success(addresses)
    }

    private func connectOne(_ address: Address, deadline: Double) -> ConnectOutcome {
        let socket = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { return .failed(errorText(errno)) }
        let flags = fcntl(socket, F_GETFL)
        _ = fcntl(socket, F_SETFL, flags | O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))

        let status = address.bytes.withUnsafeBytes { raw in
            Glibc.connect(socket, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if status == 0 { return .connected(socket) }
        guard errno == EINPROGRESS || errno == EINTR else {
            let reason = errorText(errno)
            _ = Glibc.close(socket)
            return .failed(reason)
        }
        while true {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                _ = Glibc.close(socket)
                return .timedOut
            }
            var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(Swift.min(remaining * 1000 + 1, 3_600_000)))
            if ready < 0, errno == EINTR { continue }
            if ready <= 0 { continue }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(socket, SOL_SOCKET, SO_ERROR, &failure, &length)
            if failure == 0 { return .connected(socket) }
            _ = Glibc.close(socket)
            return .failed(errorText(failure))
        }
    }
}

// MARK: - Helpers

/// Seconds on the monotonic clock, for deadlines.
private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// "10 s", "2.5 s".
private func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e9 ? "\(Int(seconds)) s" : "\(seconds) s"
}

extension NetworkStream {
    /// The bytes of an IPv4 or IPv6 literal (no brackets), or nil if `text` is not one.
    static func ipAddressBytes(_ text: String) -> [UInt8]? { parseIPAddress(text) }
}

private func parseIPAddress(_ text: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
}

private func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Drains OpenSSL's thread-local error queue into one line.
private func openSSLErrors() -> String {
    var buffer = [CChar](repeating: 0, count: 2048)
    iot_openssl_errors(&buffer, buffer.count)
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.isEmpty ? "unknown error" : text
}

private func isUnexpectedEOF(_ code: UInt) -> Bool {
    // ERR_GET_REASON is a macro: the reason is the low 23 bits.
    code != 0 && Int32(code & 0x7FFFFF) == SSL_R_UNEXPECTED_EOF_WHILE_READING
}

// MARK: - A socket BIO that never raises SIGPIPE

// OpenSSL's own socket BIO writes with write(2), which kills a process that does not ignore SIGPIPE
// when the peer has gone. This one uses send(2) with MSG_NOSIGNAL; the descriptor + 1 is the BIO's data.
private let bioFlagsRetryRead = Int32(BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
private let bioFlagsRetryWrite = Int32(BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY)
private let bioFlagsAllRetry = Int32(BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)

private func bioDescriptor(_ bio: OpaquePointer?) -> Int32 {
    Int32(Int(bitPattern: BIO_get_data(bio)) - 1)
}

nonisolated(unsafe) private let socketBIOMethod: OpaquePointer? = {
    guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "iot-platform socket") else { return nil }
    _ = BIO_meth_set_write_ex(method) { bio, data, length, written in
        BIO_clear_flags(bio, bioFlagsAllRetry)
        let count = Glibc.send(bioDescriptor(bio), data, length, Int32(MSG_NOSIGNAL))
        if count >= 0 {
            written?.pointee = count
            return 1
        }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { BIO_set_flags(bio, bioFlagsRetryWrite) }
        return 0
    }
    _ = BIO_meth_set_read_ex(method) { bio, data, length, received in
        BIO_clear_flags(bio, bioFlagsAllRetry)
        let count = Glibc.recv(bioDescriptor(bio), data, length, 0)
        if count > 0 {
            received?.pointee = count
            return 1
        }
        if count == 0 {
            BIO_set_flags(bio, Int32(BIO_FLAGS_IN_EOF))
        } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
            BIO_set_flags(bio, bioFlagsRetryRead)
        }
        return 0
    }
    _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
        switch command {
        case BIO_CTRL_FLUSH: return 1
        case BIO_CTRL_EOF: return BIO_test_flags(bio, Int32(BIO_FLAGS_IN_EOF)) != 0 ? 1 : 0
        default: return 0
        }
    }
    _ = BIO_meth_set_create(method) { bio in
        BIO_set_init(bio, 1)
        return 1
    }
    return method
}()
