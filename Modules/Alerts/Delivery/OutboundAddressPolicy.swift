import Foundation
import Glibc

/// Which hosts an outbound request made on a tenant's behalf (a webhook) may reach: public unicast addresses only,
/// unless the operator lists a host name or a CIDR in `notifications.webhook.allowed_hosts` (OWASP's SSRF guidance).
///
/// Checked twice: `refusal(host:)` at creation on the URL's host alone (address literals in every notation that
/// `getaddrinfo` accepts, `localhost` and special-use names; no DNS lookup), and `permits(_:host:)` on every address
/// a name resolves to at connect time. The client connects only to an address it checked, so a DNS answer that
/// changes between the two (rebinding) cannot swap in an internal one.
public struct OutboundAddressPolicy: Sendable {
    /// Host names (lowercased, no trailing dot) that may resolve to any address.
    public let allowedNames: Set<String>
    /// Networks (address bytes, prefix length) whose addresses are allowed even when private.
    public let allowedNetworks: [Network]
    /// False: every address is allowed (operator-configured targets such as the SMS gateway).
    public let restricted: Bool

    /// An address block: 4 or 16 bytes and a prefix length.
    public struct Network: Sendable, Equatable {
        public let bytes: [UInt8]
        public let prefix: Int

        public func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for index in 0..<bytes.count where remaining > 0 {
                let bits = min(8, remaining)
                let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if address[index] & mask != bytes[index] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// Public addresses only.
    public static let publicOnly = OutboundAddressPolicy(allowedNames: [], allowedNetworks: [], restricted: true)
    /// Any address (for targets the operator configured, never for tenant-supplied ones).
    public static let unrestricted = OutboundAddressPolicy(allowedNames: [], allowedNetworks: [], restricted: false)

    init(allowedNames: Set<String>, allowedNetworks: [Network], restricted: Bool) {
        self.allowedNames = allowedNames
        self.allowedNetworks = allowedNetworks
        self.restricted = restricted
    }

    /// Parses `notifications.webhook.allowed_hosts`: comma-separated host names, addresses or CIDRs
    /// (`127.0.0.1/32,hooks.internal,fd00::/8`). Throws a message naming the bad entry.
    public init(allowedHosts text: String) throws(DeliveryError) {
        var names: Set<String> = []
        var networks: [Network] = []
        for rawEntry in text.split(separator: ",") {
            let entry = rawEntry.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty { continue }
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let address = String(parts[0]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if let bytes = Self.strictLiteral(address) {
                var prefix = bytes.count * 8
                if parts.count == 2 {
                    guard let value = Int(parts[1]), (0...bytes.count * 8).contains(value) else {
                        throw DeliveryError("\"\(entry)\" has an invalid prefix length")
                    }
                    prefix = value
                }
                networks.append(Network(bytes: bytes, prefix: prefix))
            } else {
                let name = Self.normalizedName(entry)
                guard parts.count == 1, !name.isEmpty, name.utf8.allSatisfy(Self.isHostNameByte) else {
                    throw DeliveryError("\"\(entry)\" is neither a host name nor an address or CIDR")
                }
                names.insert(name)
            }
        }
        self.init(allowedNames: names, allowedNetworks: networks, restricted: true)
    }

    // MARK: Checks

    /// Why a URL with this host may not be used (checked without DNS), or nil. `host` is the URL's host without brackets.
    public func refusal(host: String) -> String? {
        guard restricted else { return nil }
        let name = Self.normalizedName(host)
        if allowedNames.contains(name) { return nil }
        if let bytes = Self.literal(name) {
            if isAllowed(bytes) { return nil }
            return "must not point at a loopback, private, link-local or otherwise non-public address"
        }
        if Self.specialUseSuffixes.contains(where: { name == $0 || name.hasSuffix("." + $0) }) {
            return "must not point at \(name): a local or internal host name"
        }
        return nil
    }

    /// True when a connection to `address` (4 or 16 bytes), resolved from `host`, is allowed.
    public func permits(_ address: [UInt8], host: String) -> Bool {
        guard restricted else { return true }
        if allowedNames.contains(Self.normalizedName(host)) { return true }
        return isAllowed(address)
    }

    private func isAllowed(_ address: [UInt8]) -> Bool {
        if allowedNetworks.contains(where: { $0.contains(address) }) { return true }
        // An IPv4-mapped allowance also covers the mapped IPv6 form and back.
        if let embedded = Self.embeddedIPv4(address), allowedNetworks.contains(where: { $0.contains(embedded) }) { return true }
        return Self.isPublic(address)
    }

    /// True for a global unicast address: not loopback, unspecified, private (RFC 1918, RFC 4193), link-local,
    /// carrier-grade NAT, multicast, documentation, benchmarking, reserved, nor an IPv6 form embedding one of those.
    public static func isPublic(_ address: [UInt8]) -> Bool {
        if address.count == 4 { return !blockedIPv4.contains { $0.contains(address) } }
        guard address.count == 16 else { return false }
        if let embedded = embeddedIPv4(address) { return isPublic(embedded) }
        return !blockedIPv6.contains { $0.contains(address) }
    }

    /// The IPv4 address inside IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
    /// and 6to4 (`2002::/16`) IPv6 addresses.
    static func embeddedIPv4(_ address: [UInt8]) -> [UInt8]? {
        guard address.count == 16 else { return nil }
        let head = address[0..<10]
        if head.allSatisfy({ $0 == 0 }) {
            if address[10] == 0xFF && address[11] == 0xFF { return Array(address[12..<16]) }
            if address[10] == 0 && address[11] == 0 {
                // :: and ::1 are themselves (unspecified, loopback), not compatible forms.
                let tail = Array(address[12..<16])
                return tail == [0, 0, 0, 0] || tail == [0, 0, 0, 1] ? nil : tail
            }
        }
        if address[0..<12].elementsEqual([0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]) { return Array(address[12..<16]) }
        if address[0] == 0x20 && address[1] == 0x02 { return Array(address[2..<6]) }
        return nil
    }

    // MARK: Parsing

    /// The bytes of an address literal in any notation the resolver accepts: dotted IPv4 with decimal, octal (`0177.0.0.1`)
    /// or hex parts, shortened (`127.1`), one number (`2130706433`, `0x7f000001`), or IPv6.
    static func literal(_ text: String) -> [UInt8]? {
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        guard !text.isEmpty, text.utf8.allSatisfy({ isHostNameByte($0) }) else { return nil }
        var v4 = in_addr()
        if inet_aton(text, &v4) != 0 { return withUnsafeBytes(of: &v4) { Array($0) } }
        return nil
    }

    /// Only the standard dotted-quad IPv4 and IPv6 forms (for the operator's list).
    static func strictLiteral(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// Lowercased, without a trailing dot (`LOCALHOST.` is `localhost`).
    static func normalizedName(_ host: String) -> String {
        var name = host.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }

    static func isHostNameByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x2E
            || byte == 0x5F
    }

    /// Names that never denote a public host: RFC 6761 `localhost`, RFC 8375 `home.arpa`, `local` (mDNS), and `internal`
    /// (cloud metadata and private DNS, e.g. `metadata.google.internal`).
    static let specialUseSuffixes = ["localhost", "localdomain", "local", "internal", "home.arpa", "ip6-localhost", "ip6-loopback"]

    private static func network(_ text: String) -> Network {
        let parts = text.split(separator: "/")
        return Network(bytes: strictLiteral(String(parts[0]))!, prefix: Int(parts[1])!)
    }

    /// IANA's IPv4 special-purpose registry, and multicast and the reserved class E.
    static let blockedIPv4: [Network] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    ].map(network)

    /// IANA's IPv6 special-purpose registry (forms embedding IPv4 are checked through that address).
    static let blockedIPv6: [Network] = [
        "::/127", "::/96", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "fc00::/7",
        "fe80::/10", "fec0::/10", "ff00::/8",
    ].map(network)
}
