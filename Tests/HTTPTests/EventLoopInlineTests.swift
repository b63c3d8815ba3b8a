import Core
import Foundation
import HTTP
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The same server guarantees when handlers run on the event loops (everything but `/sleep`, which is marked
/// blocking and runs on the pool), with several loops: order of pipelined answers, no pile-up of unread
/// responses, a slow handler that stalls no other connection, 100-continue, the connection cap, graceful shutdown.
@Suite struct EventLoopInlineTests {
    @Test func pipelinedInlineAndBlockingRequestsAreAnsweredInOrder() throws {
        let server = try TestHTTPServer.inline()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.sendInOneCall("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /sleep?s=0.3&x=slow HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
            + "GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        let answers = try (0..<4).map { _ in try connection.readResponse() }
        #expect(answers.map(\.status) == [200, 200, 200, 200])
        #expect(answers.map { $0.echo("path") } == ["/a", "/sleep", "/b", "/c"])
        #expect(answers[2].echo("body") == "xyz")
        #expect(server.handled.values == ["/a", "/sleep", "/b", "/c"])
        // The inline ones ran on the connection's event loop (one thread), the slow one on a pool thread.
        let threads = Dictionary(uniqueKeysWithValues: server.threads.values.map { ($0.split(separator: " ")[0], $0.split(separator: " ")[1]) })
        #expect(threads["/a"] == threads["/b"] && threads["/b"] == threads["/c"])
        #expect(threads["/sleep"] != threads["/a"])
    }

    @Test func unreadInlineResponsesDoNotPileUp() throws {
        let server = try TestHTTPServer.inline()
        defer { server.stop() }
        try server.expectUnreadResponsesDoNotPileUp(pause: 0.05, settle: 0.3)
    }

    @Test func aSlowBlockingHandlerStallsNoOtherConnection() throws {
        let server = try TestHTTPServer.inline(loops: 1)
        defer { server.stop() }
        let slow = try RawConnection(port: server.port)
        try slow.send("GET /sleep?s=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        let started = Date()
        for index in 0..<20 {
            let other = try RawConnection(port: server.port)
            try other.send("GET /fast?x=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try other.readResponse().echo("x") == "\(index)")
        }
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(try slow.readResponse().echo("path") == "/sleep")
    }

    @Test func continueThenInlineAnswer() throws {
        let server = try TestHTTPServer.inline()
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try connection.readResponse().status == 100)
        try connection.send("hello")
        let response = try connection.readResponse()
        #expect(response.status == 200 && response.echo("body") == "hello")
    }

    @Test func connectionsSpreadOverLoopsAndTheCapHoldsAcrossThem() throws {
        let server = try TestHTTPServer.inline(loops: 3) { $0.maxConnections = 4 }
        defer { server.stop() }
        var open: [RawConnection] = []
        for index in 0..<4 {
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /k\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
            open.append(connection)
        }
        let extra = try RawConnection(port: server.port, timeout: 2)
        try? extra.send("GET /extra HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(throws: (any Error).self) { try extra.readResponse() }
        // Each loop answered some of them: the accepted sockets were handed over round-robin.
        #expect(Set(server.threads.values.map { $0.split(separator: " ")[1] }).count == 3)
        open.removeAll()
    }

    @Test func gracefulShutdownLetsTheBlockingRequestFinish() throws {
        let server = try TestHTTPServer.inline()
        let slow = try RawConnection(port: server.port)
        try slow.send("GET /sleep?s=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        let idle = try RawConnection(port: server.port)
        try idle.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        Thread.sleep(forTimeInterval: 0.1)
        let stopper = Thread { server.stop() }
        stopper.start()
        let response = try slow.readResponse()
        #expect(response.status == 200)
        #expect(response.headers.contains { $0.0.lowercased() == "connection" && $0.1 == "close" })
        #expect(idle.readEnd() == .eof)
        while !stopper.isFinished { usleep(10_000) }
    }
}
