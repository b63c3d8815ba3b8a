/// Checks of receiver addresses: E.164 phone numbers, e-mail addresses, webhook URLs.
public enum ReceiverAddress {
    /// A message naming what is wrong with `text` as an address of `channel`, or nil when it is valid. Webhook URLs
    /// must also point at a host `policy` allows (public addresses only, unless the operator allowed more).
    public static func problem(_ text: String, channel: AlertChannel, policy: OutboundAddressPolicy = .publicOnly) -> String? {
        switch channel {
        case .sms: isE164(text) ? nil : "must be an E.164 phone number such as +8613800000000"
        case .email: isEmail(text) ? nil : "must be an e-mail address such as ops@example.com"
        case .webhook: OutboundHTTPClient.validateURL(text, policy: policy)
        }
    }

    /// `+` then 2–15 digits, the first not 0 (ITU-T E.164).
    static func isE164(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 3, bytes.count <= 16, bytes[0] == UInt8(ascii: "+"), bytes[1] != UInt8(ascii: "0") else { return false }
        return bytes.dropFirst().allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// A pragmatic check: one `@`, a non-empty local part, a dotted domain, no spaces or control characters, ≤ 254 bytes.
    static func isEmail(_ text: String) -> Bool {
        guard text.utf8.count <= 254, !text.unicodeScalars.contains(where: { $0.value <= 32 || $0 == "\u{7F}" || $0 == "," || $0 == "<" || $0 == ">" })
        else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }
}
