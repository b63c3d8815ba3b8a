import Core
#if canImport(Glibc)
import Glibc
#endif

/// Another byte-stream protocol served on the HTTP server's event loops, on a port of its own (MQTT): the loops accept,
/// read, write and time it; the handler the listener makes for each connection speaks the protocol. HTTP knows nothing of
/// the protocol, and HTTP connections pay nothing for it (their events are matched first).
///
/// ```swift
/// let mqtt = StreamListener(name: "mqtt", port: 1883) { channel in MQTTConnectionHandler(channel: channel, …) }
/// let server = HTTPServer(configuration: configuration, responder: responder, logger: logger, listeners: [mqtt])
/// _ = try server.start()
/// let mqttPort = server.listenerPorts[0]
/// ```
public struct StreamListener: Sendable {
    /// Short protocol name, for logs.
    public let name: String
    /// 0 picks a free port (`HTTPServer.listenerPorts` tells which).
    public let port: Int
    /// Serve the protocol over TLS with this context.
    public let tls: TLSContext?
    /// Makes the handler of a just-accepted connection (on its loop thread).
    public let makeHandler: @Sendable (StreamChannel) -> any StreamHandler

    public init(name: String, port: Int, tls: TLSContext? = nil, makeHandler: @escaping @Sendable (StreamChannel) -> any StreamHandler) {
        self.name = name
        self.port = port
        self.tls = tls
        self.makeHandler = makeHandler
    }
}

/// A connection's protocol side. Every call comes on the connection's loop thread.
public protocol StreamHandler: AnyObject {
    /// Bytes arrived.
    func received(_ bytes: UnsafeRawBufferPointer, now: Double)
    /// The connection is closed (by the peer, a failure, `close()` or shutdown); called once, last.
    func closed()
    /// About four times a second, for timeouts.
    func tick(now: Double)
}

/// A stream connection as its handler sees it. `write`, `close` and `setReading` are for the loop thread (the handler's
/// callbacks and work passed to `execute`); `execute` may be called from any thread.
public final class StreamChannel: @unchecked Sendable {
    public let remoteAddress: String
    unowned let loop: EventLoop
    let fd: Int32
    let id: UInt64
    var stream: any ByteStream
    var handler: (any StreamHandler)?
    var output: [UInt8] = []
    var outputOffset = 0
    var closeAfterFlush = false
    /// Queued in the loop's `dirtyStreams` for a flush at the end of its turn.
    var flushScheduled = false
    var reading = true
    var registered = Interest.read
    public private(set) var isOpen = true

    /// Output a slow reader may leave unread before the connection is dropped.
    static let maxBufferedOutput = 16 << 20

    init(loop: EventLoop, fd: Int32, id: UInt64, remoteAddress: String, stream: any ByteStream) {
        self.loop = loop
        self.fd = fd
        self.id = id
        self.remoteAddress = remoteAddress
        self.stream = stream
    }

    /// Queues bytes; the loop writes them at the end of its turn (several answers of one turn go out in one send).
    public func write(_ bytes: [UInt8]) {
        guard isOpen, !closeAfterFlush else { return }
        output.append(contentsOf: bytes)
        scheduleFlush()
    }

    /// Closes once the queued output is written.
    public func close() {
        guard isOpen else { return }
        closeAfterFlush = true
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.dirtyStreams.append(self)
    }

    /// Pauses (false) or resumes reading from the socket.
    public func setReading(_ on: Bool) {
        guard isOpen, reading != on else { return }
        reading = on
        loop.updateInterest(self)
    }

    /// Runs `work` on this connection's loop thread (from any thread), after the loop's current turn.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        loop.complete(EventLoop.Completion(fd: -1, id: 0, payload: .task(work)))
    }

    func markClosed() { isOpen = false }
}

extension EventLoop {
    /// Takes ownership of an accepted socket of stream listener `index`.
    func adoptStream(_ fd: Int32, listener index: Int, remoteAddress: String, now: Double) {
        let listener = server.listeners[index]
        if server.shutdownRequested.load(ordering: .relaxed) {
            Glibc.close(fd)
            server.release(remoteAddress)
            return
        }
        if streamScratch.isEmpty { streamScratch = [UInt8](repeating: 0, count: 65_536) }
        var stream: any ByteStream = SocketStream(fd: fd)
        if let tls = listener.tls {
            guard let session = try? tls.makeSession() else {
                Glibc.close(fd)
                server.release(remoteAddress)
                return
            }
            stream = TLSStream(socket: SocketStream(fd: fd), session: session, logger: server.logger, remoteAddress: remoteAddress)
        }
        do {
            try selector.add(fd, .read)
        } catch {
            Glibc.close(fd)
            server.release(remoteAddress)
            return
        }
        let channel = StreamChannel(loop: self, fd: fd, id: nextStreamID, remoteAddress: remoteAddress, stream: stream)
        nextStreamID += 1
        if Int(fd) >= streams.count { streams.append(contentsOf: repeatElement(nil, count: Int(fd) - streams.count + 1024)) }
        streams[Int(fd)] = channel
        channel.handler = listener.makeHandler(channel)
    }

