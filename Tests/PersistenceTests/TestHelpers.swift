import Foundation
import Persistence
import TestSupport

/// The one temporary-folder type of the tests (TestSupport's), under the name these tests use.
typealias TemporaryFolder = TemporaryDirectory

extension TemporaryDirectory {
    init() throws { self.init("persistence-tests") }
}

/// A thread started immediately; `join()` waits for it to finish.
final class TestThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let thread = Thread {
            body()
            finished.signal()
        }
        thread.start()
    }

    func join() { finished.wait() }
}

struct ExpectedFailure: Error {}

extension DatabasePool {
    /// The number of rows of `table`, read through a reader connection.
    func count(_ table: String) throws -> Int64 {
        try read { db in try db.queryOne("SELECT count(*) FROM \(table)")?.int(0) ?? -1 }
    }
}

/// A value shared between test threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    var current: Value { lock.withLock { value } }

    func mutate<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}
