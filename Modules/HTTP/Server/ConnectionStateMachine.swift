/// One HTTP/1.1 connection's protocol state as a value: events go in (bytes read, end of input, a response ready,
/// bytes written, a timer tick with the current time, shutdown), actions come out (dispatch a request, write, half-close,
/// close, change interest). It makes no system call and reads no clock, so tests drive it with a manual clock; the
/// event loop executes its actions through the connection's `ByteStream`.
///
/// Guarantees it keeps: requests are answered one at a time and in order (the next pipelined request is parsed only
/// once the previous response is fully written; reading pauses meanwhile, so unread answers do not pile up),
/// `100 Continue` before a body the client waits to send, a header timeout (from accept for the first request, from its
/// first byte for later ones), a body timeout (from the end of the head), an idle timeout (between requests and while a
/// write stalls), a parse error answered once and then the connection closed, and after a final response a half-close
/// followed by draining the input (bounded by `drainTimeout`) so the peer reads the answer instead of a reset.
///
/// ```swift
/// var machine = ConnectionStateMachine(limits: HTTPLimits(), timeouts: .init(), now: 0)
/// var actions = machine.bytesRead(raw, now: 0.1)         // [.dispatch(head, body: [])]
/// actions = machine.responseReady(bytes, file: nil, keepAlive: true, now: 0.2)   // [.write, .setInterest(…)]
/// ```
struct ConnectionStateMachine {
    /// What the event loop must do, in order.
    enum Action: Equatable {
        /// A complete request: answer it (inline or on the pool), then report `responseReady`.
        case dispatch(RequestHead, body: [UInt8])
        /// The parser rejected the request (`head`: its head when only the body was bad): answer the error, then
        /// report `responseReady`; the connection closes after it.
        case reject(HTTPParserError, head: RequestHead?)
        /// Output is queued: write `nextOutput` while the stream takes it, reporting each write with `bytesWritten`.
        case write
        /// Shut down the write side (the final response is out); keep reading to discard until EOF.
        case halfClose
        /// Close the socket; the machine accepts no more events.
        case close
        /// Register this epoll interest.
        case setInterest(Interest)
        /// The dispatched request got no answer within `Timeouts.response`: answer 503 now (with `Connection: close`)
        /// and report it with `responseReady`; the handler's late answer is ignored.
        case answerOverdue(RequestHead)
    }

    /// The timeouts, in seconds (see `HTTPServerConfiguration`).
    struct Timeouts {
        var header: Double = 10
        var body: Double = 60
        var idle: Double = 60
        /// After the final response: how long unread input is drained before the socket closes anyway.
        var drain: Double = 2
        /// How long a dispatched request may wait for its handler's answer before it is answered 503 (0: no limit).
        var response: Double = 300
    }

    /// A piece of output: encoded bytes, or a file range streamed after them.
    enum Output {
        case bytes([UInt8])
        case file(FileBody)
    }

    enum Phase: Equatable {
        /// Reading and parsing requests (or writing the response to the last one, `responsePending`).
        case reading
        /// A request is with a handler (or a rejection is being answered); reading is paused.
        case awaitingResponse
        /// The final response is being written; then the write side is shut.
        case closingAfterWrite
        /// Write side shut after a final response; input is discarded until EOF or `drainDeadline`.
        case draining
        /// `close` was emitted.
        case closed
    }

    let timeouts: Timeouts
    private(set) var phase = Phase.reading
    private var parser: HTTPRequestParser
    private var input = ByteBuffer()
    /// The request being read (head parsed, body arriving).
    private var head: RequestHead?
    private var body: [UInt8] = []
    private var output: [Output] = []
    /// Bytes of `output[0]` (when `.bytes`) already written.
    private var outputOffset = 0
    /// A response is queued in `output`; once written, the next request may be parsed.
    private var responsePending = false
    /// The interest last emitted (the loop registers new connections for reading).
    private var interest = Interest.read
    private var lastActivity: Double
    /// When the current head started (accept for the first request, its first byte for the next ones); nil between
    /// requests on a keep-alive connection, where the idle timeout applies.
    private var headStartedAt: Double?
    /// End of the current request's head while its body is still arriving.
    private var bodyStartedAt: Double?
    private var drainDeadline: Double = 0
    /// The peer sent EOF.
    private(set) var readClosed = false
    private var shuttingDown = false
    /// The request with a handler and when it was dispatched (for `Timeouts.response`).
    private var dispatched: (head: RequestHead, at: Double)?