    func stream(_ fd: Int32) -> StreamChannel? {
        Int(fd) < streams.count ? streams[Int(fd)] : nil
    }

    func handleStream(_ channel: StreamChannel, _ event: IOEvent, now: Double) {
        if event.writable { flush(channel) }
        guard channel.isOpen else { return }
        if event.readable || event.hangup { readStream(channel, now: now) }
    }

    /// Reads what is there (a few buffers a turn) and hands it to the handler; TLS plaintext already taken from the
    /// socket is read too.
    func readStream(_ channel: StreamChannel, now: Double) {
        var turns = 0
        while channel.isOpen, channel.reading, turns < 4 || channel.stream.hasBufferedInput {
            turns += 1
            let result = streamScratch.withUnsafeMutableBytes { channel.stream.read(into: $0) }
            switch result {
            case .bytes(let count):
                streamScratch.withUnsafeBytes { channel.handler?.received(UnsafeRawBufferPointer(rebasing: $0[0..<count]), now: now) }
                if count < streamScratch.count && !channel.stream.hasBufferedInput { return updateInterest(channel) }
            case .endOfInput, .failed:
                return closeStream(channel)
            case .wouldBlock:
                return updateInterest(channel)
            }
        }
        updateInterest(channel)
    }

    /// Writes queued output while the socket takes it; closes when asked and done, or when the peer cannot keep up.
    func flush(_ channel: StreamChannel) {
        guard channel.isOpen else { return }
        if channel.stream.hasBufferedOutput {
            switch channel.stream.flush() {
            case .failed, .endOfInput: return closeStream(channel)
            case .wouldBlock: return updateInterest(channel)
            case .bytes: break
            }
        }
        while channel.outputOffset < channel.output.count {
            let result = channel.output.withUnsafeBytes {
                channel.stream.write(UnsafeRawBufferPointer(rebasing: $0[channel.outputOffset...]))
            }
            switch result {
            case .bytes(let count):
                channel.outputOffset += count
            case .wouldBlock:
                if channel.output.count - channel.outputOffset > StreamChannel.maxBufferedOutput {
                    server.logger.warning("stream connection dropped: output not read", ["remote": .string(channel.remoteAddress)])
                    return closeStream(channel)
                }
                return updateInterest(channel)
            case .failed, .endOfInput:
                return closeStream(channel)
            }
        }
        channel.output.removeAll(keepingCapacity: channel.output.capacity <= 65_536)
        channel.outputOffset = 0
        if channel.closeAfterFlush && !channel.stream.hasBufferedOutput { return closeStream(channel) }
        updateInterest(channel)
    }

    func updateInterest(_ channel: StreamChannel) {
        guard channel.isOpen else { return }
        let wantsWrite = channel.outputOffset < channel.output.count || channel.stream.hasBufferedOutput
        let desired = Interest(read: channel.reading && !channel.closeAfterFlush, write: wantsWrite)
        if desired != channel.registered {
            selector.modify(channel.fd, desired)
            channel.registered = desired
        }
    }

    func closeStream(_ channel: StreamChannel) {
        guard channel.isOpen, stream(channel.fd) === channel else { return }
        channel.markClosed()
        selector.remove(channel.fd)
        channel.stream.close()
        streams[Int(channel.fd)] = nil
        server.release(channel.remoteAddress)
        let handler = channel.handler
        channel.handler = nil
        handler?.closed()
    }

    /// Writes what stream connections queued during this turn.
    func flushDirtyStreams() {
        let dirty = dirtyStreams
        dirtyStreams.removeAll(keepingCapacity: true)
        for channel in dirty {
            channel.flushScheduled = false
            flush(channel)
        }
    }

    func tickStreams(now: Double) {
        for case let channel? in streams { channel.handler?.tick(now: now) }
    }

    func closeAllStreams() {
        for case let channel? in streams { closeStream(channel) }
    }
}
