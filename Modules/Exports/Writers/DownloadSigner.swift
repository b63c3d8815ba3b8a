import Auth
import Network

/// Signs and checks export download links without storing anything.
///
/// A token is `base64url("<taskID>.<expiresAt>") + "." + base64url(HMAC-SHA256(secret, "<taskID>.<expiresAt>"))`, unpadded
/// base64url (RFC 4648 §5), e.g. `MTIuMTcwNjc4MTYwMA.<43 characters>`. `expiresAt` is unix seconds; a token is valid while
/// `now < expiresAt`. Verification accepts only the canonical encoding, compares the MAC in constant time (`CRYPTO_memcmp`)
/// before looking at the payload, and returns `.invalid` for any malformed input.
public struct DownloadSigner: Sendable {
    public enum VerifyResult: Sendable, Equatable {
        case valid(taskID: Int64)
        case expired
        case invalid
    }

    private static let macLength = 32
    /// Longest payload: two Int64 values with signs and the dot.
    private static let maxPayloadLength = 41

    private let secret: [UInt8]

    /// `secret` should be at least 32 random bytes; it must not be empty.
    public init(secret: [UInt8]) {
        precondition(!secret.isEmpty, "DownloadSigner needs a non-empty secret")
        self.secret = secret
    }

    /// A token for downloading task `taskID`'s file until `expiresAt` (unix seconds).
    public func token(taskID: Int64, expiresAt: Int64) -> String {
        let payload = Array("\(taskID).\(expiresAt)".utf8)
        guard let mac = mac(payload) else { preconditionFailure("HMAC-SHA256 failed") }
        return Base64URL.encode(payload) + "." + Base64URL.encode(mac)
    }

    /// Checks `token` at time `now` (unix seconds).
    public func verify(_ token: String, now: Int64) -> VerifyResult {
        let text = Array(token.utf8)
        guard text.count <= 56 + 1 + 43, let dot = text.firstIndex(of: UInt8(ascii: ".")),
              let payload = Base64URL.decode(text[..<dot]), !payload.isEmpty, payload.count <= Self.maxPayloadLength,
              let signature = Base64URL.decode(text[(dot + 1)...]), signature.count == Self.macLength,
              let expected = mac(payload)
        else { return .invalid }
        guard Secrets.constantTimeEquals(signature, expected) else { return .invalid }
        let parts = payload.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 2, let taskID = Self.integer(parts[0]), let expiresAt = Self.integer(parts[1]) else { return .invalid }
        return now < expiresAt ? .valid(taskID: taskID) : .expired
    }

    private func mac(_ payload: [UInt8]) -> [UInt8]? { Crypto.hmacSHA256(key: secret, payload) }

    /// A decimal Int64 with an optional leading `-`, nothing else; nil on overflow.
    private static func integer(_ bytes: ArraySlice<UInt8>) -> Int64? {
        let digits = bytes.first == UInt8(ascii: "-") ? bytes.dropFirst() : bytes
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(String(decoding: bytes, as: UTF8.self))
    }
}

/// Unpadded base64url (RFC 4648 §5).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String { Crypto.base64URL(bytes) }

    /// Decodes canonical unpadded base64url; nil for any other character, a dangling character or non-zero unused bits.
    static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0, bits = 0
        for char in text {
            let value: UInt32
            switch char {
            case UInt8(ascii: "A") ... UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "a") ... UInt8(ascii: "z"): value = UInt32(char - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): value = UInt32(char - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "_"): value = 63
            default: return nil
            }
            accumulator = (accumulator << 6 | value) & 0xFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