    /// A freshly accepted connection: its header timer starts now.
    init(limits: HTTPLimits, timeouts: Timeouts, now: Double) {
        self.parser = HTTPRequestParser(limits: limits)
        self.timeouts = timeouts
        self.lastActivity = now
        self.headStartedAt = now
    }

    static let continueLine = ResponseEncoder.continueLine

    // MARK: - What the loop asks

    /// Whether the loop should read when the socket is readable (a hangup is read too, to learn EOF or the error).
    var acceptsInput: Bool { phase == .reading || phase == .draining }

    var hasPendingOutput: Bool { !output.isEmpty }

    /// The front of the output: the bytes still to write of the first piece, or the file range left.
    var nextOutput: Output? { output.first }

    /// Where in `nextOutput`'s bytes writing resumes.
    var nextOutputOffset: Int { outputOffset }

    /// Something is still owed or arriving: a handler runs, output is unwritten, or a body is coming in.
    var isBusy: Bool {
        switch phase {
        case .awaitingResponse: true
        case .closed: false
        default: hasPendingOutput || (phase == .reading && !parser.isIdle)
        }
    }

    // MARK: - Events

    /// Bytes arrived from the peer.
    mutating func bytesRead(_ bytes: UnsafeRawBufferPointer, now: Double) -> [Action] {
        guard acceptsInput, !bytes.isEmpty else { return [] }
        lastActivity = now
        if phase == .draining { return [] }
        input.append(bytes)
        var actions: [Action] = []
        process(now: now, &actions)
        return actions
    }

    /// The peer closed its write side (`recv` returned 0).
    mutating func readEOF(now: Double) -> [Action] {
        guard phase != .closed else { return [] }
        readClosed = true
        var actions: [Action] = []
        switch phase {
        case .draining: close(&actions)
        case .reading: process(now: now, &actions)
        default: updateInterest(&actions)
        }
        return actions
    }

    /// The socket reported a hangup or an error. A request with a handler can no longer be answered: close now (the
    /// answer is dropped when it comes). Otherwise the loop reads, which tells EOF from an error.
    mutating func hangup() -> [Action] {
        guard phase == .awaitingResponse else { return [] }
        var actions: [Action] = []
        close(&actions)
        return actions
    }

    /// A read or write failed (reset, broken pipe): the connection is over.
    mutating func failed() -> [Action] {
        guard phase != .closed else { return [] }
        var actions: [Action] = []
        close(&actions)
        return actions
    }

    /// The answer to the dispatched (or rejected) request: its encoded head and body, a file streamed after them, and
    /// whether the connection stays open.
    mutating func responseReady(_ bytes: [UInt8], file: FileBody?, keepAlive: Bool, now: Double) -> [Action] {
        guard phase == .awaitingResponse else { return [] }
        dispatched = nil
        output.append(.bytes(bytes))
        if let file, file.length > 0 { output.append(.file(file)) }
        responsePending = true
        phase = keepAlive ? .reading : .closingAfterWrite
        lastActivity = now
        var actions: [Action] = [.write]
        updateInterest(&actions)
        return actions
    }

    /// The stream took `count` bytes from the front of the output.
    mutating func bytesWritten(_ count: Int, now: Double) -> [Action] {
        guard phase != .closed, count > 0, let first = output.first else { return [] }
        lastActivity = now   // a slow reader that keeps reading is not idle
        switch first {
        case .bytes(let bytes):
            precondition(outputOffset + count <= bytes.count, "wrote more than was queued")
            outputOffset += count
            if outputOffset == bytes.count {
                output.removeFirst()
                outputOffset = 0
            }
        case .file(var file):
            precondition(Int64(count) <= file.length, "wrote more than the file range")
            file.advance(by: Int64(count))
            if file.length == 0 {
                output.removeFirst()   // the last copy goes: the descriptor closes
            } else {
                output[0] = .file(file)
            }
        }
        var actions: [Action] = []
        if output.isEmpty {
            output = []   // an idle connection keeps no output buffer
            if responsePending {
                process(now: now, &actions)
                return actions
            }
        }
        updateInterest(&actions)
        return actions
    }

