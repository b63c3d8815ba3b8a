import Core
import Foundation
@testable import HTTP
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// File bodies: streamed from the descriptor in chunks after the head (never whole in memory), sliced for ranges,
/// dropped for HEAD, descriptors closed once sent, and a slow reader of a big file blocks no other connection.
@Suite struct FileBodyTests {
    /// A server answering `/file` with `path` (`?from=&to=` selects a slice) and `/small` with text.
    final class FileServer: Sendable {
        let server: HTTPServer
        let port: Int
        let path: String
        let content: [UInt8]

        init(size: Int) throws {
            path = NSTemporaryDirectory() + "/file-body-\(getpid())-\(RandomID.make(length: 8)).bin"
            content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 251) }
            guard FileManager.default.createFile(atPath: path, contents: Data(content)) else { throw CocoaError(.fileWriteUnknown) }
            let path = path
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.workerThreads = 2
            server = HTTPServer(configuration: configuration, responder: ClosureResponder { request in
                guard request.path == "/file", var body = FileBody(path: path) else { return .text("small") }
                if let from = request.query["from"].flatMap(Int64.init), let to = request.query["to"].flatMap(Int64.init) { body.select(from...to) }
                return .file(body, contentType: "application/octet-stream")
            }, logger: Logger(level: .error))
            port = try server.start()
        }

        func stop() {
            server.shutdown(gracePeriod: 1)
            unlink(path)
        }
    }

    /// This process's descriptors open on `path` (counting only the served file: other suites running in parallel
    /// open and close sockets and databases of their own, so a count of all descriptors was flaky).
    static func descriptors(openOn path: String) -> Int {
        guard let resolved = realpath(path, nil) else { return 0 }
        defer { free(resolved) }
        let target = String(cString: resolved)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)) == target }.count
    }

    @Test func aFileIsStreamedWholeAndTheNextPipelinedRequestFollows() throws {
        let server = try FileServer(size: 3 << 20)
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.sendInOneCall("GET /file HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        let file = try connection.readResponse()
        #expect(file.status == 200)
        #expect(file.header("Content-Length") == String(server.content.count))
        #expect(file.body == server.content)
        #expect(try connection.readResponse().text == "small")
    }

    @Test func aSliceHeadAndDescriptorsClosedAfterwards() throws {
        let server = try FileServer(size: 200_000)
        defer { server.stop() }
        let client = HTTPTestClient(port: server.port)
        _ = try client.get("/small")
        // The count sees a descriptor on the file (our own, here).
        let own = open(server.path, O_RDONLY)
        #expect(Self.descriptors(openOn: server.path) == 1)
        close(own)
        for _ in 0..<10 {
            let slice = try client.get("/file?from=1000&to=150999")
            #expect(slice.body == Array(server.content[1_000...150_999]))
            let head = try client.request("HEAD", "/file")
            #expect(head.header("Content-Length") == "200000")
            #expect(head.body.isEmpty)
        }
        // Each response closes its file once sent; the last one may still be finishing on the loop.
        var open = Self.descriptors(openOn: server.path)
        for _ in 0..<40 where open > 0 {
            usleep(50_000)
            open = Self.descriptors(openOn: server.path)
        }
        #expect(open == 0)
    }

    @Test func aSlowReaderOfABigFileDoesNotStallOtherConnections() throws {
        let server = try FileServer(size: 16 << 20)
        defer { server.stop() }
        let slow = try RawConnection(port: server.port, receiveBuffer: 4096)
        try slow.send("GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(200_000)   // the server has filled the slow socket and waits for it to drain
        let started = Date()
        for _ in 0..<5 { #expect(try HTTPTestClient(port: server.port).get("/small").text == "small") }
        #expect(Date().timeIntervalSince(started) < 2)
        let file = try slow.readResponse()
        #expect(file.body.count == server.content.count)
        #expect(file.body == server.content)
    }
}
