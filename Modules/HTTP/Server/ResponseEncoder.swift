import Foundation
import Synchronization

/// Serializes responses: status line, the handler's headers, then `Date`, `Content-Length` and
/// `Connection` as the connection needs them. HEAD answers keep the length but carry no body. A file body is not
/// encoded here: the connection streams it after these bytes (`fileToSend`).
enum ResponseEncoder {
    static func encode(_ response: Response, headRequest: Bool, keepAlive: Bool, version: HTTPVersion) -> [UInt8] {
        var text = "HTTP/1.1 \(response.status) \(Response.reason(for: response.status))\r\n"
        for field in response.headers.fields {
            if field.name.caseInsensitiveEquals("Content-Length") || field.name.caseInsensitiveEquals("Connection")
                || field.name.caseInsensitiveEquals("Date") || field.name.caseInsensitiveEquals("Transfer-Encoding") {
                continue
            }
            // Never let a CR/LF from a header value split the response.
            if field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) { continue }
            text += "\(field.name): \(field.value)\r\n"
        }
        text += "Date: \(HTTPDate.now())\r\n"
        let bodyAllowed = response.status >= 200 && response.status != 204 && response.status != 304
        if bodyAllowed { text += "Content-Length: \(response.bodyLength)\r\n" }
        if !keepAlive {
            text += "Connection: close\r\n"
        } else if version == .http1_0 {
            text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if bodyAllowed, !headRequest, response.file == nil { bytes.append(contentsOf: response.body) }
        return bytes
    }

    /// The file whose bytes follow the encoded head, when the response has one and a body is sent.
    static func fileToSend(_ response: Response, headRequest: Bool) -> FileBody? {
        let bodyAllowed = response.status >= 200 && response.status != 204 && response.status != 304
        return bodyAllowed && !headRequest ? response.file : nil
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// The IMF-fixdate for `Date` headers, cached per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let second = spec.tv_sec
        if let cached = cache.withLock({ $0.second == second ? $0.text : nil }) { return cached }
        let text = format(second)
        cache.withLock { $0 = (second, text) }
        return text
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
