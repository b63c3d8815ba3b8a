import Glibc

/// A boolean of the calling thread (one pthread key): `FreshReads` and `EventLoopThread` are made of it.
struct ThreadFlag: Sendable {
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        self.key = key
    }

    /// The calling thread's value (false until set).
    var isSet: Bool { pthread_getspecific(key) != nil }

    func set(_ value: Bool) { pthread_setspecific(key, value ? UnsafeRawPointer(bitPattern: 1) : nil) }
}
