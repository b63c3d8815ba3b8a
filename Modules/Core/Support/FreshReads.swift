import Glibc

/// Whether the work on this thread serves a client that asked for fresh data — an HTTP request with
/// `Cache-Control: no-cache` (RFC 9111 §5.2.1.4) or `Pragma: no-cache`. The in-process caches (`ThreadLocalCache`,
/// `ScopedCache`, the project cache) then miss, so the answer is read from the database: a client that wrote through
/// one server reads its write back through any other at once. Answers read this way still refresh the caches.
public enum FreshReads {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True inside `during(true) { … }` on this thread.
    public static var areRequested: Bool { pthread_getspecific(key) != nil }

    /// Runs `body` with fresh reads requested (when `requested`) on this thread.
    public static func during<T>(_ requested: Bool, _ body: () throws -> T) rethrows -> T {
        guard requested else { return try body() }
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, previous) }
        return try body()
    }
}
