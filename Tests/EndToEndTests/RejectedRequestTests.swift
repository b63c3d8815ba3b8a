import Core
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14 item 6: a request the parser rejects (400, 413, 431, 505, 501) is answered with an `X-Request-Id` and
/// appears in the access log under that id, like every other request.
@Suite struct RejectedRequestTests {
    /// Sends raw bytes on a fresh connection and reads until the server closes; returns the status and headers.
    static func exchange(_ port: Int, _ bytes: [UInt8]) throws -> (status: Int, headers: [String: String]) {
        let fd = try HTTPTestClient.connect(port: port, timeout: 10)
        defer { Glibc.close(fd) }
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }   // the server may answer and close before the whole request went out
            offset += count
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
        let text = String(decoding: received, as: UTF8.self)
        let head = text.components(separatedBy: "\r\n\r\n").first ?? ""
        let lines = head.components(separatedBy: "\r\n")
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    @Test func parserRejectionsCarryARequestIDAndAreInTheAccessLog() throws {
        let server = try Shared.get()
        let cases: [(expected: Int, bytes: [UInt8])] = [
            (400, Array("GARBAGE\r\n\r\n".utf8)),
            (400, Array("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n".utf8)),
            (431, Array(("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 20_000) + "\r\n\r\n").utf8)),
            (413, Array("POST /api/v2/tokens/ HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n".utf8)),
            (505, Array("GET / HTTP/2.0\r\nHost: x\r\n\r\n".utf8)),
            (501, Array("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".utf8)),
            // A bad chunk after a good head: the head's own id is echoed.
            (400, Array("POST /api/v2/tokens/ HTTP/1.1\r\nHost: x\r\nX-Request-Id: rejected-chunk-7\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8)),
            // A target that cannot be decoded (the parser passes it, the request builder does not).
            (400, Array("GET /api/v2/%zz/ HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
        ]
        for (expected, bytes) in cases {
            let (status, headers) = try Self.exchange(server.port, bytes)
            #expect(status == expected, "\(String(decoding: bytes.prefix(60), as: UTF8.self))")
            let id = try #require(headers["x-request-id"], "no X-Request-Id on the \(status)")
            #expect(!id.isEmpty)
            if expected == 400, bytes.count > 80, String(decoding: bytes, as: UTF8.self).contains("rejected-chunk-7") {
                #expect(id == "rejected-chunk-7")
            }
            var line: String?
            for _ in 0..<150 where line == nil {
                line = server.log.split(separator: "\n").first { $0.contains("\"request_id\":\"\(id)\"") }.map(String.init)
                if line == nil { usleep(20_000) }
            }
            let entry = try JSONParser.parse(try #require(line, "no access log line for \(id) (\(status))"))
            #expect(entry["msg"] == .string("request"))
            #expect(entry["status"] == .number(Double(expected)))
            #expect(entry["route"] == .string("rejected"))
        }
    }
}
