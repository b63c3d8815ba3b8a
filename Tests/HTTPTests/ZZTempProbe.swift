import Foundation
@testable import HTTP
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ZZTempProbe {
    @Test func probeResetDuringHandler() throws {
        let started = DispatchSemaphore(value: 0)
        let server = try TestHTTPServer(onRequest: { if $0.path == "/sleep" { started.signal() } })
        defer { server.stop() }
        let connection = try RawConnection(port: server.port)
        try connection.send("GET /sleep?s=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = started.wait(timeout: .now() + 5)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        var before = rusage(); getrusage(RUSAGE_SELF.rawValue, &before)
        connection.close()
        Thread.sleep(forTimeInterval: 1.5)
        var after = rusage(); getrusage(RUSAGE_SELF.rawValue, &after)
        func secs(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        let cpu = secs(after.ru_utime) + secs(after.ru_stime) - secs(before.ru_utime) - secs(before.ru_stime)
        print("CPU during 1.5 s after reset: \(cpu)")
    }
}
