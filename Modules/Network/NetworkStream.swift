import Dispatch
import Foundation
import Glibc
import Synchronization
internal import COpenSSL

/// A blocking TCP client connection with buffered reads, in which every step (DNS, connect, each read and
/// write, the TLS handshake) ends by a deadline; it can be upgraded to TLS in place (STARTTLS, PostgreSQL's
/// `SSLRequest`). Not thread-safe: one thread uses it at a time.
///
/// ```swift
/// let stream = try NetworkStream.connect(host: "db.local", port: 5432, timeout: 10)
/// try stream.startTLS(context: .shared(for: .init(verification: .full)), serverName: "db.local")
/// try stream.write(bytes)
/// let reply = try stream.read(exactly: 5)
/// ```
public final class NetworkStream {
    public let host: String
    public let port: Int
    /// The default limit of one step in seconds (nil = none), used when a call passes no earlier deadline.
    public var timeout: Double?
    /// No step waits past this, whatever its own limit (bounds a whole exchange, e.g. a webhook call).
    public var overallDeadline: Deadline?

    private var fd: Int32
    private var ssl: OpaquePointer?
    /// Keeps the shared context alive while `ssl` uses it.
    private var tlsContext: TLSClientContext?
    /// After a fatal TLS error OpenSSL must not be asked for a clean shutdown.
    private var tlsFailed = false
    private var pending: [UInt8] = []
    private var pendingStart = 0

    /// True once `startTLS` has succeeded.
    public var isTLS: Bool { ssl != nil }
    public var isClosed: Bool { fd < 0 }

