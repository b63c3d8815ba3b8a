import Foundation
internal import COpenSSL

/// The digests and MACs the network protocols need (SCRAM, MD5 passwords, webhook signatures), through OpenSSL.
public enum Crypto {
    public static func sha256(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_sha256(), 32) }

    public static func md5(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_md5(), 16) }

    /// HMAC-SHA256 of `data` under `key` (an empty key is a key, not OpenSSL's "reuse the previous one").
    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // OpenSSL reads a NULL key as "reuse the previous key": hand it a real pointer even when empty.
        let keyBytes = key.isEmpty ? [0] : key
        let result = keyBytes.withUnsafeBufferPointer { keyBuffer in
            data.withUnsafeBufferPointer { dataBuffer in
                output.withUnsafeMutableBufferPointer { out in
                    HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(key.count), dataBuffer.baseAddress, dataBuffer.count,
                         out.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC-SHA256 failed")
        return output
    }

    /// PBKDF2-HMAC-SHA256 (SCRAM's `Hi()` with a 32-byte output).
    public static func pbkdf2SHA256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        let status = password.withUnsafeBufferPointer { pw in
            salt.withUnsafeBufferPointer { saltBuffer in
                output.withUnsafeMutableBufferPointer { out in
                    pw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(pw.count, 1)) { pwChars in
                        PKCS5_PBKDF2_HMAC(pwChars, Int32(pw.count), saltBuffer.baseAddress, Int32(saltBuffer.count), Int32(iterations),
                                          EVP_sha256(), Int32(length), out.baseAddress)
                    }
                }
            }
        }
        precondition(status == 1, "PKCS5_PBKDF2_HMAC failed")
        return output
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        let status = output.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(status == 1, "RAND_bytes failed")
        return output
    }

    /// Lower-case hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Unpadded base64url (RFC 4648 §5).
    public static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Drains OpenSSL's thread-local error queue into one line ("unknown error" when empty).
    public static func drainOpenSSLErrors() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        iot_openssl_errors(&buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? "unknown error" : text
    }

    private static func digest(_ data: [UInt8], _ type: OpaquePointer?, _ size: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        var length: UInt32 = 0
        let status = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, type, nil)
            }
        }
        precondition(status == 1 && Int(length) == size, "EVP_Digest failed")
        return output
    }
}
