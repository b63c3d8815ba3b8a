/// One client connection's state, owned by the event loop thread.
final class Connection {
    enum Phase {
        /// Reading and parsing requests.
        case reading
        /// A request is with a handler; reading is paused (pipelined bytes wait in the kernel).
        case awaitingResponse
        /// The last response is being written; then the connection closes.
        case closingAfterWrite
        /// Write side shut down after a final response; unread input is discarded until EOF or a deadline,
        /// so the peer sees the response instead of a reset.
        case draining
    }

    let fd: Int32
    let id: UInt64
    let remoteAddress: String
    var phase = Phase.reading
    var parser: HTTPRequestParser
    var input = ByteBuffer()
    var head: RequestHead?
    var body: [UInt8] = []
    var output: [UInt8] = []
    var outputOffset = 0
    /// A file body still being streamed after `output` (see `EventLoop.refill`).
    var file: FileBody?
    var filePosition: Int64 = 0
    var fileRemaining: Int64 = 0
    /// A response is in `output`; when it is flushed the next request may be parsed.
    var responsePending = false
    var interest = Interest.read
    var lastActivity: Double
    /// When the first byte of the current request head arrived (nil between requests).
    var headStartedAt: Double?
    /// When the current request's head was parsed, if it has a body still arriving.
    var bodyStartedAt: Double?
    var drainDeadline: Double = 0
    /// The peer sent EOF.
    var readClosed = false
    /// [TLS] Set when the server has a TLS context: the socket then carries ciphertext (see `TLSChannel`).
    var tls: TLSChannel?

    init(fd: Int32, id: UInt64, remoteAddress: String, limits: HTTPLimits, now: Double) {
        self.fd = fd
        self.id = id
        self.remoteAddress = remoteAddress
        self.parser = HTTPRequestParser(limits: limits)
        self.lastActivity = now
    }

    var hasPendingOutput: Bool { outputOffset < output.count || fileRemaining > 0 || tls?.hasPendingCiphertext == true }

    /// The interest the current state needs.
    var desiredInterest: Interest {
        // No reading while a response is still being written: the next request waits in the kernel.
        let read = (phase == .reading && !readClosed && !responsePending) || (phase == .draining && !readClosed)
        return Interest(read: read, write: hasPendingOutput)
    }
}
