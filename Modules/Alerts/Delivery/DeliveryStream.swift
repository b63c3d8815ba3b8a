import Foundation
import Network
import Synchronization

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

/// The delivery protocols' connection: the platform's one client stack (`Network.NetworkStream`, with its shared TLS
/// contexts) with the delivery's deadlines and its address policy, failing with `DeliveryError`s in delivery words
/// ("… timed out after 5 s", "TLS: certificate not trusted for …", "refused: … is not a public address").
///
/// Every step has `timeout`; the lookup and connect have `connectTimeout`; `totalTimeout` bounds the whole
/// conversation from the start, so a peer that drips one byte per step cannot hold the caller for long.
final class DeliveryStream {
    private let stream: NetworkStream
    let timeout: Double
    private let totalTimeout: Double?

    /// `host:port`, with brackets around IPv6 literals.
    var endpoint: String { stream.endpoint }
    /// True once `startTLS` has succeeded.
    var isTLS: Bool { stream.isTLS }

    /// Resolves `host` and connects to the first address `policy` permits that answers; the socket connects to exactly
    /// the address that was checked (no second lookup).
    init(host: String, port: Int, timeout: Double, connectTimeout: Double? = nil, totalTimeout: Double? = nil,
         policy: OutboundAddressPolicy = .unrestricted) throws(DeliveryError) {
        self.timeout = timeout
        self.totalTimeout = totalTimeout
        let overall = totalTimeout.map { Deadline.after(seconds: $0) }
        let refused = Atomic<Bool>(false)
        let accept: ((HostResolver.Address) -> Bool)? = policy.restricted ? { address in
            let permitted = policy.permits(address.ipBytes, host: host)
            if !permitted { refused.store(true, ordering: .relaxed) }
            return permitted
        } : nil
        do {
            stream = try NetworkStream.connect(host: host, port: port, timeout: connectTimeout ?? timeout, accept: accept)
        } catch {
            if error.kind == .invalidAddress, refused.load(ordering: .relaxed) {
                throw DeliveryError("refused: \(host) is not a public address (an operator can allow it in notifications.webhook.allowed_hosts)")
            }
            throw DeliveryError(error.message)
        }
        stream.timeout = timeout
        stream.overallDeadline = overall
    }

    deinit { close() }

    /// Closes the connection. Safe to call twice.
    func close() { stream.close() }

    func write(_ bytes: [UInt8]) throws(DeliveryError) {
        do { try stream.write(bytes) } catch { throw delivery(error) }
    }

    func write(_ text: String) throws(DeliveryError) { try write(Array(text.utf8)) }

    func readLine(max: Int = 4096) throws(DeliveryError) -> String {
        do { return try stream.readLine(max: max) } catch { throw delivery(error) }
    }

    func read(exactly count: Int) throws(DeliveryError) -> [UInt8] {
        do { return try stream.read(exactly: count) } catch { throw delivery(error) }
    }

    /// Reads until the peer closes or `limit` bytes have arrived; each read has the step timeout, the whole is bounded
    /// by `totalTimeout` (a dripping peer).
    func readAvailable(limit: Int) throws(DeliveryError) -> [UInt8] {
        var result: [UInt8] = []
        do {
            while result.count < limit {
                let chunk = try stream.read(max: min(65_536, limit - result.count))
                if chunk.isEmpty { break }
                result += chunk
            }
        } catch {
            throw delivery(error)
        }
        return result
    }

    /// Upgrades the connection to TLS 1.2 or later in place: the certificate must chain to the system's CAs or to one in
    /// `caFile` (PEM) and name `serverName` (a host name or an IP literal). One `SSL_CTX` per CA file, shared.
    func startTLS(serverName: String, caFile: String? = nil) throws(DeliveryError) {
        do {
            let context = try TLSClientContext.shared(for: TLSClientConfiguration(verification: .full, caFile: caFile))
            try stream.startTLS(context: context, serverName: serverName)
        } catch {
            throw delivery(error)
        }
    }

    /// The stack's error in delivery words: timeouts say their limit, certificate failures say "not trusted".
    private func delivery(_ error: NetworkError) -> DeliveryError {
        switch error.kind {
        case .timeout where error.message.hasSuffix(" timed out"):
            if let totalTimeout, stream.overallDeadline?.hasPassed == true {
                return DeliveryError(error.message + ": the whole exchange is limited to \(Self.seconds(totalTimeout))")
            }
            return DeliveryError(error.message + " after \(Self.seconds(timeout))")
        case .certificate:
            return DeliveryError(error.message.replacingOccurrences(of: "TLS certificate verification failed for", with: "TLS: certificate not trusted for"))
        default:
            return DeliveryError(error.message)
        }
    }

    /// "10 s", "2.5 s".
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? "\(Int(value)) s" : "\(value) s"
    }

    /// The bytes of an IPv4 or IPv6 literal (no brackets), or nil if `text` is not one.
    static func ipAddressBytes(_ text: String) -> [UInt8]? { HostResolver.ipAddressBytes(text) }
}
