import Network

/// Signatures for outgoing webhooks: receivers recompute HMAC-SHA256 of the raw request body with the
/// shared secret and compare it with the `X-Signature`-style header value `sha256=<hex>`.
public enum WebhookSignature {
    /// Lower-case hex HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256Hex(key: [UInt8], message: [UInt8]) -> String { Crypto.hex(Crypto.hmacSHA256(key: key, message)) }

    /// The signature header value for `body`: `sha256=<hex HMAC-SHA256 of body keyed by the secret's UTF-8>`.
    public static func header(secret: String, body: [UInt8]) -> String {
        "sha256=" + hmacSHA256Hex(key: Array(secret.utf8), message: body)
    }
}
