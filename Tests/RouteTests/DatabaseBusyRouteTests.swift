import Core
import DomainTestSupport
import Foundation
import Persistence
import Testing
import TestSupport

/// A busy database (another process holds SQLite's write lock past `db.busy_timeout_ms`) answers 503 `UNAVAILABLE`
/// with `Retry-After`: nothing was wrong with the request, and the client may send it again. It used to be a 500.
@Suite struct DatabaseBusyRouteTests {
    @Test func aWriteWhileAnotherConnectionHoldsTheWriteLockIs503WithRetryAfter() throws {
        let directory = TemporaryDirectory("iot-busy")
        defer { directory.remove() }
        let path = directory.file("iot.db")
        let server = try InProcessServer(config: ["db.path": path, "db.url": "", "db.busy_timeout_ms": "0"])
        let client = server.client()
        let other = try DatabasePool(path: path)
        defer { other.close() }
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? other.write { _ in   // BEGIN IMMEDIATE: the write lock, held until released
                holding.signal()
                release.wait()
            }
            done.signal()
        }.start()
        holding.wait()
        let body: JSON = .object(["project_id": .string("p-busy-\(RandomID.make(length: 8))"), "name": .string("Busy")])
        let busy = try client.post("/api/v2/projects/", body)
        release.signal()
        done.wait()
        #expect(busy.status == 503)
        #expect(busy.code == "UNAVAILABLE")
        #expect(busy.header("Retry-After") == "1")
        #expect(try client.post("/api/v2/projects/", body).status == 201)
    }

    @Test func postgresBusyAndLostConnectionsAreTransientLikeSQLiteBusy() {
        #expect(DatabaseError.transientProbe(sqlState: "40001").isTransient)
        #expect(DatabaseError.transientProbe(sqlState: "40P01").isBusy)
        #expect(DatabaseError.transientProbe(sqlState: "23505").isUniqueViolation)
        #expect(!DatabaseError.transientProbe(sqlState: "23505").isTransient)
        #expect(DatabaseError.transientProbe(sqlState: nil, connectionLost: true).isTransient)
    }
}
