import Core
import Foundation
@testable import HTTP
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The connection state machine on its own: events in, actions out, time passed by hand (no sockets, no sleeps).
/// Every timeout, pipelining order, 100-continue, draining, shutdown and the error paths.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static let timeouts = Machine.Timeouts(header: 10, body: 30, idle: 60, drain: 2)

    static func machine(at now: Double = 0) -> Machine {
        Machine(limits: HTTPLimits(), timeouts: timeouts, now: now)
    }

    static func feed(_ machine: inout Machine, _ text: String, at now: Double) -> [Machine.Action] {
        Array(text.utf8).withUnsafeBytes { machine.bytesRead($0, now: now) }
    }

    /// Writes everything the machine has queued, as a socket that takes it all would, collecting the actions.
    static func writeAll(_ machine: inout Machine, at now: Double) -> (written: [UInt8], actions: [Machine.Action]) {
        var written: [UInt8] = []
        var actions: [Machine.Action] = []
        while let next = machine.nextOutput, machine.phase != .closed {
            switch next {
            case .bytes(let bytes):
                written += bytes[machine.nextOutputOffset...]
                actions += machine.bytesWritten(bytes.count - machine.nextOutputOffset, now: now)
            case .file(let file):
                written += file.bytes()
                actions += machine.bytesWritten(Int(file.length), now: now)
            }
        }
        return (written, actions)
    }

    static func dispatched(_ actions: [Machine.Action]) -> [String] {
        actions.compactMap { if case .dispatch(let head, let body) = $0 { "\(head.target) \(String(decoding: body, as: UTF8.self))" } else { nil } }
    }

    /// A connection that was sent `GET /a` at `now` and whose answer (`keepAlive` or not) is written; the actions of the write.
    static func answered(at now: Double, keepAlive: Bool = true) -> (machine: Machine, actions: [Machine.Action]) {
        var machine = Self.machine()
        let request = keepAlive ? "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        _ = feed(&machine, request, at: now)
        _ = machine.responseReady(response, file: nil, keepAlive: keepAlive, now: now)
        let (_, actions) = writeAll(&machine, at: now)
        return (machine, actions)
    }

    static let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)

    // MARK: - Timeouts

    @Test func aSilentConnectionClosesAfterTheHeaderTimeoutFromAccept() {
        var machine = Self.machine(at: 100)
        #expect(machine.tick(now: 105).isEmpty)
        #expect(machine.tick(now: 110).isEmpty)
        #expect(machine.tick(now: 110.1) == [.close])
        #expect(machine.phase == .closed)
        #expect(machine.tick(now: 200).isEmpty, "closed once")
    }

    @Test func aTrickledHeadClosesAfterTheHeaderTimeoutEvenWithActivity() {
        var machine = Self.machine()
        for second in 0..<10 { #expect(Self.feed(&machine, "G", at: Double(second)).isEmpty) }
        #expect(machine.tick(now: 10.05) == [.close])
    }

    @Test func betweenRequestsTheIdleTimeoutAppliesAndTheNextHeadHasItsOwnHeaderTimer() {
        var machine = Self.answered(at: 1).machine
        // Idle: the header timeout (10 s) does not apply between requests, the idle one (60 s) does.
        #expect(machine.tick(now: 50).isEmpty)
        #expect(machine.tick(now: 61).isEmpty)
        #expect(machine.tick(now: 61.1) == [.close])

        var second = Self.answered(at: 1).machine
        #expect(Self.feed(&second, "GET /b HT", at: 40).isEmpty)   // the next head starts: its header timer runs from here
        #expect(second.tick(now: 50).isEmpty)
        #expect(second.tick(now: 50.1) == [.close])
    }

    @Test func aSlowBodyClosesAfterTheBodyTimeoutFromTheEndOfItsHead() {
        var machine = Self.machine()
        #expect(Self.feed(&machine, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", at: 1).isEmpty)
        for second in 2...31 { _ = Self.feed(&machine, "b", at: Double(second)) }
        #expect(machine.tick(now: 31).isEmpty)
        #expect(machine.tick(now: 31.1) == [.close], "activity every second does not extend the body timeout")
    }

    @Test func aBodyInTimeIsDispatchedAndItsTimerEnds() {
        var machine = Self.machine()
        _ = Self.feed(&machine, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab", at: 1)
        let actions = Self.feed(&machine, "c", at: 20)
        #expect(Self.dispatched(actions) == ["/u abc"])
        _ = machine.responseReady(Self.response, file: nil, keepAlive: true, now: 21)
        _ = Self.writeAll(&machine, at: 21)
        #expect(machine.tick(now: 80).isEmpty, "only the idle timeout (from 21) is left")
        #expect(machine.tick(now: 81.1) == [.close])
    }

    @Test func aStalledWriteClosesAfterTheIdleTimeoutFromTheLastProgress() {
        var machine = Self.machine()
        _ = Self.feed(&machine, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        let big = [UInt8](repeating: 0x61, count: 10_000)
        _ = machine.responseReady(big, file: nil, keepAlive: true, now: 1)
        _ = machine.bytesWritten(4_000, now: 30)
        #expect(machine.nextOutputOffset == 4_000)
        #expect(machine.tick(now: 89).isEmpty)
        #expect(machine.tick(now: 90.1) == [.close])
    }

    @Test func noTimeoutFiresWhileAHandlerRuns() {
        var machine = Self.machine()
        _ = Self.feed(&machine, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        #expect(machine.phase == .awaitingResponse)
        #expect(machine.tick(now: 299).isEmpty)   // past the header, body and idle timeouts, within the response one
        #expect(!machine.responseReady(Self.response, file: nil, keepAlive: true, now: 299).isEmpty)
    }

    /// A handler that never answers: after `Timeouts.response` the machine asks once for an overdue answer; the 503
    /// closes the connection, and the handler's late answer is ignored.
    @Test func anAnswerThatNeverComesIsOverdueAfterTheResponseTimeout() {
        var machine = Machine(limits: HTTPLimits(), timeouts: Machine.Timeouts(header: 10, body: 30, idle: 60, drain: 2, response: 120), now: 0)
        _ = Self.feed(&machine, "GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n", at: 1)
        #expect(machine.tick(now: 120.5).isEmpty)
        let overdue = machine.tick(now: 121.5)
        guard case .answerOverdue(let head) = overdue.first, overdue.count == 1 else {
            Issue.record("expected one answerOverdue, got \(overdue)")
            return
        }
        #expect(head.target == "/stuck")
        #expect(machine.tick(now: 122).isEmpty)   // asked once
        #expect(machine.responseReady(Self.response, file: nil, keepAlive: false, now: 122).contains(.write))
        #expect(machine.phase == .closingAfterWrite)
        let late = machine.responseReady(Self.response, file: nil, keepAlive: true, now: 123)
        #expect(late.isEmpty)
        let (written, actions) = Self.writeAll(&machine, at: 123)
        #expect(written == Self.response)
        #expect(actions.contains(.halfClose))
    }

    /// A response timeout of 0 means no limit.
    @Test func aZeroResponseTimeoutNeverFires() {
        var machine = Machine(limits: HTTPLimits(), timeouts: Machine.Timeouts(header: 10, body: 30, idle: 60, drain: 2, response: 0), now: 0)
        _ = Self.feed(&machine, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        #expect(machine.tick(now: 0.5).isEmpty && machine.tick(now: 100_000).isEmpty)
        #expect(machine.phase == .awaitingResponse)
    }

    /// An answer in time clears the timer: the next request on the connection gets its own.
    @Test func anAnswerInTimeClearsTheResponseTimer() {
        var machine = Machine(limits: HTTPLimits(), timeouts: Machine.Timeouts(header: 10, body: 30, idle: 60, drain: 2, response: 5), now: 0)
        _ = Self.feed(&machine, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        _ = machine.responseReady(Self.response, file: nil, keepAlive: true, now: 4)
        _ = Self.writeAll(&machine, at: 4)
        _ = Self.feed(&machine, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", at: 8)
        #expect(machine.tick(now: 12.9).isEmpty)
        #expect(machine.tick(now: 13.1).contains { if case .answerOverdue = $0 { true } else { false } })
    }

    // MARK: - Pipelining

    @Test func pipelinedRequestsAreDispatchedOneAtATimeInOrderAndReadingPausesMeanwhile() {
        var machine = Self.machine()
        let first = Self.feed(&machine, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        #expect(Self.dispatched(first) == ["/1 "])
        #expect(first.contains(.setInterest(.none)), "reading pauses while the handler runs")
        var answered: [String] = []
        var pending = first
        for step in 1...3 {
            let ready = machine.responseReady(Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\(step)".utf8), file: nil, keepAlive: true, now: 0)
            #expect(ready.first == .write)
            #expect(ready.contains(.setInterest(Interest(read: false, write: true))))
            let (written, actions) = Self.writeAll(&machine, at: 0)
            answered.append(String(decoding: written.suffix(1), as: UTF8.self))
            pending = actions
            if step < 3 { #expect(Self.dispatched(pending).count == 1) }
        }
        #expect(answered == ["1", "2", "3"])
        #expect(pending.contains(.setInterest(.read)), "all answered: reading resumes")
        #expect(!machine.isBusy)
    }

    @Test func theNextRequestWaitsUntilTheResponseIsFullyWritten() {
        var machine = Self.machine()
        _ = Self.feed(&machine, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        _ = machine.responseReady(Self.response, file: nil, keepAlive: true, now: 0)
        #expect(Self.dispatched(machine.bytesWritten(Self.response.count - 1, now: 0)).isEmpty)
        #expect(Self.dispatched(machine.bytesWritten(1, now: 0)) == ["/2 "])
    }

    @Test func aFileBodyIsWrittenAfterItsHeadAndThenTheNextRequestGoes() throws {
        let path = NSTemporaryDirectory() + "/machine-file-\(getpid())-\(RandomID.make(length: 6))"
        _ = FileManager.default.createFile(atPath: path, contents: Data("0123456789".utf8))
        defer { unlink(path) }
        var file = try #require(FileBody(path: path))
        file.select(2...7)
        var machine = Self.machine()
        _ = Self.feed(&machine, "GET /f HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        _ = machine.responseReady(Self.response, file: file, keepAlive: true, now: 0)
        _ = machine.bytesWritten(Self.response.count, now: 0)
        guard case .file(let rest) = machine.nextOutput else { Issue.record("file expected"); return }
        #expect(rest.offset == 2 && rest.length == 6)
        #expect(Self.dispatched(machine.bytesWritten(4, now: 0)).isEmpty)
        guard case .file(let tail) = machine.nextOutput else { Issue.record("file expected"); return }
        #expect(tail.offset == 6 && tail.length == 2 && tail.bytes() == Array("67".utf8))
        #expect(Self.dispatched(machine.bytesWritten(2, now: 0)) == ["/g "])
    }

    // MARK: - 100-continue

    @Test func continueIsSentBeforeABodyTheClientWaitsFor() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, "POST /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", at: 0)
        #expect(actions.first == .write)
        let (written, _) = Self.writeAll(&machine, at: 0)
        #expect(written == Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        #expect(Self.dispatched(Self.feed(&machine, "body", at: 1)) == ["/u body"])
    }

    @Test func noContinueWhenTheBodyCameWithTheHead() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, "POST /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody", at: 0)
        #expect(Self.dispatched(actions) == ["/u body"])
        #expect(!actions.contains(.write))
        #expect(!machine.hasPendingOutput)
    }

    // MARK: - Closing, draining, shutdown

    @Test func aFinalResponseIsFollowedByAHalfCloseAndADrainBoundedInTime() {
        let closing = Self.answered(at: 1, keepAlive: false)
        var machine = closing.machine
        let actions = closing.actions
        #expect(actions.first == .halfClose)
        #expect(machine.phase == .draining)
        #expect(Self.feed(&machine, "GET /ignored HTTP/1.1\r\nHost: x\r\n\r\n", at: 1.5).isEmpty, "input is discarded")
        #expect(machine.tick(now: 2.9).isEmpty)
        #expect(machine.tick(now: 3) == [.close])

        var eof = Self.answered(at: 1, keepAlive: false).machine
        #expect(eof.readEOF(now: 1.2) == [.close])
    }

    @Test func shutdownClosesIdleConnectionsAndLetsRequestsInProgressFinish() {
        var idle = Self.machine()
        #expect(idle.shutdown(now: 0) == [.close])

        var busy = Self.machine()
        _ = Self.feed(&busy, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        #expect(busy.shutdown(now: 0).isEmpty)
        #expect(busy.isBusy)
        _ = busy.responseReady(Self.response, file: nil, keepAlive: false, now: 1)
        let (_, actions) = Self.writeAll(&busy, at: 1)
        #expect(actions.contains(.halfClose))
        #expect(!busy.isBusy)

        // A keep-alive answer encoded just before the shutdown: the connection closes once it is written.
        var racing = Self.machine()
        _ = Self.feed(&racing, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        _ = racing.shutdown(now: 0)
        _ = racing.responseReady(Self.response, file: nil, keepAlive: true, now: 1)
        #expect(Self.writeAll(&racing, at: 1).actions == [.close])

        // A body still arriving is read to its end and answered.
        var uploading = Self.machine()
        _ = Self.feed(&uploading, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab", at: 0)
        #expect(uploading.shutdown(now: 0).isEmpty)
        #expect(uploading.isBusy)
        #expect(Self.dispatched(Self.feed(&uploading, "cd", at: 0.5)) == ["/u abcd"])
    }

    // MARK: - Errors

    @Test func aParseErrorIsRejectedOnceThenTheConnectionClosesAfterTheAnswer() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, "GARBAGE\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        guard case .reject(let error, let head) = actions.first else { Issue.record("\(actions)"); return }
        #expect(error.status == 400 && head == nil)
        #expect(Self.dispatched(actions).isEmpty)
        _ = machine.responseReady(Self.response, file: nil, keepAlive: false, now: 0)
        let (_, after) = Self.writeAll(&machine, at: 0)
        #expect(after.first == .halfClose)
        #expect(machine.readEOF(now: 0.1) == [.close])
    }

    @Test func aBadBodyIsRejectedWithItsHead() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, "POST /c HTTP/1.1\r\nHost: x\r\nX-Request-Id: r1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", at: 0)
        guard case .reject(let error, let head) = actions.first else { Issue.record("\(actions)"); return }
        #expect(error.status == 400)
        #expect(head?.headers["X-Request-Id"] == "r1")
    }

    @Test func tooLargeHeadsAndBodiesAreRejectedWithTheirStatus() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 1_024
        limits.maxBodyBytes = 10
        var heads = Machine(limits: limits, timeouts: Self.timeouts, now: 0)
        let big = Self.feed(&heads, "GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "a", count: 2_000), at: 0)
        guard case .reject(let headError, _) = big.first else { Issue.record("\(big)"); return }
        #expect(headError.status == 431)
        var bodies = Machine(limits: limits, timeouts: Self.timeouts, now: 0)
        let large = Self.feed(&bodies, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", at: 0)
        guard case .reject(let bodyError, _) = large.first else { Issue.record("\(large)"); return }
        #expect(bodyError.status == 413)
    }

    @Test func endOfInputMidRequestClosesButAPendingAnswerIsWrittenFirst() {
        var partial = Self.machine()
        _ = Self.feed(&partial, "GET /half HT", at: 0)
        #expect(partial.readEOF(now: 0) == [.close])

        var answered = Self.machine()
        _ = Self.feed(&answered, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        _ = answered.responseReady(Self.response, file: nil, keepAlive: true, now: 0)
        #expect(!answered.readEOF(now: 0).contains(.close), "the answer is still owed")
        #expect(Self.writeAll(&answered, at: 0).actions == [.close])
    }

    @Test func aHangupWhileAHandlerRunsClosesAndTheLateAnswerIsDropped() {
        var machine = Self.machine()
        _ = Self.feed(&machine, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", at: 0)
        #expect(machine.hangup() == [.close])
        #expect(machine.responseReady(Self.response, file: nil, keepAlive: true, now: 1).isEmpty)
        var reading = Self.machine()
        #expect(reading.hangup().isEmpty, "while reading, the loop reads to learn EOF or the error")
        #expect(reading.failed() == [.close])
        #expect(reading.failed().isEmpty)
    }
}
