import Core
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Our HTTP/1.1 server: N event loops (one epoll thread each, default one per core) each own their
/// connections, parse them and answer requests that do not block right on the loop, with no thread
/// hand-off; requests the responder says may block (`HTTPResponder.mayBlock`) run on a small pool and
/// their answers are posted back to the loop. The first loop accepts and hands connections round-robin
/// to the loops. Keep-alive, pipelining (answered in order, one request at a time per
/// connection), chunked bodies, `Expect: 100-continue`, limits (431/413), header and idle timeouts,
/// a connection cap, and graceful shutdown.
///
/// ```swift
/// let server = HTTPServer(configuration: configuration, responder: responder, logger: logger)
/// let port = try server.start()
/// …
/// server.shutdown(gracePeriod: 10)
/// ```
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    let responder: any HTTPResponder
    let logger: Logger
    let workers: WorkerPool
    private let loops = Mutex<[EventLoop]>([])
    let shutdownRequested = Atomic<Bool>(false)
    /// Open connections over every loop (the `maxConnections` cap).
    let connectionCount = Atomic<Int>(0)

    public init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.workers = WorkerPool(threads: configuration.workerThreads)
    }

    /// Binds and starts serving on a background thread; returns the bound port.
    public func start() throws -> Int {
        Posix.raiseFileLimit()
        signal(SIGPIPE, SIG_IGN)
        let (fd, port) = try Posix.listen(host: configuration.host, port: configuration.port)
        let count = configuration.eventLoops > 0 ? configuration.eventLoops : max(1, ProcessInfo.processInfo.activeProcessorCount)
        var created: [EventLoop] = []
        do {
            for index in 0..<count { created.append(try EventLoop(server: self, listenFD: index == 0 ? fd : -1)) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        created[0].peers = created
        loops.withLock { $0 = created }
        for (index, eventLoop) in created.enumerated() {
            let thread = Thread { eventLoop.run() }
            thread.name = "http-event-loop-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
        return port
    }

    /// Stops accepting, closes idle connections, lets in-flight requests finish (up to `gracePeriod`
    /// seconds, their responses carry `Connection: close`), then stops the loop and the workers.
    public func shutdown(gracePeriod: Double) {
        let running = loops.withLock { $0 }
        guard !running.isEmpty else { return }
        let deadline = Date().addingTimeInterval(max(0, gracePeriod))
        shutdownRequested.store(true, ordering: .sequentiallyConsistent)
        for eventLoop in running { eventLoop.selector.wakeUp() }
        for eventLoop in running { _ = eventLoop.drained.wait(timeout: .now() + max(0, deadline.timeIntervalSinceNow)) }
        for eventLoop in running {
            eventLoop.stopRequested.store(true, ordering: .sequentiallyConsistent)
            eventLoop.selector.wakeUp()
        }
        let stopDeadline = DispatchTime.now() + 5
        for eventLoop in running { _ = eventLoop.finished.wait(timeout: stopDeadline) }
        // Handlers still running past the grace period get what is left of it (at least a moment) before the
        // caller goes on to close the database under them.
        workers.stop(timeout: max(0.5, deadline.timeIntervalSinceNow))
        loops.withLock { $0 = [] }
    }

    /// Builds the `Request` (or the error answering a target that cannot be decoded).
    static func request(head: RequestHead, body: [UInt8], remoteAddress: String) -> Result<Request, APIError> {
        do {
            var request = try Request(method: head.method, target: head.target, version: head.version, headers: head.headers, body: body)
            request.remoteAddress = remoteAddress
            return .success(request)
        } catch {
            return .failure(error)
        }
    }

    /// Calls the responder (on the loop, or on a worker when it may block) and encodes the answer.
    func handle(head: RequestHead, request: Result<Request, APIError>) -> (bytes: [UInt8], file: FileBody?, keepAlive: Bool) {
        var response: Response
        switch request {
        case .success(let request): response = responder.respond(to: request)
        case .failure(let error): response = .error(error)
        }
        let closeRequested = response.headers["Connection"]?.lowercased() == "close"
        let keepAlive = head.keepAlive && !closeRequested && !shutdownRequested.load(ordering: .relaxed)
        let isHead = head.method == .head
        return (ResponseEncoder.encode(response, headRequest: isHead, keepAlive: keepAlive, version: head.version),
                ResponseEncoder.fileToSend(response, headRequest: isHead), keepAlive)
    }
}

/// The event loop: owns the selector, the listening socket and every connection. Its mutable state is
/// confined to the loop thread; other threads only touch `completions`, the atomics and `selector.wakeUp()`.
final class EventLoop: @unchecked Sendable {
    struct Completion {
        let fd: Int32
        let id: UInt64
        let bytes: [UInt8]
        /// Streamed after `bytes` (a file body).
        let file: FileBody?
        let keepAlive: Bool
    }

    unowned let server: HTTPServer
    let selector: Selector
    /// Set on the accepting loop: every loop (itself included), for round-robin hand-over of accepted sockets.
    var peers: [EventLoop] = []
    private var nextPeer = 0
    /// Sockets accepted by another loop, waiting to be adopted by this one.
    let handedOver = Mutex<[(fd: Int32, remoteAddress: String)]>([])
    var listenFD: Int32
    let configuration: HTTPServerConfiguration
    let completions = Mutex<[Completion]>([])
    let stopRequested = Atomic<Bool>(false)
    /// Signalled once, when shutdown has no request left in flight.
    let drained = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)

    private var connections: [Connection?] = []
    private var inFlight = 0
    private var nextID: UInt64 = 1
    private var scratch = [UInt8](repeating: 0, count: 65_536)
    private var shutdownApplied = false
    private var drainedSignalled = false
    private var lastSweep: Double = 0
    /// Set while accepting is paused because the process ran out of file descriptors.
    private var acceptPausedUntil: Double?

    init(server: HTTPServer, listenFD: Int32) throws {
        self.server = server
        self.listenFD = listenFD
        self.configuration = server.configuration
        self.selector = try Selector()
        if listenFD >= 0 { try selector.add(listenFD, .read) }
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    // MARK: - Loop

    func run() {
        while !stopRequested.load(ordering: .relaxed) {
            let events = selector.wait(timeoutMilliseconds: 250)
            let now = Self.now()
            drainCompletions(now: now)
            adoptHandedOver(now: now)
            for event in events {
                if event.fd == listenFD, listenFD >= 0 {
                    acceptAll(now: now)
                } else if let connection = connection(event.fd) {
                    handle(connection, event, now: now)
                }
            }
            if server.shutdownRequested.load(ordering: .relaxed) { applyShutdown() }
            if let until = acceptPausedUntil, now >= until, listenFD >= 0 {
                acceptPausedUntil = nil
                selector.modify(listenFD, .read)
            }
            if now - lastSweep >= 0.25 {
                sweep(now: now)
                lastSweep = now
            }
        }
        for case let connection? in connections { close(connection) }
        peers = []   // the accepting loop held every loop: let them go
        for (fd, _) in handedOver.withLock({ list -> [(fd: Int32, remoteAddress: String)] in defer { list = [] }; return list }) {
            Glibc.close(fd)
            server.connectionCount.subtract(1, ordering: .relaxed)
        }
        if listenFD >= 0 {
            selector.remove(listenFD)
            Glibc.close(listenFD)
            listenFD = -1
        }
        finished.signal()
    }

    private func connection(_ fd: Int32) -> Connection? {
        Int(fd) < connections.count ? connections[Int(fd)] : nil
    }

    func complete(_ completion: Completion) {
        completions.withLock { $0.append(completion) }
        selector.wakeUp()
    }

    // MARK: - Accept

    private func acceptAll(now: Double) {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listenFD, $0, &length) }
            }
            if fd < 0 {
                let code = errno
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    // Out of descriptors: the pending connection stays in the backlog and level-triggered epoll
                    // would report it on every turn. Pause accepting briefly instead of spinning.
                    if acceptPausedUntil == nil {
                        server.logger.warning("accept paused: out of file descriptors", ["errno": .int(Int(code))])
                    }
                    acceptPausedUntil = now + 0.1
                    selector.modify(listenFD, .none)
                } else if code != EAGAIN && code != EWOULDBLOCK {
                    server.logger.warning("accept failed", ["errno": .int(Int(code))])
                }
                return
            }
            if server.shutdownRequested.load(ordering: .relaxed) {
                Glibc.close(fd)
                continue
            }
            if server.connectionCount.wrappingAdd(1, ordering: .relaxed).newValue > configuration.maxConnections {
                server.connectionCount.subtract(1, ordering: .relaxed)
                Glibc.close(fd)
                continue
            }
            Posix.setNonBlocking(fd)
            Posix.setNoDelay(fd)
            let remote = Posix.describe(storage)
            let target = peers.isEmpty ? self : peers[nextPeer % peers.count]
            nextPeer &+= 1
            if target === self {
                adopt(fd, remoteAddress: remote, now: now)
            } else {
                target.handedOver.withLock { $0.append((fd, remote)) }
                target.selector.wakeUp()
            }
        }
    }

    private func adoptHandedOver(now: Double) {
        let list = handedOver.withLock { list -> [(fd: Int32, remoteAddress: String)] in
            guard !list.isEmpty else { return [] }
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        for (fd, remote) in list { adopt(fd, remoteAddress: remote, now: now) }
    }

    /// Takes ownership of an accepted socket (counted in `server.connectionCount` already).
    private func adopt(_ fd: Int32, remoteAddress: String, now: Double) {
        if server.shutdownRequested.load(ordering: .relaxed) {
            Glibc.close(fd)
            server.connectionCount.subtract(1, ordering: .relaxed)
            return
        }
        let connection = Connection(fd: fd, id: nextID, remoteAddress: remoteAddress, limits: configuration.limits, now: now)
        nextID += 1
        if let tls = configuration.tls {   // [TLS hook: accept] a session per connection; the handshake counts against the header timeout
            guard let session = try? tls.makeSession() else {
                Glibc.close(fd)
                server.connectionCount.subtract(1, ordering: .relaxed)
                return
            }
            connection.tls = TLSChannel(session: session)
            connection.headStartedAt = now
        }
        do {
            try selector.add(fd, .read)
        } catch {
            Glibc.close(fd)
            server.connectionCount.subtract(1, ordering: .relaxed)
            return
        }
        if Int(fd) >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: Int(fd) - connections.count + 1024))
        }
        connections[Int(fd)] = connection
    }

    // MARK: - I/O

    private func handle(_ connection: Connection, _ event: IOEvent, now: Double) {
        if event.writable, connection.hasPendingOutput {
            guard flush(connection) else { return }
            if connection.responsePending, !connection.hasPendingOutput { responseWritten(connection, now: now) }
        }
        guard connections[Int(connection.fd)] === connection else { return }
        if event.hangup, connection.phase == .awaitingResponse {
            // Reset while its request is with a handler: the answer cannot be delivered, and epoll keeps reporting
            // the hangup whatever the interest, so close now (the completion is then dropped by its id).
            close(connection)
            return
        }
        if event.readable || event.hangup {
            readAvailable(connection, now: now)
        }
    }

    private func readAvailable(_ connection: Connection, now: Double) {
        guard connection.phase == .reading || connection.phase == .draining else {
            // Paused; a hangup while a handler runs is noticed when its response is written.
            if connection.phase == .awaitingResponse { updateInterest(connection) }
            return
        }
        let fd = connection.fd
        if let tls = connection.tls {   // [TLS hook: read] the socket carries ciphertext: decrypted into `input` instead of the loop below
            guard readTLS(tls, connection, now: now) else { return }
        }
        for _ in 0..<4 where connection.tls == nil {
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                connection.lastActivity = now
                if connection.phase != .draining {
                    scratch.withUnsafeBytes { connection.input.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                }
                if count < scratch.count { break }
            } else if count == 0 {
                connection.readClosed = true
                break
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { break }
                close(connection)
                return
            }
        }
        if connection.phase == .draining {
            if connection.readClosed { close(connection) }
            return
        }
        process(connection, now: now)
    }

    /// [TLS] Reads and decrypts what the socket has, then sends what the handshake produced; false when the connection closed.
    private func readTLS(_ tls: TLSChannel, _ connection: Connection, now: Double) -> Bool {
        switch tls.receive(from: connection.fd, scratch: &scratch, into: &connection.input, keep: connection.phase != .draining) {
        case .progress:
            connection.lastActivity = now
        case .wouldBlock:
            break
        case .closed:
            connection.readClosed = true
        case .failed(let reason):
            server.logger.debug("tls connection failed", ["remote": .string(connection.remoteAddress), "reason": .string(reason)])
            _ = tls.flush(to: connection.fd)   // the alert, if OpenSSL made one
            close(connection)
            return false
        }
        return tls.hasPendingCiphertext ? flush(connection) : true
    }

    /// Parses buffered input and answers complete requests in order: on the loop when the responder says the
    /// request does not block (then goes on with pipelined requests once the answer is written), else on a worker.
    private func process(_ connection: Connection, now: Double) {
        while true {
            // The next request is parsed only once the current response is written.
            if connection.responsePending {
                if connection.hasPendingOutput {
                    updateInterest(connection)
                    return
                }
                connection.responsePending = false
                if connection.phase == .closingAfterWrite {
                    beginClose(connection, now: now)
                    return
                }
            }
            guard connection.phase == .reading else { break }
            let part: HTTPPart?
            do {
                part = try connection.parser.parse(&connection.input)
            } catch {
                fail(connection, error, now: now)
                return
            }
            guard let part else { break }
            switch part {
            case .head(let head):
                connection.head = head
                connection.body = []
                connection.headStartedAt = nil
                connection.bodyStartedAt = head.hasBody ? now : nil
                if head.expectsContinue, head.hasBody, connection.input.isEmpty {
                    connection.output.append(contentsOf: ResponseEncoder.continueLine)
                    guard flush(connection) else { return }
                }
            case .body(let bytes):
                connection.body.append(contentsOf: bytes)
            case .end:
                connection.bodyStartedAt = nil
                guard dispatch(connection, now: now) else { return }
            }
        }
        if connection.phase == .reading {
            if connection.readClosed {
                // EOF between or inside requests: nothing more will come and no answer is owed.
                close(connection)
                return
            }
            if connection.parser.isIdle, !connection.input.isEmpty, connection.headStartedAt == nil {
                connection.headStartedAt = now
            }
        }
        updateInterest(connection)
    }

    /// Answers the complete request: inline, or on a worker when it may block. False when the connection closed.
    private func dispatch(_ connection: Connection, now: Double) -> Bool {
        guard let head = connection.head else { return true }
        let body = connection.body
        connection.head = nil
        connection.body = []
        let request = HTTPServer.request(head: head, body: body, remoteAddress: connection.remoteAddress)
        let server = self.server
        if case .success(let decoded) = request, server.responder.mayBlock(method: decoded.method, path: decoded.path) {
            connection.phase = .awaitingResponse
            inFlight += 1
            let fd = connection.fd
            let id = connection.id
            server.workers.submit { [self] in
                let (bytes, file, keepAlive) = server.handle(head: head, request: request)
                complete(Completion(fd: fd, id: id, bytes: bytes, file: file, keepAlive: keepAlive))
            }
            return true
        }
        let (bytes, file, keepAlive) = server.handle(head: head, request: request)
        connection.output.append(contentsOf: bytes)
        if let file, file.length > 0 {
            connection.file = file
            connection.filePosition = file.offset
            connection.fileRemaining = file.length
        }
        connection.responsePending = true
        connection.phase = keepAlive ? .reading : .closingAfterWrite
        connection.lastActivity = now
        return flush(connection)
    }

    private func drainCompletions(now: Double) {
        let ready = completions.withLock { list -> [Completion] in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        for completion in ready {
            inFlight -= 1
            guard let connection = connection(completion.fd), connection.id == completion.id else { continue }
            connection.output.append(contentsOf: completion.bytes)
            if let file = completion.file, file.length > 0 {
                connection.file = file
                connection.filePosition = file.offset
                connection.fileRemaining = file.length
            }
            connection.responsePending = true
            connection.phase = completion.keepAlive ? .reading : .closingAfterWrite
            connection.lastActivity = now
            guard flush(connection) else { continue }
            if !connection.hasPendingOutput {
                responseWritten(connection, now: now)
            } else {
                updateInterest(connection)
            }
        }
    }

    /// The current response is fully written: close, or go on with pipelined requests.
    private func responseWritten(_ connection: Connection, now: Double) {
        connection.responsePending = false
        if connection.phase == .closingAfterWrite {
            beginClose(connection, now: now)
        } else {
            process(connection, now: now)
        }
    }

    /// Writes what it can; false when the connection was closed because of a write error.
    @discardableResult
    private func flush(_ connection: Connection) -> Bool {
        flushing: while connection.hasPendingOutput {
            if let tls = connection.tls {   // [TLS hook: write] ciphertext already made goes out before more plaintext is encrypted
                let sent = tls.bytesSent
                defer { if tls.bytesSent != sent { connection.lastActivity = Self.now() } }
                switch tls.flush(to: connection.fd) {
                case .flushed: if !connection.hasPendingOutput { break flushing }
                case .wouldBlock: break flushing
                case .failed:
                    close(connection)
                    return false
                }
            }
            if connection.outputOffset >= connection.output.count {
                // A file body: the next chunk, read only once the socket took the previous one (memory stays one chunk).
                guard refill(connection) else {
                    close(connection)
                    return false
                }
            }
            let count = connection.output.withUnsafeBytes { raw in
                // [TLS hook: write] with TLS the plaintext is encrypted (a slice per turn) and sent by `tls.flush` above
                connection.tls?.encrypt(raw.baseAddress! + connection.outputOffset, count: raw.count - connection.outputOffset)
                    ?? send(connection.fd, raw.baseAddress! + connection.outputOffset, raw.count - connection.outputOffset, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                connection.outputOffset += count
                connection.lastActivity = Self.now()   // a slow reader that keeps reading is not idle
            } else {
                let code = errno
                if count < 0, code == EINTR { continue }
                if count < 0, code == EAGAIN || code == EWOULDBLOCK { break }
                close(connection)
                return false
            }
        }
        if !connection.hasPendingOutput {
            connection.output.removeAll(keepingCapacity: connection.output.capacity <= 65_536)
            connection.outputOffset = 0
        }
        updateInterest(connection)
        return true
    }

    /// Replaces the drained output with the next chunk of the connection's file body; false when the file cannot
    /// be read (it shrank or failed): the response cannot be completed and the connection must close.
    private func refill(_ connection: Connection) -> Bool {
        guard let file = connection.file, connection.fileRemaining > 0 else { return false }
        let chunk = Int(min(connection.fileRemaining, Int64(Self.fileChunk)))
        if connection.output.count != chunk { connection.output = [UInt8](repeating: 0, count: chunk) }
        let count = connection.output.withUnsafeMutableBytes { file.read(into: $0.baseAddress!, count: chunk, at: connection.filePosition) }
        guard count > 0 else { return false }
        if count < chunk { connection.output.removeLast(chunk - count) }
        connection.outputOffset = 0
        connection.filePosition += Int64(count)
        connection.fileRemaining -= Int64(count)
        if connection.fileRemaining == 0 { connection.file = nil }   // closes the descriptor once the last copy goes
        return true
    }

    static let fileChunk = 128 * 1024

    /// A request that cannot be parsed: answer once with the matching status, then close.
    private func fail(_ connection: Connection, _ error: HTTPParserError, now: Double) {
        let response = Response.error(error)
        connection.output.append(contentsOf: ResponseEncoder.encode(response, headRequest: false, keepAlive: false, version: .http1_1))
        connection.phase = .closingAfterWrite
        connection.responsePending = true
        connection.input = ByteBuffer()
        guard flush(connection) else { return }
        if !connection.hasPendingOutput { responseWritten(connection, now: now) }
    }

    private func beginClose(_ connection: Connection, now: Double) {
        connection.tls?.close(on: connection.fd)   // [TLS hook: close] close_notify before the write side shuts
        Glibc.shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .draining
        connection.input = ByteBuffer()
        connection.drainDeadline = now + 2
        if connection.readClosed {
            close(connection)
        } else {
            updateInterest(connection)
        }
    }

    private func updateInterest(_ connection: Connection) {
        let desired = connection.desiredInterest
        if desired != connection.interest {
            selector.modify(connection.fd, desired)
            connection.interest = desired
        }
    }

    private func close(_ connection: Connection) {
        guard connections[Int(connection.fd)] === connection else { return }
        selector.remove(connection.fd)
        Glibc.close(connection.fd)
        connections[Int(connection.fd)] = nil
        server.connectionCount.subtract(1, ordering: .relaxed)
    }

    // MARK: - Timeouts and shutdown

    private func sweep(now: Double) {
        let headerTimeout = configuration.headerTimeout
        let idleTimeout = configuration.idleTimeout
        let bodyTimeout = configuration.bodyTimeout
        for case let connection? in connections {
            switch connection.phase {
            case .awaitingResponse:
                continue
            case .draining:
                if now >= connection.drainDeadline { close(connection) }
            case .closingAfterWrite:
                if now - connection.lastActivity > idleTimeout { close(connection) }
            case .reading:
                if let started = connection.headStartedAt, now - started > headerTimeout {
                    close(connection)
                } else if let started = connection.bodyStartedAt, now - started > bodyTimeout {
                    // A body trickled a byte at a time would otherwise hold its slot forever.
                    close(connection)
                } else if now - connection.lastActivity > idleTimeout {
                    close(connection)
                }
            }
        }
        if server.shutdownRequested.load(ordering: .relaxed) { checkDrained() }
    }

    private func applyShutdown() {
        if !shutdownApplied {
            shutdownApplied = true
            if listenFD >= 0 {
                selector.remove(listenFD)
                Glibc.close(listenFD)
                listenFD = -1
            }
            adoptHandedOver(now: Self.now())   // closes them: shutdown is requested
        }
        // Connections with nothing in flight and nothing to write are closed now; the others close
        // after their response (which carries `Connection: close`).
        for case let connection? in connections where connection.phase != .awaitingResponse && !connection.hasPendingOutput {
            if connection.phase == .reading, !connection.parser.isIdle { continue }   // a body is arriving: let it finish
            if connection.phase == .draining { continue }   // its final response must not be reset; `sweep` ends it
            close(connection)
        }
        checkDrained()
    }

    private func checkDrained() {
        guard !drainedSignalled, inFlight == 0 else { return }
        // Drained: nothing in a handler, nothing left to write, no request body still arriving.
        let busy = connections.contains { connection in
            guard let connection else { return false }
            return connection.hasPendingOutput || (connection.phase == .reading && !connection.parser.isIdle)
        }
        if !busy {
            drainedSignalled = true
            drained.signal()
        }
    }
}
