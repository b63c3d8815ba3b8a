import CEpoll
#if canImport(Glibc)
import Glibc
#endif

/// What the selector reports for a file descriptor, translated once from `EPOLL*` bits.
struct IOEvent {
    let fd: Int32
    let readable: Bool
    let writable: Bool
    /// Peer hung up or the socket failed.
    let hangup: Bool
}

/// Interest in a file descriptor.
struct Interest: Equatable {
    var read: Bool
    var write: Bool

    static let none = Interest(read: false, write: false)
    static let read = Interest(read: true, write: false)

    var bits: UInt32 {
        var bits: UInt32 = 0
        if read { bits |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if write { bits |= EPOLLOUT.rawValue }
        return bits
    }
}

/// A level-triggered epoll instance plus an eventfd to wake it from other threads. Internal to HTTP.
final class Selector {
    let epollFD: Int32
    let wakeFD: Int32
    private var events: [epoll_event]

    init(capacity: Int = 1024) throws {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw IOError(call: "epoll_create1", errno: errno) }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw IOError(call: "eventfd", errno: errno) }
        events = [epoll_event](repeating: epoll_event(), count: capacity)
        try add(wakeFD, .read)
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    func add(_ fd: Int32, _ interest: Interest) throws {
        var event = epoll_event()
        event.events = interest.bits
        event.data.fd = fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { throw IOError(call: "epoll_ctl(ADD)", errno: errno) }
    }

    func modify(_ fd: Int32, _ interest: Interest) {
        var event = epoll_event()
        event.events = interest.bits
        event.data.fd = fd
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    /// Wakes a thread blocked in `wait` (callable from any thread).
    func wakeUp() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Waits up to `timeoutMilliseconds` and returns the ready descriptors (the wake fd is drained and skipped).
    func wait(timeoutMilliseconds: Int32) -> [IOEvent] {
        let count = events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        guard count > 0 else { return [] }
        var ready: [IOEvent] = []
        ready.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let event = events[index]
            let fd = event.data.fd
            if fd == wakeFD {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
                continue
            }
            let bits = event.events
            ready.append(IOEvent(fd: fd, readable: bits & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0,
                                 writable: bits & EPOLLOUT.rawValue != 0,
                                 hangup: bits & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0))
        }
        return ready
    }
}
