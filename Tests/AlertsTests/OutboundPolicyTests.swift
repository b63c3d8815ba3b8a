@testable import Alerts
import Core
import Foundation
import Glibc
import Synchronization
import Testing

/// A loopback TCP listener on a free port that answers every connection with `reply` (after reading what arrives
/// first), or never answers when `reply` is nil. Counts connections, so a test can tell that nothing connected.
///
/// Descriptors are closed only by their owner: the accepting thread closes the listening socket when `accept` fails
/// (`stop` merely shuts it down), a replying thread closes its connection, and `stop` closes the silent ones. Closing a
/// descriptor another thread may still use would let that thread act on whatever socket a parallel test opens under
/// the reused number.
final class RawListener: @unchecked Sendable {
    let port: Int
    private let socket: Int32
    private let accepted = Atomic<Int>(0)
    /// Silent connections, and whether the listener was stopped.
    private let state = Mutex<(silent: [Int32], stopped: Bool)>(([], false))
    var connections: Int { accepted.load(ordering: .relaxed) }

    init(reply: [UInt8]?) throws {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        socket = descriptor
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
                                  sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw DeliveryError("listener: \(String(cString: strerror(errno)))")
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        let listening = descriptor
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listening, nil, nil)
                if client < 0 {
                    close(listening)
                    return
                }
                accepted.add(1, ordering: .relaxed)
                guard let reply else {
                    // Held open, silent; closed by `stop` (at once when already stopped).
                    let keep = state.withLock { state -> Bool in
                        if !state.stopped { state.silent.append(client) }
                        return !state.stopped
                    }
                    if !keep { close(client) }
                    continue
                }
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 65_536)
                    var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                    if poll(&descriptor, 1, 2000) > 0 { _ = recv(client, &buffer, buffer.count, 0) }
                    _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    shutdown(client, Int32(SHUT_WR))
                    // Until the peer closes (or 2 s), then this thread closes what it owns.
                    descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                    while poll(&descriptor, 1, 2000) > 0, recv(client, &buffer, buffer.count, 0) > 0 {}
                    close(client)
                }
            }
        }
    }

    func stop() {
        let silent = state.withLock { state -> [Int32] in
            state.stopped = true
            defer { state.silent.removeAll() }
            return state.silent
        }
        shutdown(socket, Int32(SHUT_RDWR))   // wakes `accept`; the accepting thread closes it
        for client in silent { close(client) }
    }
}

/// A host name other than `localhost` that this machine's hosts file maps to a loopback address (Debian lists the
/// machine's own name), to stand for a DNS name that resolves to an internal address.
func loopbackHostName() -> String? {
    guard let text = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, fields[0].hasPrefix("127.") || fields[0] == "::1" else { continue }
        if let name = fields.dropFirst().first(where: { !$0.hasPrefix("#") && !$0.lowercased().contains("localhost")
            && OutboundAddressPolicy.publicOnly.refusal(host: String($0)) == nil }) {
            return String(name)
        }
    }
    return nil
}

/// Webhook receivers cannot reach internal addresses (SSRF): refused at creation in every notation, again after name
/// resolution at connect time, unless the operator allows a host; failures never quote the remote's bytes.
@Suite struct OutboundPolicyTests {
    static let internalURLs = [
        "http://127.0.0.1:8080/x", "http://localhost/x", "http://LOCALHOST./x", "http://api.localhost/x", "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x", "http://[::ffff:7f00:1]/x", "http://[::127.0.0.1]/x", "http://0.0.0.0/x", "http://0/x",
        "http://2130706433/x", "http://0177.0.0.1/x", "http://127.1/x", "http://0x7f000001/x", "http://0x7f.0.0.1/x", "http://127.0.0.1./x",
        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", "http://172.16.5.4/x", "http://192.168.1.1/x", "http://100.64.0.1/x",
        "http://[fd00:ec2::254]/x", "http://[fe80::1]/x", "http://224.0.0.1/x", "http://255.255.255.255/x", "http://240.0.0.1/x",
        "http://198.18.0.1/x", "http://[64:ff9b::a00:1]/x", "http://[2002:7f00:1::]/x", "http://[ff02::1]/x", "http://[::]/x",
        "http://metadata.google.internal/computeMetadata/v1/", "http://printer.local/x", "http://router.home.arpa/x",
    ]

    @Test(arguments: internalURLs) func internalAddressesAreRefusedAtCreation(_ url: String) {
        let problem = ReceiverAddress.problem(url, channel: .webhook)
        #expect(problem?.contains("must not point at") == true, "\(url): \(problem ?? "accepted")")
    }

    @Test func publicAddressesAndNamesAreAccepted() {
        for url in ["https://hooks.example.com/a", "http://93.184.216.34/x", "http://[2606:4700::1111]/x", "https://8.8.8.8:8443/x",
                    "http://1.1.1.1/x", "http://hooks.example.com.internal.example.com/x"] {
            #expect(ReceiverAddress.problem(url, channel: .webhook) == nil, "\(url)")
        }
    }

