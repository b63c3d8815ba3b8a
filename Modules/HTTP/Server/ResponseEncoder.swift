import Core
import Foundation
import Synchronization

/// Serializes responses: status line, the handler's headers, then `Date`, `X-Content-Type-Options: nosniff` (on every
/// answer: no browser guesses a JSON error or a download to be HTML), `Content-Length` and `Connection` as the connection
/// needs them. HEAD answers keep the length but carry no body. A file body is not
/// encoded here: the connection streams it after these bytes (`fileToSend`).
enum ResponseEncoder {
    static func encode(_ response: Response, headRequest: Bool, keepAlive: Bool, version: HTTPVersion) -> [UInt8] {
        let bodyAllowed = response.status >= 200 && response.status != 204 && response.status != 304
        let bodyCount = bodyAllowed && !headRequest ? response.body.count : 0
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + response.headers.fields.count * 40 + bodyCount)
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(response.status, to: &bytes)
        bytes.append(0x20)
        bytes.append(contentsOf: Response.reason(for: response.status).utf8)
        bytes.append(contentsOf: crlf)
        for field in response.headers.fields {
            if field.name.caseInsensitiveEquals("Content-Length") || field.name.caseInsensitiveEquals("Connection")
                || field.name.caseInsensitiveEquals("Date") || field.name.caseInsensitiveEquals("Transfer-Encoding")
                || field.name.caseInsensitiveEquals("X-Content-Type-Options") {
                continue
            }
            // Never let a CR/LF from a header value split the response.
            if field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) { continue }
            bytes.append(contentsOf: field.name.utf8)
            bytes.append(0x3A)
            bytes.append(0x20)
            bytes.append(contentsOf: field.value.utf8)
            bytes.append(contentsOf: crlf)
        }
        bytes.append(contentsOf: "Date: ".utf8)
        HTTPDate.append(to: &bytes)
        bytes.append(contentsOf: nosniff)
        if bodyAllowed {
            bytes.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(response.bodyLength, to: &bytes)
            bytes.append(contentsOf: crlf)
        }
        if !keepAlive {
            bytes.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http1_0 {
            bytes.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        bytes.append(contentsOf: crlf)
        if bodyCount > 0, response.file == nil { bytes.append(contentsOf: response.body) }
        return bytes
    }

    /// The file whose bytes follow the encoded head, when the response has one and a body is sent.
    static func fileToSend(_ response: Response, headRequest: Bool) -> FileBody? {
        let bodyAllowed = response.status >= 200 && response.status != 204 && response.status != 304
        return bodyAllowed && !headRequest ? response.file : nil
    }

    private static let crlf: [UInt8] = [0x0D, 0x0A]
    /// Ends the `Date` line and adds the nosniff header.
    private static let nosniff: [UInt8] = Array("\r\nX-Content-Type-Options: nosniff\r\n".utf8)

    static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        guard value > 0 else { bytes.append(0x30); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
            = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while rest > 0 {
                raw[count] = UInt8(0x30 + rest % 10)
                rest /= 10
                count += 1
            }
            while count > 0 {
                count -= 1
                bytes.append(raw[count])
            }
        }
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// The IMF-fixdate for `Date` headers, cached per second in each thread (no lock, no formatting per response).
enum HTTPDate {
    final class Cache: @unchecked Sendable {
        // Touched only by its own thread (reached through `PerThread.local`).
        var second = -1
        var bytes: [UInt8] = []
    }

    private static let caches = PerThread { Cache() }

    static func now() -> String {
        var bytes: [UInt8] = []
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func append(to bytes: inout [UInt8]) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &spec)
        let second = spec.tv_sec
        let cache = caches.local
        if cache.second != second {
            cache.bytes = Array(format(second).utf8)
            cache.second = second
        }
        bytes.append(contentsOf: cache.bytes)
    }

    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
