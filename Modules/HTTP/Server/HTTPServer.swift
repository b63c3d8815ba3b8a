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
    /// Open connections per client IP (the `maxConnectionsPerAddress` cap). Touched on accept and close only.
    let perAddress = Mutex<[String: Int]>([:])
    /// Other protocols served on the same loops, each on its own port (`StreamListener`).
    let listeners: [StreamListener]
    private let boundListenerPorts = Mutex<[Int]>([])

    public init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger, listeners: [StreamListener] = []) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.listeners = listeners
        self.workers = WorkerPool(threads: configuration.workerThreads)
    }

    /// Binds and starts serving on a background thread; returns the bound port.
    public func start() throws -> Int {
        Posix.raiseFileLimit()
        signal(SIGPIPE, SIG_IGN)
        let (fd, port) = try Posix.listen(host: configuration.host, port: configuration.port)
        var streamFDs: [Int32] = []
        var streamPorts: [Int] = []
        do {
            for listener in listeners {
                let (streamFD, streamPort) = try Posix.listen(host: configuration.host, port: listener.port)
                streamFDs.append(streamFD)
                streamPorts.append(streamPort)
            }
        } catch {
            Glibc.close(fd)
            for streamFD in streamFDs { Glibc.close(streamFD) }
            throw error
        }
        boundListenerPorts.withLock { $0 = streamPorts }
        let count = configuration.eventLoops > 0 ? configuration.eventLoops : max(1, ProcessInfo.processInfo.activeProcessorCount)
        var created: [EventLoop] = []
        do {
            for index in 0..<count { created.append(try EventLoop(server: self, listenFD: index == 0 ? fd : -1)) }
        } catch {
            Glibc.close(fd)
            for streamFD in streamFDs { Glibc.close(streamFD) }
            throw error
        }
        for streamFD in streamFDs { try created[0].selector.add(streamFD, .read) }
        created[0].streamListenFDs = streamFDs
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

    /// The ports the stream listeners are bound to, in the order given (after `start()`).
    public var listenerPorts: [Int] { boundListenerPorts.withLock { $0 } }

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

    /// Counts a just-accepted connection from `remoteAddress`; false (nothing counted) when a cap is reached.
    func admit(_ remoteAddress: String) -> Bool {
        if connectionCount.wrappingAdd(1, ordering: .relaxed).newValue > configuration.maxConnections {
            connectionCount.subtract(1, ordering: .relaxed)
            return false
        }
        let key = Self.addressKey(remoteAddress)
        let limit = configuration.maxConnectionsPerAddress
        let admitted = perAddress.withLock { counts -> Bool in
            let open = counts[key, default: 0]
            guard open < limit else { return false }
            counts[key] = open + 1
            return true
        }
        if !admitted { connectionCount.subtract(1, ordering: .relaxed) }
        return admitted
    }

    /// Uncounts a closed connection admitted by `admit`.
    func release(_ remoteAddress: String) {
        connectionCount.subtract(1, ordering: .relaxed)
        let key = Self.addressKey(remoteAddress)
        perAddress.withLock { counts in
            let open = counts[key, default: 1] - 1
            counts[key] = open > 0 ? open : nil
        }
    }

    /// The IP part of "ip:port" / "[ipv6]:port".
    static func addressKey(_ remoteAddress: String) -> String {
        guard let colon = remoteAddress.utf8.lastIndex(of: UInt8(ascii: ":")) else { return remoteAddress }
        return String(remoteAddress[..<colon])
    }

    /// Builds the `Request` (or the error answering a target that cannot be decoded).
    static func request(head: RequestHead, body: [UInt8], remoteAddress: String) -> Result<Request, APIError> {
        do {
            var request = try Request(method: head.method, target: head.target, version: head.version, headers: head.headers, body: body)
            request.remoteAddress = remoteAddress
            request.ticket = RequestTicket(requestID: RequestTicket.requestID(from: head.headers["X-Request-Id"]))
            return .success(request)
        } catch {
            return .failure(error)
        }
    }

    /// Calls the responder (on the loop, or on a worker when it may block) and encodes the answer.
    /// What answering a request gave: the encoded response, or a response that comes later.
    enum Answer {
        case ready(Encoded)
        case later(DeferredResponse)
        /// The handler needed to wait on the network: run the request again on a worker.
        case offLoop
    }

    /// A response as bytes: the head and in-memory body, a file streamed after them, and whether the connection stays open.
    struct Encoded {
        let bytes: [UInt8]
        let file: FileBody?
        let keepAlive: Bool
    }

    func handle(head: RequestHead, request: Result<Request, APIError>, remoteAddress: String) -> Answer {
        let response: Response
        switch request {
        case .success(let request): response = responder.respond(to: request)
        case .failure(let error): response = responder.respond(rejecting: error, head: head, remoteAddress: remoteAddress)
        }
        if response.mustRunOffLoop { return .offLoop }
        if let pending = response.pending { return .later(pending) }
        return .ready(encode(response, head: head))
    }

    /// A deferred response's result (a failure the responder did not map becomes the §4 envelope, or a 500).
    static func resolve(_ result: Result<Response, any Error>) -> Response {
        switch result {
        case .success(let response): return response
        case .failure(let error as any PlatformError): return .error(error)
        case .failure: return .error(APIError.internalError("The deferred response failed"))
        }
    }

    func encode(_ response: Response, head: RequestHead) -> Encoded {
        let closeRequested = response.headers["Connection"]?.lowercased() == "close"
        let keepAlive = head.keepAlive && !closeRequested && !shutdownRequested.load(ordering: .relaxed)
        let isHead = head.method == .head
        return Encoded(bytes: ResponseEncoder.encode(response, headRequest: isHead, keepAlive: keepAlive, version: head.version),
                       file: ResponseEncoder.fileToSend(response, headRequest: isHead), keepAlive: keepAlive)
    }
}

