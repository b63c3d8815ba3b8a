import Foundation
import Network
internal import COpenSSL

/// Cryptographic primitives for the domain: random secrets, SHA-256, PBKDF2-HMAC-SHA256 and constant-time comparison
/// (the primitives themselves are `Network.Crypto`'s, once for the whole platform). Other modules (device keys, safe
/// codes) use these too.
public enum Secrets {
    /// `count` bytes from OpenSSL's CSPRNG (`RAND_bytes`).
    public static func randomBytes(_ count: Int) -> [UInt8] { Crypto.randomBytes(count) }

    /// A random URL-safe secret with a readable prefix, e.g. `iot_3q2…` (32 random bytes).
    public static func token(prefix: String = "iot_") -> String {
        prefix + base64URL(randomBytes(32))
    }

    /// SHA-256 digest.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { Crypto.sha256(bytes) }

    /// Lower-case hex SHA-256 of a UTF-8 string: how tokens and device keys are stored.
    public static func sha256Hex(_ text: String) -> String { hex(sha256(Array(text.utf8))) }

    /// The SHA-256 digest of a UTF-8 string as a value: a cache key that costs no allocation or hex formatting.
    public static func sha256Digest(_ text: String) -> SHA256Digest {
        var text = text
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var length: UInt32 = 0
        let status = text.withUTF8 { input in
            withUnsafeMutableBytes(of: &words) { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(status == 1 && length == 32, "EVP_Digest failed")
        return SHA256Digest(words: words)
    }

    /// PBKDF2-HMAC-SHA256.
    public static func pbkdf2(password: String, salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        Crypto.pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations, length: length)
    }

    /// Compares two byte strings in time independent of where they differ (`CRYPTO_memcmp`).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        // Hash first so lengths leak nothing either.
        constantTimeEquals(sha256(Array(a.utf8)), sha256(Array(b.utf8)))
    }

    public static func hex(_ bytes: [UInt8]) -> String { Crypto.hex(bytes) }

    public static func base64URL(_ bytes: [UInt8]) -> String { Crypto.base64URL(bytes) }
}

/// Password hashes in the self-describing form `pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>`.
public enum PasswordHasher {
    public static let defaultIterations = 600_000

    public static func hash(_ password: String, iterations: Int) -> String {
        let salt = Secrets.randomBytes(16)
        let derived = Secrets.pbkdf2(password: password, salt: salt, iterations: iterations)
        return "pbkdf2_sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(derived).base64EncodedString())"
    }

    public static func verify(_ password: String, against encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2_sha256", let iterations = Int(parts[1]), iterations > 0, iterations <= 10_000_000,
              let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3]))
        else { return false }
        let derived = Secrets.pbkdf2(password: password, salt: Array(salt), iterations: iterations, length: expected.count)
        return Secrets.constantTimeEquals(derived, Array(expected))
    }
}

/// A SHA-256 digest held in four words (the bytes in order, as OpenSSL wrote them).
public struct SHA256Digest: Hashable, Sendable {
    let words: (UInt64, UInt64, UInt64, UInt64)

    /// Lower-case hex, as `Secrets.sha256Hex` gives for the same input.
    public var hex: String {
        withUnsafeBytes(of: words) { Secrets.hex(Array($0)) }
    }

    public static func == (a: SHA256Digest, b: SHA256Digest) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    /// One word suffices: a digest's bits are already uniformly spread.
    public func hash(into hasher: inout Hasher) { hasher.combine(words.0) }
}