    /// The timer: closes the connection when one of its deadlines passed.
    mutating func tick(now: Double) -> [Action] {
        var expired = false
        switch phase {
        case .awaitingResponse:
            guard timeouts.response > 0, let request = dispatched, now - request.at > timeouts.response else { return [] }
            dispatched = nil
            return [.answerOverdue(request.head)]
        case .closed:
            return []
        case .draining:
            expired = now >= drainDeadline
        case .closingAfterWrite:
            expired = now - lastActivity > timeouts.idle
        case .reading:
            if let started = headStartedAt, now - started > timeouts.header {
                expired = true
            } else if let started = bodyStartedAt, now - started > timeouts.body {
                expired = true   // a body trickled a byte at a time would otherwise hold its slot forever
            } else if now - lastActivity > timeouts.idle {
                expired = true
            } else if shuttingDown, isIdleBetweenRequests {
                expired = true
            }
        }
        guard expired else { return [] }
        var actions: [Action] = []
        close(&actions)
        return actions
    }

    /// The server is shutting down: an idle connection closes now; one with a request in progress finishes it (its
    /// response carries `Connection: close`); a draining one drains.
    mutating func shutdown(now: Double) -> [Action] {
        guard phase != .closed else { return [] }
        shuttingDown = true
        var actions: [Action] = []
        if isIdleBetweenRequests || (phase == .closingAfterWrite && !hasPendingOutput) { close(&actions) }
        return actions
    }

    // MARK: - Inside

    /// Between requests, nothing owed: closing loses nothing.
    private var isIdleBetweenRequests: Bool {
        phase == .reading && !responsePending && !hasPendingOutput && parser.isIdle
    }

    /// Parses buffered input and emits the requests in order, one at a time.
    private mutating func process(now: Double, _ actions: inout [Action]) {
        while true {
            if responsePending {
                if hasPendingOutput { break }
                responsePending = false
                if phase == .closingAfterWrite {
                    beginClose(now: now, &actions)
                    return
                }
                if shuttingDown, input.isEmpty {
                    close(&actions)
                    return
                }
            }
            guard phase == .reading else { break }
            let part: HTTPPart?
            do {
                part = try parser.parse(&input)
            } catch {
                reject(error, &actions)
                return
            }
            guard let part else { break }
            switch part {
            case .head(let parsed):
                head = parsed
                body = []
                headStartedAt = nil
                bodyStartedAt = parsed.hasBody ? now : nil
                if parsed.expectsContinue, parsed.hasBody, input.isEmpty {
                    output.append(.bytes(Self.continueLine))
                    actions.append(.write)
                }
            case .body(let bytes):
                body.append(contentsOf: bytes)
            case .end:
                bodyStartedAt = nil
                guard let parsed = head else { continue }
                head = nil
                let complete = body
                body = []
                phase = .awaitingResponse
                dispatched = (parsed, now)
                actions.append(.dispatch(parsed, body: complete))
            }
        }
        if phase == .reading, !responsePending {
            if readClosed {
                // EOF between or inside requests: nothing more will come and no answer is owed.
                close(&actions)
                return
            }
            if parser.isIdle, !input.isEmpty, headStartedAt == nil { headStartedAt = now }
        }
        updateInterest(&actions)
    }

    private mutating func reject(_ error: HTTPParserError, _ actions: inout [Action]) {
        let failedHead = head
        head = nil
        body = []
        input = ByteBuffer()
        headStartedAt = nil
        bodyStartedAt = nil
        phase = .awaitingResponse
        actions.append(.reject(error, head: failedHead))
        updateInterest(&actions)
    }

    private mutating func beginClose(now: Double, _ actions: inout [Action]) {
        actions.append(.halfClose)
        phase = .draining
        input = ByteBuffer()
        drainDeadline = now + timeouts.drain
        if readClosed {
            close(&actions)
        } else {
            updateInterest(&actions)
        }
    }

    private mutating func close(_ actions: inout [Action]) {
        guard phase != .closed else { return }
        phase = .closed
        output = []
        input = ByteBuffer()
        head = nil
        body = []
        actions.append(.close)
    }

    private mutating func updateInterest(_ actions: inout [Action]) {
        guard phase != .closed else { return }
        // No reading while a response is being written or a handler runs: the next request waits in the kernel.
        let read = (phase == .reading && !readClosed && !responsePending) || (phase == .draining && !readClosed)
        let desired = Interest(read: read, write: hasPendingOutput)
        if desired != interest {
            interest = desired
            actions.append(.setInterest(desired))
        }
    }
}