/// The event loop: owns the selector, the listening socket and every connection. Its mutable state is
/// confined to the loop thread; other threads only touch `completions`, the atomics and `selector.wakeUp()`.
final class EventLoop: @unchecked Sendable {
    /// An answer for a connection of this loop, from a pool thread or a deferred response.
    struct Completion {
        enum Payload {
            /// Encoded by the pool thread.
            case encoded(HTTPServer.Encoded)
            /// A deferred response's outcome, evaluated (mapped, logged) and encoded on the loop: the completing thread,
            /// a committer, is spared it.
            case outcome(DeferredOutcome, head: RequestHead)
            /// Work for the loop thread (a stream connection's, `StreamChannel.execute`).
            case task(@Sendable () -> Void)
        }
        let fd: Int32
        let id: UInt64
        let payload: Payload
    }

    unowned let server: HTTPServer
    let selector: Selector
    /// Set on the accepting loop: every loop (itself included), for round-robin hand-over of accepted sockets.
    var peers: [EventLoop] = []
    private var nextPeer = 0
    /// Sockets accepted by another loop, waiting to be adopted by this one.
    let handedOver = Mutex<[(fd: Int32, remoteAddress: String, listener: Int)]>([])
    var listenFD: Int32
    /// On the accepting loop: the stream listeners' sockets, in `server.listeners` order.
    var streamListenFDs: [Int32] = []
    /// Stream (non-HTTP) connections by descriptor.
    var streams: [StreamChannel?] = []
    var nextStreamID: UInt64 = 1
    /// Stream connections with output queued this turn (flushed at its end).
    var dirtyStreams: [StreamChannel] = []
    let configuration: HTTPServerConfiguration
    let timeouts: ConnectionStateMachine.Timeouts
    let completions = Mutex<[Completion]>([])
    let stopRequested = Atomic<Bool>(false)
    /// Signalled once, when shutdown has no request left in flight.
    let drained = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)

    private var connections: [Connection?] = []
    private var inFlight = 0
    private var nextID: UInt64 = 1
    private var scratch = [UInt8](repeating: 0, count: 65_536)
    /// The read buffer of stream connections.
    var streamScratch: [UInt8] = []
    private var shutdownApplied = false
    private var drainedSignalled = false
    private var lastSweep: Double = 0
    /// Set while accepting is paused because the process ran out of file descriptors.
    private var acceptPausedUntil: Double?
    /// Connections whose stream holds input it already took from the socket (TLS: decrypted plaintext that did not fit,
    /// a close_notify) while their machine wants to read: epoll sees only the socket, so the loop reads them itself.
    private var bufferedInput: [Connection] = []

    init(server: HTTPServer, listenFD: Int32) throws {
        self.server = server
        self.listenFD = listenFD
        self.configuration = server.configuration
        self.timeouts = ConnectionStateMachine.Timeouts(header: configuration.headerTimeout, body: configuration.bodyTimeout,
                                                        idle: configuration.idleTimeout, response: configuration.responseTimeout)
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
        EventLoopThread.markCurrent()
        while !stopRequested.load(ordering: .relaxed) {
            let events = selector.wait(timeoutMilliseconds: bufferedInput.isEmpty ? 250 : 0)
            let now = Self.now()
            drainCompletions(now: now)
            adoptHandedOver(now: now)
            for event in events {
                if event.fd == listenFD, listenFD >= 0 {
                    acceptAll(from: listenFD, listener: -1, now: now)
                } else if let connection = connection(event.fd) {
                    handle(connection, event, now: now)
                } else if let channel = stream(event.fd) {
                    handleStream(channel, event, now: now)
                } else if let index = streamListenFDs.firstIndex(of: event.fd) {
                    acceptAll(from: event.fd, listener: index, now: now)
                }
            }
            readBufferedInput(now: now)
            if !dirtyStreams.isEmpty { flushDirtyStreams() }
            if server.shutdownRequested.load(ordering: .relaxed) { applyShutdown() }
            if let until = acceptPausedUntil, now >= until, listenFD >= 0 {
                acceptPausedUntil = nil
                selector.modify(listenFD, .read)
                for streamFD in streamListenFDs { selector.modify(streamFD, .read) }
            }
            if now - lastSweep >= 0.25 {
                sweep(now: now)
                lastSweep = now
                if !dirtyStreams.isEmpty { flushDirtyStreams() }
            }
        }
        for case let connection? in connections { close(connection) }
        closeAllStreams()
        closeStreamListeners()
        peers = []   // the accepting loop held every loop: let them go
        for (fd, remote, _) in handedOver.withLock({ list -> [(fd: Int32, remoteAddress: String, listener: Int)] in defer { list = [] }; return list }) {
            Glibc.close(fd)
            server.release(remote)
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
        // One wake-up per batch: a list that was not empty has one on its way, and the loop drains the whole list.
        let first = completions.withLock { list in
            list.append(completion)
            return list.count == 1
        }
        if first { selector.wakeUp() }
    }

    // MARK: - Accept

    /// Accepts every pending connection of `listening` (`listener` -1: HTTP, else a stream listener's index).
    private func acceptAll(from listening: Int32, listener: Int, now: Double) {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listening, $0, &length) }
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
                    for streamFD in streamListenFDs { selector.modify(streamFD, .none) }
                } else if code != EAGAIN && code != EWOULDBLOCK {
                    server.logger.warning("accept failed", ["errno": .int(Int(code))])
                }
                return
            }
            if server.shutdownRequested.load(ordering: .relaxed) {
                Glibc.close(fd)
                continue
            }
            let remote = Posix.describe(storage)
            // Over a cap the connection is closed at once (no 503: answering would cost a write and the buffers the
            // cap is there to bound; the client sees EOF before any request).
            guard server.admit(remote) else {
                Glibc.close(fd)
                continue
            }
            Posix.setNonBlocking(fd)
            Posix.setNoDelay(fd)
            let target = peers.isEmpty ? self : peers[nextPeer % peers.count]
            nextPeer &+= 1
            if target === self {
                if listener < 0 { adopt(fd, remoteAddress: remote, now: now) } else { adoptStream(fd, listener: listener, remoteAddress: remote, now: now) }
            } else {
                target.handedOver.withLock { $0.append((fd, remote, listener)) }
                target.selector.wakeUp()
            }
        }
    }

    private func adoptHandedOver(now: Double) {
        let list = handedOver.withLock { list -> [(fd: Int32, remoteAddress: String, listener: Int)] in
            guard !list.isEmpty else { return [] }
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        for (fd, remote, listener) in list {
            if listener < 0 { adopt(fd, remoteAddress: remote, now: now) } else { adoptStream(fd, listener: listener, remoteAddress: remote, now: now) }
        }
    }

    /// Takes ownership of an accepted socket (counted by `server.admit` already).
    private func adopt(_ fd: Int32, remoteAddress: String, now: Double) {
        if server.shutdownRequested.load(ordering: .relaxed) {
            Glibc.close(fd)
            server.release(remoteAddress)
            return
        }
        let connection = Connection(fd: fd, id: nextID, remoteAddress: remoteAddress,
                                    machine: ConnectionStateMachine(limits: configuration.limits, timeouts: timeouts, now: now))
        nextID += 1
        if let tls = configuration.tls {
            // HTTPS: the TLS transform goes between the socket and the machine. The machine's header timer, running
            // from accept, bounds the handshake and the first request head together.
            guard let session = try? tls.makeSession() else {
                Glibc.close(fd)
                server.release(remoteAddress)
                return
            }
            connection.stream = TLSStream(socket: SocketStream(fd: fd), session: session, logger: server.logger, remoteAddress: remoteAddress)
        }
        do {
            try selector.add(fd, .read)
        } catch {
            Glibc.close(fd)
            server.release(remoteAddress)
            return
        }
        if Int(fd) >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: Int(fd) - connections.count + 1024))
        }
        connections[Int(fd)] = connection
    }

    // MARK: - Executing the machines' actions

    /// Runs a connection's actions in order, feeding what they produce (a written response lets the next pipelined
    /// request be dispatched, an inline answer is ready at once) back into the same list; then registers the interest
    /// the machine and the stream want. Every system call on the connection goes through `connection.stream`.
    private func execute(_ connection: Connection, _ initial: [ConnectionStateMachine.Action], now: Double) {
        guard !initial.isEmpty else { return }
        var actions = initial
        var index = 0
        while index < actions.count {
            let action = actions[index]
            index += 1
            switch action {
            case .dispatch(let head, let body):
                actions += dispatch(connection, head: head, body: body, now: now)
            case .reject(let error, let head):
                // Through the responder: the answer gets a request id and an access log line like any other.
                let response = server.responder.respond(rejecting: error, head: head, remoteAddress: connection.remoteAddress)
                let bytes = ResponseEncoder.encode(response, headRequest: false, keepAlive: false, version: .http1_1)
                actions += connection.machine.responseReady(bytes, file: nil, keepAlive: false, now: now)
            case .answerOverdue(var head):
                let seconds = configuration.responseTimeout
                let error = APIError.unavailable("No answer within \(seconds.rounded() == seconds ? String(Int(seconds)) : String(seconds)) s")
                // The handler's answer, should it still come, is dropped; the 503 carries the request's own id.
                if let ticket = connection.ticket {
                    ticket.abandon()
                    head.headers.set("X-Request-Id", ticket.requestID)
                }
                var response = server.responder.respond(rejecting: error, head: head, remoteAddress: connection.remoteAddress)
                response.headers.set("Connection", "close")
                let bytes = ResponseEncoder.encode(response, headRequest: head.method == .head, keepAlive: false, version: head.version)
                actions += connection.machine.responseReady(bytes, file: nil, keepAlive: false, now: now)
            case .write:
                actions += write(connection, now: now)
            case .halfClose:
                connection.stream.shutdownWrite()
            case .close:
                close(connection)
                return
            case .setInterest(let interest):
                connection.wanted = interest
            }
        }
        registerInterest(connection)
    }

    /// Registers the interest the machine and the stream want (write also while the stream holds output), and queues
    /// the connection for a read without epoll when its stream holds input the machine wants.
    private func registerInterest(_ connection: Connection) {
        guard isOpen(connection) else { return }
        let desired = Interest(read: connection.wanted.read, write: connection.wanted.write || connection.stream.hasBufferedOutput)
        if desired != connection.registered {
            selector.modify(connection.fd, desired)
            connection.registered = desired
        }
        if connection.wanted.read, connection.stream.hasBufferedInput, !bufferedInput.contains(where: { $0 === connection }) {
            bufferedInput.append(connection)
        }
    }

    /// Reads the connections queued by `registerInterest` (a turn each; one that still holds input is queued again).
    private func readBufferedInput(now: Double) {
        guard !bufferedInput.isEmpty else { return }
        let queued = bufferedInput
        bufferedInput = []
        for connection in queued where isOpen(connection) && connection.wanted.read && connection.machine.acceptsInput {
            read(connection, now: now)
        }
    }

    private func handle(_ connection: Connection, _ event: IOEvent, now: Double) {
        if event.writable { execute(connection, [.write], now: now) }
        guard isOpen(connection) else { return }
        if event.hangup {
            execute(connection, connection.machine.hangup(), now: now)
            guard isOpen(connection) else { return }
        }
        if event.readable || event.hangup, connection.machine.acceptsInput { read(connection, now: now) }
    }

    private func isOpen(_ connection: Connection) -> Bool { connections[Int(connection.fd)] === connection }

    /// Reads what is there (up to four buffers a turn, so one connection cannot hog the loop) and feeds the machine.
    private func read(_ connection: Connection, now: Double) {
        // A read that only moved TLS handshake bytes produces no action but may leave output in the stream.
        defer { registerInterest(connection) }
        for turn in 0..<4 {
            // After the first read, only while the machine wants input (a dispatched request pauses reading).
            guard isOpen(connection), turn == 0 || connection.wanted.read else { return }
            let result = scratch.withUnsafeMutableBytes { connection.stream.read(into: $0) }
            switch result {
            case .bytes(let count):
                let actions = scratch.withUnsafeBytes { connection.machine.bytesRead(UnsafeRawBufferPointer(rebasing: $0[0..<count]), now: now) }
                execute(connection, actions, now: now)
                if count < scratch.count { return }
            case .endOfInput:
                execute(connection, connection.machine.readEOF(now: now), now: now)
                return
            case .wouldBlock:
                return
            case .failed:
                execute(connection, connection.machine.failed(), now: now)
                return
            }
        }
    }

    /// Writes the machine's output while the stream takes it; returns what the machine answers to the progress.
    private func write(_ connection: Connection, now: Double) -> [ConnectionStateMachine.Action] {
        if connection.stream.hasBufferedOutput {
            switch connection.stream.flush() {
            case .failed, .endOfInput: return connection.machine.failed()
            case .wouldBlock: return []
            case .bytes: break
            }
        }
        var actions: [ConnectionStateMachine.Action] = []
        while let next = connection.machine.nextOutput, connection.machine.phase != .closed {
            let result: StreamResult
            switch next {
            case .bytes(let bytes):
                let offset = connection.machine.nextOutputOffset
                result = bytes.withUnsafeBytes { connection.stream.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            case .file(let file):
                result = connection.stream.write(file: file, count: Int(min(file.length, Int64(Self.fileChunk))))
            }
            switch result {
            case .bytes(let count):
                actions += connection.machine.bytesWritten(count, now: now)
            case .wouldBlock:
                return actions
            case .failed, .endOfInput:
                return actions + connection.machine.failed()
            }
        }
        return actions
    }

    /// Most bytes of a file body handed to the stream in one call (the loop serves other connections in between).
    static let fileChunk = 256 * 1024

    /// Answers a complete request: inline (the machine gets the response at once), or on a worker when it may block
    /// (the answer comes back as a completion).
    private func dispatch(_ connection: Connection, head: RequestHead, body: [UInt8], now: Double) -> [ConnectionStateMachine.Action] {
        let remoteAddress = connection.remoteAddress
        var decoded = HTTPServer.request(head: head, body: body, remoteAddress: remoteAddress)
        let server = self.server
        let fd = connection.fd
        let id = connection.id
        var blocking = false
        if case .success(var routed) = decoded {
            blocking = server.responder.mayBlock(&routed)
            connection.ticket = routed.ticket
            decoded = .success(routed)
        }
        let request = decoded
        func onWorker() -> [ConnectionStateMachine.Action] {
            inFlight += 1
            server.workers.submit { [self] in
                switch server.handle(head: head, request: request, remoteAddress: remoteAddress) {
                case .ready(let encoded): complete(Completion(fd: fd, id: id, payload: .encoded(encoded)))
                case .later(let pending): pending.whenOutcome { [self] in complete(Completion(fd: fd, id: id, payload: .outcome($0, head: head))) }
                case .offLoop:   // only a loop thread is refused; never here
                    let failed = server.encode(.error(APIError.internalError("The request could not be answered")), head: head)
                    complete(Completion(fd: fd, id: id, payload: .encoded(failed)))
                }
            }
            return []
        }
        if blocking { return onWorker() }
        switch server.handle(head: head, request: request, remoteAddress: remoteAddress) {
        case .offLoop:
            // The handler needed the network after all (a cache miss on PostgreSQL): answered by a worker instead.
            return onWorker()
        case .ready(let encoded):
            connection.ticket = nil
            return connection.machine.responseReady(encoded.bytes, file: encoded.file, keepAlive: encoded.keepAlive, now: now)
        case .later(let pending):
            // No thread waits: the answer is posted back to this loop when it is known.
            inFlight += 1
            pending.whenOutcome { [self] in complete(Completion(fd: fd, id: id, payload: .outcome($0, head: head))) }
            return []
        }
    }

    private func drainCompletions(now: Double) {
        let ready = completions.withLock { list -> [Completion] in
            guard !list.isEmpty else { return [] }
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        for completion in ready {
            if case .task(let work) = completion.payload {
                work()
                continue
            }
            inFlight -= 1
            let encoded: HTTPServer.Encoded
            switch completion.payload {
            case .encoded(let ready): encoded = ready
            // Evaluated (mapped, logged) even when the connection is gone: the request still gets its metrics and log line.
            case .outcome(let outcome, let head): encoded = server.encode(HTTPServer.resolve(outcome.result), head: head)
            case .task: continue
            }
            // A connection closed meanwhile (reset by its client) drops its answer.
            guard let connection = connection(completion.fd), connection.id == completion.id else { continue }
            connection.ticket = nil
            execute(connection, connection.machine.responseReady(encoded.bytes, file: encoded.file, keepAlive: encoded.keepAlive, now: now), now: now)
        }
    }

    private func close(_ connection: Connection) {
        guard isOpen(connection) else { return }
        selector.remove(connection.fd)
        connection.stream.close()
        connections[Int(connection.fd)] = nil
        server.release(connection.remoteAddress)
    }

    // MARK: - Timeouts and shutdown

    private func sweep(now: Double) {
        for case let connection? in connections {
            let actions = connection.machine.tick(now: now)
            if !actions.isEmpty { execute(connection, actions, now: now) }
        }
        if !streams.isEmpty { tickStreams(now: now) }
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
            closeStreamListeners()
            // Stream protocols have no request to finish: their connections close now (clients reconnect elsewhere).
            closeAllStreams()
            adoptHandedOver(now: Self.now())   // closes them: shutdown is requested
            // Idle connections close now; the others finish their request (its response carries `Connection: close`),
            // a body still arriving is read to its end, a final response drains.
            let now = Self.now()
            for case let connection? in connections { execute(connection, connection.machine.shutdown(now: now), now: now) }
        }
        checkDrained()
    }

    private func closeStreamListeners() {
        for streamFD in streamListenFDs {
            selector.remove(streamFD)
            Glibc.close(streamFD)
        }
        streamListenFDs = []
    }

    private func checkDrained() {
        guard !drainedSignalled, inFlight == 0 else { return }
        // Drained: nothing in a handler, nothing left to write, no request body still arriving.
        let busy = connections.contains { $0?.machine.isBusy ?? false }
        if !busy {
            drainedSignalled = true
            drained.signal()
        }
    }
}