    /// `host:port`, with brackets around IPv6 literals.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    private init(host: String, port: Int, fd: Int32, timeout: Double?) {
        self.host = host
        self.port = port
        self.fd = fd
        self.timeout = timeout
    }

    /// Resolves `host` (a name, or an IPv4/IPv6 literal without brackets) without blocking past the deadline and
    /// connects to the first address that answers, all within `timeout` seconds (also the default step limit).
    /// `accept`, when given, vets each resolved address before it is tried (a webhook client refuses private
    /// addresses after resolution); when it refuses all of them the connect fails naming the host.
    public static func connect(host: String, port: Int, timeout: Double?,
                               accept: ((HostResolver.Address) -> Bool)? = nil) throws(NetworkError) -> NetworkStream {
        guard (1...65535).contains(port) else { throw NetworkError(.invalidAddress, "invalid port \(port) for \(host)") }
        guard !host.isEmpty, !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw NetworkError(.invalidAddress, "invalid host name \"\(host)\"")
        }
        let endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let deadline = Deadline.after(seconds: timeout)
        var addresses = try HostResolver.resolve(host: host, port: port, deadline: deadline, timeout: timeout)
        if let accept {
            addresses = addresses.filter(accept)
            guard !addresses.isEmpty else { throw NetworkError(.invalidAddress, "\(host) resolves only to addresses that are not allowed") }
        }
        var lastError = "no address"
        for address in addresses {
            switch connectOne(address, deadline: deadline) {
            case .connected(let socket):
                return NetworkStream(host: host, port: port, fd: socket, timeout: timeout)
            case .failed(let reason):
                lastError = reason
            case .timedOut:
                throw NetworkError(.timeout, "connect to \(endpoint) timed out after \(formatSeconds(timeout ?? 0))")
            }
        }
        throw NetworkError(.connect, "connect to \(endpoint) failed: \(lastError)")
    }

    deinit { close() }

    /// Closes the connection (a TLS close_notify when it can be sent without waiting). Safe to call twice.
    public func close() {
        if let ssl {
            ERR_clear_error()
            if !tlsFailed, SSL_is_init_finished(ssl) == 1 { _ = SSL_shutdown(ssl) }
            SSL_free(ssl)
            self.ssl = nil
            tlsContext = nil
        }
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
        ERR_clear_error()
    }

    private func effectiveDeadline(_ deadline: Deadline?) -> Deadline {
        var limit = Deadline.after(seconds: timeout)
        if let deadline { limit = Swift.min(limit, deadline) }
        if let overallDeadline { limit = Swift.min(limit, overallDeadline) }
        return limit
    }

    // MARK: Writing

    /// Writes all of `bytes` by the deadline (default: the step timeout).
    public func write(_ bytes: [UInt8], deadline: Deadline? = nil) throws(NetworkError) {
        let outcome = bytes.withUnsafeBytes { raw in Result { () throws(NetworkError) in try write(raw, deadline: deadline) } }
        try outcome.get()
    }

    /// Writes all of `raw` by the deadline (default: the step timeout).
    public func write(_ raw: UnsafeRawBufferPointer, deadline: Deadline? = nil) throws(NetworkError) {
        guard fd >= 0 else { throw NetworkError(.closed, "write to \(endpoint) on a closed connection") }
        let limit = effectiveDeadline(deadline)
        var offset = 0
        while offset < raw.count {
            offset += try writeSome(raw.baseAddress! + offset, raw.count - offset, deadline: limit)
        }
    }

    /// Writes the UTF-8 bytes of `text`.
    public func write(_ text: String, deadline: Deadline? = nil) throws(NetworkError) { try write(Array(text.utf8), deadline: deadline) }

    private func writeSome(_ pointer: UnsafeRawPointer, _ count: Int, deadline: Deadline) throws(NetworkError) -> Int {
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
                    throw NetworkError(.closed, "writing to \(endpoint) failed: \(tlsFailure(failure))")
                }
            } else {
                let written = Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
                if written >= 0 { return written }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    throw NetworkError(code == EPIPE || code == ECONNRESET ? .closed : .io, "writing to \(endpoint) failed: \(errorText(code))")
                }
                try wait(for: Int16(POLLOUT), until: deadline, doing: "writing to")
            }
        }
    }

    // MARK: Reading

    /// True when read bytes are waiting in the buffer (or in TLS's), so a read would not touch the socket.
    public var hasBufferedData: Bool {
        if pending.count > pendingStart { return true }
        if let ssl, SSL_pending(ssl) > 0 { return true }
        return false
    }

    /// Waits until a read would not block (data, end of stream or an error) or the deadline passes; true when ready.
    public func waitReadable(deadline: Deadline) -> Bool {
        if hasBufferedData || fd < 0 { return true }
        while true {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let status = poll(&descriptor, 1, deadline.pollMilliseconds)
            if status > 0 { return true }
            if status < 0, errno == EINTR { continue }
            if status < 0 { return true }  // the next read reports it
            if deadline.hasPassed { return false }
        }
    }

    /// Reads one line ending in CRLF (a bare LF too) and returns it without the terminator. Fails when the line
    /// exceeds `max` bytes or the peer closes first.
    public func readLine(max: Int = 4096, deadline: Deadline? = nil) throws(NetworkError) -> String {
        let limit = effectiveDeadline(deadline)
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
                throw NetworkError(.io, "line from \(endpoint) is longer than \(max) bytes")
            }
            searchFrom = pending.count
            if try fill(deadline: limit, chunk: 4096) == 0 {
                throw NetworkError(.closed, "connection closed by \(endpoint)" + (pending.count > pendingStart ? " in the middle of a line" : ""))
            }
        }
    }

    /// Returns between 1 and `max` bytes, whatever is available first; an empty array means the peer closed.
    public func read(max: Int, deadline: Deadline? = nil) throws(NetworkError) -> [UInt8] {
        if pending.count == pendingStart {
            // Large reads go straight from the socket into the result, skipping the buffer.
            guard fd >= 0 else { throw NetworkError(.closed, "read from \(endpoint) on a closed connection") }
            let limit = effectiveDeadline(deadline)
            var failure: NetworkError?
            // Uninitialized capacity: no zero-filling of a large buffer for what is often a short answer.
            let bytes = [UInt8](unsafeUninitializedCapacity: Swift.max(1, Swift.min(max, 1 << 20))) { buffer, count in
                let pointer = UnsafeMutableRawPointer(buffer.baseAddress!)
                switch Result(catching: { () throws(NetworkError) in try receive(into: pointer, buffer.count, deadline: limit) }) {
                case .success(let received): count = received
                case .failure(let error):
                    failure = error
                    count = 0
                }
            }
            if let failure { throw failure }
            return bytes
        }
        let end = Swift.min(pending.count, pendingStart + max)
        let bytes = Array(pending[pendingStart..<end])
        consume(upTo: end)
        return bytes
    }

    /// Reads exactly `count` bytes; fails if the peer closes first.
    public func read(exactly count: Int, deadline: Deadline? = nil) throws(NetworkError) -> [UInt8] {
        let limit = effectiveDeadline(deadline)
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            let chunk = try read(max: count - result.count, deadline: limit)
            if chunk.isEmpty {
                throw NetworkError(.closed, "connection closed by \(endpoint) after \(result.count) of \(count) bytes")
            }
            result += chunk
        }
        return result
    }

    /// Reads until the peer closes or `limit` bytes have arrived.
    public func readToEnd(limit: Int, deadline: Deadline? = nil) throws(NetworkError) -> [UInt8] {
        let until = effectiveDeadline(deadline)
        var result: [UInt8] = []
        while result.count < limit {
            let chunk = try read(max: Swift.min(65536, limit - result.count), deadline: until)
            if chunk.isEmpty { break }
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
    private func fill(deadline: Deadline, chunk: Int) throws(NetworkError) -> Int {
        guard fd >= 0 else { throw NetworkError(.closed, "read from \(endpoint) on a closed connection") }
        let old = pending.count
        pending.append(contentsOf: repeatElement(0, count: chunk))
        let outcome = pending.withUnsafeMutableBytes { raw in
            Result { () throws(NetworkError) -> Int in try receive(into: raw.baseAddress! + old, chunk, deadline: deadline) }
        }
        guard case .success(let count) = outcome else {
            pending.removeLast(chunk)
            _ = try outcome.get()
            return 0
        }
        pending.removeLast(chunk - count)
        return count
    }

    private func receive(into pointer: UnsafeMutableRawPointer, _ count: Int, deadline: Deadline) throws(NetworkError) -> Int {
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
                    return 0  // closed without close_notify: the caller decides whether what came was complete
                default:
                    tlsFailed = true
                    throw NetworkError(.closed, "reading from \(endpoint) failed: \(tlsFailure(failure))")
                }
            } else {
                let received = Glibc.recv(fd, pointer, count, 0)
                if received >= 0 { return received }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    throw NetworkError(code == ECONNRESET ? .closed : .io, "reading from \(endpoint) failed: \(errorText(code))")
                }
                try wait(for: Int16(POLLIN), until: deadline, doing: "reading from")
            }
        }
    }

    // MARK: TLS

    /// Upgrades the connection to TLS in place, checking the server as `context` says: with `.full` verification
    /// the certificate must name `serverName` (a host name or an IP literal). Sends SNI for names.
    public func startTLS(context: TLSClientContext, serverName: String, deadline: Deadline? = nil) throws(NetworkError) {
        guard fd >= 0 else { throw NetworkError(.closed, "TLS on a closed connection to \(endpoint)") }
        guard ssl == nil else { throw NetworkError(.tls, "TLS is already on for \(endpoint)") }
        guard pending.count == pendingStart else {
            // Bytes sent before the handshake would otherwise be read as if they came over TLS.
            throw NetworkError(.tls, "\(endpoint) sent unexpected data before the TLS handshake")
        }
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { throw NetworkError(.tls, "TLS setup failed: \(Crypto.drainOpenSSLErrors())") }
        guard let bio = makeSocketBIO(fd) else {
            SSL_free(ssl)
            throw NetworkError(.tls, "TLS setup failed: \(Crypto.drainOpenSSLErrors())")
        }
        SSL_set_bio(ssl, bio, bio)
        self.ssl = ssl
        self.tlsContext = context

        let isAddress = HostResolver.isIPLiteral(serverName)
        if context.configuration.verification == .full {
            if isAddress {
                guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                    throw NetworkError(.tls, "TLS setup failed: bad IP address \(serverName)")
                }
            } else {
                guard SSL_set1_host(ssl, serverName) == 1 else { throw NetworkError(.tls, "TLS setup failed: bad host name \(serverName)") }
            }
        }
        if !isAddress {
            // SSL_set_tlsext_host_name is a macro Swift cannot see.
            let sni = serverName.withCString { name in
                SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: name))
            }
            guard sni == 1 else { throw NetworkError(.tls, "TLS setup failed: cannot set server name \(serverName)") }
        }

        let limit = effectiveDeadline(deadline)
        while true {
            ERR_clear_error()
            let status = SSL_connect(ssl)
            if status == 1 { return }
            let failure = SSL_get_error(ssl, status)
            switch failure {
            case SSL_ERROR_WANT_READ: try wait(for: Int16(POLLIN), until: limit, doing: "TLS handshake with")
            case SSL_ERROR_WANT_WRITE: try wait(for: Int16(POLLOUT), until: limit, doing: "TLS handshake with")
            default:
                tlsFailed = true
                let verify = SSL_get_verify_result(ssl)
                if verify != Int(X509_V_OK) {
                    let reason = String(cString: X509_verify_cert_error_string(verify))
                    ERR_clear_error()
                    throw NetworkError(.certificate, "TLS certificate verification failed for \(serverName): \(reason)")
                }
                throw NetworkError(.tls, "TLS handshake with \(endpoint) failed: \(tlsFailure(failure))")
            }
        }
    }

    private func tlsFailure(_ code: Int32) -> String {
        if code == SSL_ERROR_SYSCALL {
            let queued = Crypto.drainOpenSSLErrors()
            if queued != "unknown error" { return queued }
            return errno == 0 ? "connection closed" : errorText(errno)
        }
        if code == SSL_ERROR_ZERO_RETURN { return "connection closed" }
        return Crypto.drainOpenSSLErrors()
    }

    // MARK: Waiting

    /// Waits until the socket is ready for `events`, failing with "<doing> host:port timed out".
    private func wait(for events: Int16, until deadline: Deadline, doing: String) throws(NetworkError) {
        while true {
            if deadline.hasPassed {
                throw NetworkError(.timeout, "\(doing) \(endpoint) timed out")
            }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let status = poll(&descriptor, 1, deadline.pollMilliseconds)
            if status > 0 { return }  // ready, or an error/hang-up the next call reports
            if status < 0, errno != EINTR { throw NetworkError(.io, "\(doing) \(endpoint) failed: \(errorText(errno))") }
        }
    }

    // MARK: Connecting

    private enum ConnectOutcome {
        case connected(Int32)
        case failed(String)
        case timedOut
    }

    private static func connectOne(_ address: HostResolver.Address, deadline: Deadline) -> ConnectOutcome {
        let socket = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { return .failed(errorText(errno)) }
        let flags = fcntl(socket, F_GETFL)
        _ = fcntl(socket, F_SETFL, flags | O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(socket, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))

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
            if deadline.hasPassed {
                _ = Glibc.close(socket)
                return .timedOut
            }
            var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, deadline.pollMilliseconds)
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

func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

private func isUnexpectedEOF(_ code: UInt) -> Bool {
    // ERR_GET_REASON is a macro: the reason is the low 23 bits.
    code != 0 && Int32(code & 0x7FFFFF) == SSL_R_UNEXPECTED_EOF_WHILE_READING
}
