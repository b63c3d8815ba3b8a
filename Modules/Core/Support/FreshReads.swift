/// Whether the work on this thread serves a client that asked for fresh data — an HTTP request with
/// `Cache-Control: no-cache` (RFC 9111 §5.2.1.4) or `Pragma: no-cache`. The in-process caches (`ThreadLocalCache`,
/// `ScopedCache`, the project cache) then miss, so the answer is read from the database: a client that wrote through
/// one server reads its write back through any other at once. Answers read this way still refresh the caches.
public enum FreshReads {
    private static let requested = ThreadFlag()

    /// True inside `during(true) { … }` on this thread.
    public static var areRequested: Bool { requested.isSet }

    /// Runs `body` with fresh reads requested (when `requested`) on this thread.
    public static func during<T>(_ requested: Bool, _ body: () throws -> T) rethrows -> T {
        guard requested else { return try body() }
        let previous = Self.requested.isSet
        Self.requested.set(true)
        defer { Self.requested.set(previous) }
        return try body()
    }
}
