/// Random identifiers for generated keys such as `proj_<random>` and request ids.
/// Uses the system CSPRNG (getrandom); secrets such as tokens use OpenSSL in Auth.
public enum RandomID {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func make(length: Int = 12) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        for _ in 0..<length { bytes.append(alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func make(prefix: String, length: Int = 12) -> String { prefix + make(length: length) }
}
