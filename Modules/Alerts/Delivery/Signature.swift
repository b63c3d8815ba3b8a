internal import COpenSSL

/// Signatures for outgoing webhooks: receivers recompute HMAC-SHA256 of the raw request body with the
/// shared secret and compare it with the `X-Signature`-style header value `sha256=<hex>`.
public enum WebhookSignature {
    /// Lower-case hex HMAC-SHA256 of `message` under `key` (OpenSSL `HMAC(EVP_sha256(), …)`).
    public static func hmacSHA256Hex(key: [UInt8], message: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // OpenSSL reads a NULL key as "reuse the previous key": hand it a real pointer even when empty.
        let keyBytes = key.isEmpty ? [0] : key
        let result = keyBytes.withUnsafeBytes { keyBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                digest.withUnsafeMutableBufferPointer { out in
                    HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(key.count), messageBuffer.baseAddress, messageBuffer.count,
                         out.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC-SHA256 failed")
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in digest {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The signature header value for `body`: `sha256=<hex HMAC-SHA256 of body keyed by the secret's UTF-8>`.
    public static func header(secret: String, body: [UInt8]) -> String {
        "sha256=" + hmacSHA256Hex(key: Array(secret.utf8), message: body)
    }
}
