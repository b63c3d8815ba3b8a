import Core
import Foundation
@testable import HTTP
import Synchronization
import Testing
import TestSupport

/// Deferred responses: a handler on the event loop returns `.deferred(pending)` and another thread completes it later.
/// No thread waits meanwhile (the one loop keeps serving), pipelined answers stay in order, graceful shutdown waits
/// for the answer, and the application responder maps a failure and stamps the request id when the answer is known.
@Suite struct DeferredResponseTests {
    /// `/later?ms=` is completed by a timer thread after `ms`; `/fail` fails later; anything else is answered at once.
    final class DeferringServer: Sendable {
        let server: HTTPServer
        let port: Int

        init(responseTimeout: Double = 300) throws {
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.responseTimeout = responseTimeout
            configuration.eventLoops = 1
            configuration.workerThreads = 1
            server = HTTPServer(configuration: configuration, responder: ClosureResponder(mayBlock: { _, _ in false }) { request in
                if request.path == "/lazy" {
                    // Completed lazily by a timer thread: says whether its answer was built there or on the loop.
                    let pending = DeferredResponse()
                    DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) {
                        let completer = pthread_self()
                        pending.complete(lazily: { .success(.text(pthread_equal(pthread_self(), completer) != 0 ? "built by the completer" : "built elsewhere")) })
                    }
                    return .deferred(pending)
                }
                guard request.path == "/later" || request.path == "/fail" else { return .text("now \(request.path)") }
                let pending = DeferredResponse()
                let delay = Double(request.query["ms"] ?? "") ?? 300
                let fails = request.path == "/fail"
                let tag = request.query["tag"] ?? ""
                DispatchQueue.global().asyncAfter(deadline: .now() + delay / 1000) {
                    pending.complete(fails ? .failure(APIError.unavailable("commit failed")) : .success(.text("later \(tag)")))
                }
                return .deferred(pending)
            }, logger: Logger(level: .error))
            port = try server.start()
        }
    }

    @Test func theLoopKeepsServingWhileAnAnswerIsDeferred() throws {
        let deferring = try DeferringServer()
        defer { deferring.server.shutdown(gracePeriod: 2) }
        let waiting = try RawConnection(port: deferring.port)
        try waiting.send("GET /later?ms=800&tag=a HTTP/1.1\r\nHost: x\r\n\r\n")
        let started = monotonicNow()
        let other = try RawConnection(port: deferring.port)
        try other.send("GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try other.readResponse().text == "now /quick")
        #expect(monotonicNow() - started < 0.6, "the only loop was held by the deferred request")
        let late = try waiting.readResponse()
        #expect(late.status == 200 && late.text == "later a")
    }

    /// A lazily completed answer is built on the loop that sends it, not on the thread that completed it (the
    /// group committer is spared rendering, mapping and logging many answers).
    @Test func aLazyAnswerIsBuiltOnTheLoop() throws {
        let answer = try Self.answer(toGET: "/lazy")
        #expect(answer.status == 200 && answer.text == "built elsewhere")
    }

    /// The answer of a fresh `DeferringServer` to one GET of `target`.
    static func answer(toGET target: String) throws -> RawResponse {
        let deferring = try DeferringServer()
        defer { deferring.server.shutdown(gracePeriod: 2) }
        let connection = try RawConnection(port: deferring.port)
        try connection.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
        return try connection.readResponse()
    }

    /// Nothing of a lazy outcome or of a mapping runs when it is completed; the first consumer builds it, once, however
    /// many ask afterwards.
    @Test func aLazyOutcomeIsBuiltOnceWhenFirstAskedFor() {
        let built = Atomic<Int>(0)
        let transformed = Atomic<Int>(0)
        let pending = DeferredResponse()
        let mapped = pending.map { result in
            transformed.add(1, ordering: .relaxed)
            return (try? result.get()) ?? .text("failed")
        }
        pending.complete(lazily: {
            built.add(1, ordering: .relaxed)
            return .success(.text("made"))
        })
        #expect(built.load(ordering: .relaxed) == 0 && transformed.load(ordering: .relaxed) == 0)
        let outcomes = Mutex<[DeferredOutcome]>([])
        mapped.whenOutcome { outcome in outcomes.withLock { $0.append(outcome) } }
        mapped.whenOutcome { outcome in outcomes.withLock { $0.append(outcome) } }
        #expect(built.load(ordering: .relaxed) == 0 && transformed.load(ordering: .relaxed) == 0)
        for _ in 0..<3 {
            guard case .success(let response) = mapped.wait() else { Issue.record("a mapped answer succeeds"); return }
            #expect(response.body == Array("made".utf8))
        }
        for outcome in outcomes.withLock({ $0 }) { _ = outcome.result }
        #expect(built.load(ordering: .relaxed) == 1 && transformed.load(ordering: .relaxed) == 1)
        // Completing again keeps the first outcome.
        pending.complete(lazily: { .success(.text("second")) })
        guard case .success(let again) = pending.wait() else { Issue.record("the first outcome stays"); return }
        #expect(again.body == Array("made".utf8))
    }

    @Test func pipelinedDeferredAndImmediateAnswersStayInOrder() throws {
        let deferring = try DeferringServer()
        defer { deferring.server.shutdown(gracePeriod: 2) }
        let connection = try RawConnection(port: deferring.port)
        try connection.sendInOneCall("GET /later?ms=300&tag=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /later?ms=10&tag=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        let answers = try (0..<3).map { _ in try connection.readResponse().text }
        #expect(answers == ["later 1", "now /two", "later 3"])
    }

    @Test func aFailureIsAnsweredWithTheEnvelope() throws {
        let response = try Self.answer(toGET: "/fail?ms=20")
        #expect(response.status == 503 && response.text.contains("UNAVAILABLE"))
    }

    /// An answer later than `responseTimeout` is not waited for: 503 `UNAVAILABLE` with `Connection: close`, the late
    /// answer is dropped (never written after it), and the server keeps serving.
    @Test func anOverdueAnswerGets503AndTheLateOneIsDropped() throws {
        let deferring = try DeferringServer(responseTimeout: 0.5)
        defer { deferring.server.shutdown(gracePeriod: 2) }
        let connection = try RawConnection(port: deferring.port)
        let started = monotonicNow()
        try connection.send("GET /later?ms=1200&tag=late HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try connection.readResponse()
        let waited = monotonicNow() - started
        #expect(response.status == 503 && response.text.contains("UNAVAILABLE"))
        #expect(response.header("Connection") == "close")
        #expect(waited >= 0.5 && waited < 1.2, "answered after \(waited) s")
        Thread.sleep(forTimeInterval: 1.0)   // the late answer comes while the connection drains
        #expect(connection.readEnd() == .eof)
        let next = try RawConnection(port: deferring.port)
        try next.send("GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try next.readResponse().text == "now /quick")
    }

    @Test func gracefulShutdownWaitsForADeferredAnswer() throws {
        let deferring = try DeferringServer()
        let connection = try RawConnection(port: deferring.port)
        try connection.send("GET /later?ms=500&tag=s HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        let stopper = Thread { deferring.server.shutdown(gracePeriod: 5) }
        stopper.start()
        let response = try connection.readResponse()
        #expect(response.text == "later s")
        #expect(response.header("Connection") == "close")
        while !stopper.isFinished { usleep(10_000) }
    }

    @Test func apiResponderStampsTheIDAndMapsAFailureWhenTheAnswerIsKnown() throws {
        let router = Router()
        let pending = DeferredResponse()
        router.group("/api").on(.post, "/x/", auth: .anonymous, blocking: false) { _ in .deferred(pending) }
        let responder = APIResponder(table: router.freeze(), logger: Logger(level: .error), metrics: MetricsRegistry())
        var headers = HTTPHeaders()
        headers.add("X-Request-Id", "deferred-1")
        let first = responder.respond(to: try Request(method: .post, target: "/api/x/", headers: headers))
        let outer = try #require(first.pending)
        pending.complete(.failure(APIError.forbidden("not yours")))
        guard case .success(let answer) = outer.wait() else { Issue.record("mapped answers succeed"); return }
        #expect(answer.status == 403)
        #expect(answer.headers["X-Request-Id"] == "deferred-1")
    }
}

/// An answer that comes after the server gave up on it (a 503 after `responseTimeout`) is not a second answered
/// request: the access log has one `request` line (the 503) and one `late answer dropped` line, both with the
/// request's id, and the metrics count the request once. For a handler on the pool and for a deferred answer alike.
@Suite struct LateAnswerLogTests {
    @Test(arguments: ["/api/slow/", "/api/later/"])
    func aLateAnswerIsLoggedAsDroppedUnderTheRequestsID(path: String) throws {
        let log = LogFile()
        defer { log.remove() }
        let logger = log.logger
        let metrics = MetricsRegistry()
        let router = Router()
        let api = router.group("/api")
        api.on(.get, "/slow/", auth: .anonymous, blocking: true) { _ in
            Thread.sleep(forTimeInterval: 0.8)
            return .text("slow")
        }
        api.on(.get, "/later/", auth: .anonymous, blocking: false) { _ in
            let pending = DeferredResponse()
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.8) { pending.complete(.text("later")) }
            return .deferred(pending)
        }
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.eventLoops = 1
        configuration.responseTimeout = 0.3
        let server = HTTPServer(configuration: configuration,
                                responder: APIResponder(table: router.freeze(), logger: logger, metrics: metrics), logger: logger)
        let port = try server.start()
        defer { server.shutdown(gracePeriod: 2) }
        let connection = try RawConnection(port: port)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 503)
        let id = try #require(response.header("X-Request-Id"))
        Thread.sleep(forTimeInterval: 1.0)   // the handler's answer comes, and is dropped
        let lines = try log.text().split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        let mine = lines.filter { $0["request_id"]?.stringValue == id }
        #expect(mine.map { $0["msg"]?.stringValue ?? "" }.sorted() == ["late answer dropped", "request"], "\(lines)")
        #expect(mine.first { $0["msg"] == .string("request") }?["status"] == .number(503))
        #expect(mine.first { $0["msg"] == .string("late answer dropped") }?["status"] == .number(200))
        #expect(!metrics.render().contains(path), "the late answer is not counted as a request of its route")
    }
}
