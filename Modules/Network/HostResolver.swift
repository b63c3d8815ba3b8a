import Dispatch
import Foundation
import Glibc
import Synchronization

/// Name lookup with a deadline. getaddrinfo has no timeout, so names are looked up on a separate thread that is
/// abandoned (and finishes on its own) when the deadline passes first; literals need no thread.
public enum HostResolver {
    /// A resolved socket address: `bytes` is a `sockaddr_in` or `sockaddr_in6`.
    public struct Address: Sendable, Hashable {
        public var family: Int32
        public var bytes: [UInt8]

        /// The IP address itself: 4 bytes (IPv4) or 16 (IPv6).
        public var ipBytes: [UInt8] {
            if family == AF_INET, bytes.count >= 8 { return Array(bytes[4..<8]) }  // sockaddr_in: family, port, address
            if family == AF_INET6, bytes.count >= 24 { return Array(bytes[8..<24]) }  // sockaddr_in6: …, flowinfo, address
            return []
        }
    }

    /// The bytes of an IPv4 or IPv6 literal (no brackets), or nil if `text` is not one.
    public static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    public static func isIPLiteral(_ text: String) -> Bool { ipAddressBytes(text) != nil }

    /// Every IPv4/IPv6 address of `host`, by the deadline.
    public static func resolve(host: String, port: Int, deadline: Deadline, timeout: Double?) throws(NetworkError) -> [Address] {
        if isIPLiteral(host) { return try lookup(host: host, port: port).get() }
        let box = LookupBox()
        Thread.detachNewThread {
            let outcome = lookup(host: host, port: port)
            box.result.withLock { $0 = outcome }
            box.done.signal()
        }
        let waited: DispatchTimeoutResult
        if deadline.isNever {
            box.done.wait()
            waited = .success
        } else {
            waited = box.done.wait(timeout: .now() + .nanoseconds(Int(min(deadline.remainingSeconds, 1e6) * 1e9)))
        }
        guard waited == .success else {
            throw NetworkError(.timeout, "looking up \(host) timed out after \(formatSeconds(timeout ?? 0))")
        }
        guard let outcome = box.result.withLock({ $0 }) else { throw NetworkError(.resolution, "looking up \(host) failed") }
        return try outcome.get()
    }

    private final class LookupBox: Sendable {
        let result = Mutex<Result<[Address], NetworkError>?>(nil)
        let done = DispatchSemaphore(value: 0)
    }

    private static func lookup(host: String, port: Int) -> Result<[Address], NetworkError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // AI_ADDRCONFIG would hide ::1 on hosts with only loopback IPv6; a literal needs no such filter.
        hints.ai_flags = isIPLiteral(host) ? AI_NUMERICHOST : AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let reason = status == EAI_SYSTEM ? errorText(errno) : String(cString: gai_strerror(status))
            return .failure(NetworkError(.resolution, "cannot resolve \(host): \(reason)"))
        }
        defer { freeaddrinfo(list) }
        var addresses: [Address] = []
        var cursor = list
        while let entry = cursor?.pointee {
            if let sockaddr = entry.ai_addr, entry.ai_family == AF_INET || entry.ai_family == AF_INET6 {
                let address = Address(family: entry.ai_family, bytes: Array(UnsafeRawBufferPointer(start: sockaddr, count: Int(entry.ai_addrlen))))
                if !addresses.contains(address) { addresses.append(address) }
            }
            cursor = entry.ai_next
        }
        guard !addresses.isEmpty else { return .failure(NetworkError(.resolution, "cannot resolve \(host): no IPv4 or IPv6 address")) }
        return .success(addresses)
    }
}