    @Test func theOperatorsListAllowsNamesAndNetworks() throws {
        let policy = try OutboundAddressPolicy(allowedHosts: " 127.0.0.1/32, hooks.internal ,fd00::/8")
        #expect(ReceiverAddress.problem("http://127.0.0.1:9000/x", channel: .webhook, policy: policy) == nil)
        #expect(ReceiverAddress.problem("http://[::ffff:127.0.0.1]/x", channel: .webhook, policy: policy) == nil)
        #expect(ReceiverAddress.problem("http://hooks.internal/x", channel: .webhook, policy: policy) == nil)
        #expect(ReceiverAddress.problem("http://[fd00:ec2::254]/x", channel: .webhook, policy: policy) == nil)
        #expect(ReceiverAddress.problem("http://127.0.0.2/x", channel: .webhook, policy: policy) != nil)
        #expect(ReceiverAddress.problem("http://other.internal/x", channel: .webhook, policy: policy) != nil)
        #expect(ReceiverAddress.problem("http://10.0.0.1/x", channel: .webhook, policy: policy) != nil)
        for bad in ["10.0.0.0/33", "host name", "1.2.3.4/x", "a/8"] {
            #expect(throws: DeliveryError.self, "\(bad)") { try OutboundAddressPolicy(allowedHosts: bad) }
        }
    }

    @Test func aNameThatResolvesToLoopbackIsRefusedAtConnectTime() throws {
        let name = try #require(loopbackHostName(), "the hosts file maps no name but localhost to loopback")
        let listener = try RawListener(reply: Array("HTTP/1.1 204 No Content\r\n\r\n".utf8))
        defer { listener.stop() }
        let url = "http://\(name):\(listener.port)/hook"
        // No DNS at creation: the name passes there.
        #expect(ReceiverAddress.problem(url, channel: .webhook) == nil)
        let client = OutboundHTTPClient(timeout: 2, policy: .publicOnly)
        let failure = deliveryError { _ = try client.send(OutboundHTTPRequest(url: url, body: Array("{}".utf8))) }
        #expect(failure.hasPrefix("refused: \(name) is not a public address"), "\(failure)")
        #expect(listener.connections == 0)

        // The opt-in lets it through, by name or by network.
        for allowed in [name, "127.0.0.0/8"] {
            let permitted = OutboundHTTPClient(timeout: 2, policy: try OutboundAddressPolicy(allowedHosts: allowed))
            #expect(try permitted.send(OutboundHTTPRequest(url: url, body: Array("{}".utf8))).status == 204)
        }
        #expect(listener.connections == 2)
    }

    @Test func failuresNeverQuoteTheRemotesBytes() throws {
        let policy = try OutboundAddressPolicy(allowedHosts: "127.0.0.1/32")
        let client = OutboundHTTPClient(timeout: 2, policy: policy)
        let banner = try RawListener(reply: Array("-ERR INTERNAL-REDIS-BANNER requirepass=hunter2\r\n".utf8))
        defer { banner.stop() }
        let bannerFailure = deliveryError { _ = try client.send(OutboundHTTPRequest(url: "http://127.0.0.1:\(banner.port)/", body: [])) }
        #expect(!bannerFailure.contains("REDIS") && !bannerFailure.contains("hunter2"), "\(bannerFailure)")
        #expect(bannerFailure.contains("did not answer with HTTP"), "\(bannerFailure)")
        let header = try RawListener(reply: Array("HTTP/1.1 200 OK\r\nsecret-token-in-header\r\n\r\n".utf8))
        defer { header.stop() }
        let headerFailure = deliveryError { _ = try client.send(OutboundHTTPRequest(url: "http://127.0.0.1:\(header.port)/", body: [])) }
        #expect(!headerFailure.contains("secret"), "\(headerFailure)")
    }

    @Test func theDispatcherRecordsAStatusNotABodyAndRefusesInternalTargets() throws {
        let fixture = try AlertsFixture()
        let server = try RawListener(reply: Array("HTTP/1.1 500 Oops\r\nContent-Length: 26\r\n\r\nstack trace: db password=x".utf8))
        defer { server.stop() }
        try NotificationDispatcherTests.receiver(fixture, .webhook, "http://127.0.0.1:\(server.port)/hook")
        try NotificationDispatcherTests.openAlerts(fixture, 1)
        // Without the opt-in the scheduler never connects (a row created before the rule, or through a name).
        let strict = NotificationDispatcherTests.dispatcher(fixture, [:])
        #expect(try strict.deliverDue() == 1)
        var message = try #require(try fixture.notifications().first)
        #expect(message.lastError?.hasPrefix("refused: 127.0.0.1") == true, "\(message.lastError ?? "")")
        #expect(server.connections == 0)

        fixture.clock.advance(by: 3600)
        let allowed = NotificationDispatcherTests.dispatcher(fixture, ["notifications.webhook.allowed_hosts": "127.0.0.1"])
        #expect(try allowed.deliverDue() == 1)
        message = try #require(try fixture.notifications().first)
        #expect(message.lastError == "webhook: HTTP 500")
        #expect(server.connections == 1)
    }
}

func deliveryError(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch {
        return String(describing: error)
    }
}
