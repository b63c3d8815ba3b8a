import Glibc
internal import COpenSSL

// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE in a process that does not ignore it when
// the peer has gone. This BIO uses send(2) with MSG_NOSIGNAL; the descriptor + 1 is the BIO's data.

private let retryRead = Int32(BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
private let retryWrite = Int32(BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY)
private let allRetry = Int32(BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)

private func descriptor(of bio: OpaquePointer?) -> Int32 { Int32(Int(bitPattern: BIO_get_data(bio)) - 1) }

/// A new BIO over `fd` that never raises SIGPIPE.
func makeSocketBIO(_ fd: Int32) -> OpaquePointer? {
    guard let method = socketBIOMethod, let bio = BIO_new(method) else { return nil }
    BIO_set_data(bio, UnsafeMutableRawPointer(bitPattern: Int(fd) + 1))
    return bio
}

nonisolated(unsafe) private let socketBIOMethod: OpaquePointer? = {
    guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "iot-network socket") else { return nil }
    _ = BIO_meth_set_write_ex(method) { bio, data, length, written in
        BIO_clear_flags(bio, allRetry)
        let count = Glibc.send(descriptor(of: bio), data, length, Int32(MSG_NOSIGNAL))
        if count >= 0 {
            written?.pointee = count
            return 1
        }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { BIO_set_flags(bio, retryWrite) }
        return 0
    }
    _ = BIO_meth_set_read_ex(method) { bio, data, length, received in
        BIO_clear_flags(bio, allRetry)
        let count = Glibc.recv(descriptor(of: bio), data, length, 0)
        if count > 0 {
            received?.pointee = count
            return 1
        }
        if count == 0 {
            BIO_set_flags(bio, Int32(BIO_FLAGS_IN_EOF))
        } else if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
            BIO_set_flags(bio, retryRead)
        }
        return 0
    }
    _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
        switch command {
        case BIO_CTRL_FLUSH: return 1
        case BIO_CTRL_EOF: return BIO_test_flags(bio, Int32(BIO_FLAGS_IN_EOF)) != 0 ? 1 : 0
        default: return 0
        }
    }
    _ = BIO_meth_set_create(method) { bio in
        BIO_set_init(bio, 1)
        return 1
    }
    return method
}()
