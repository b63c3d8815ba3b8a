import Core
import Dispatch

/// The application responder: request id, routing, the one error mapping, metrics and the access log.
/// Everything the HTTP layer does around a handler happens here, knowing no domain.
public struct APIResponder: HTTPResponder {
    /// The routing table (its routes carry what the OpenAPI document says of each).
    public let table: RouterTable
    let logger: Logger
    let metrics: MetricsRegistry
    let accessLog: Bool

    public init(table: RouterTable, logger: Logger, metrics: MetricsRegistry, accessLog: Bool = true) {
        self.table = table
        self.logger = logger
        self.metrics = metrics
        self.accessLog = accessLog
    }

    public func mayBlock(method: HTTPMethod, path: String) -> Bool { table.mayBlock(method: method, path: path) }

    public func mayBlock(_ request: inout Request) -> Bool {
        let resolved = table.match(method: request.method, path: request.path)
        request.resolvedRoute = resolved
        if case .found(_, _, _, let blocking) = resolved { return blocking }
        return false
    }

    public func respond(to incoming: Request) -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        var request = incoming
        request.requestID = request.ticket?.requestID ?? RequestTicket.requestID(from: request.headers["X-Request-Id"])
        var response: Response
        var route = "unmatched"
        let match = request.resolvedRoute ?? table.match(method: request.method, path: request.path)
        request.resolvedRoute = nil
        // How errors look depends on the route group the path lies under: looked up only when there is an error.
        switch match {
        case .found(let handler, let pattern, let parameters, _):
            request.parameters = parameters
            request.routePattern = pattern
            route = pattern
            let (answer, refused) = EventLoopThread.watchingRefusals {
                Self.run(handler, request, logger: logger, errors: table.errorRenderer(for: request.path))
            }
            if refused, EventLoopThread.isCurrent {
                // Answered again on a worker: no log line, no request sample for this attempt.
                metrics.increment("http_requests_moved_off_loop_total", help: "Requests that needed the network on an event loop and ran again on a worker.")
                var rerun = Response()
                rerun.mustRunOffLoop = true
                return rerun
            }
            response = answer
        case .methodNotAllowed(let allow):
            response = table.errorRenderer(for: request.path).render(APIError.methodNotAllowed(allow: allow), request)
        case .notFound:
            response = table.errorRenderer(for: request.path).render(APIError.notFound("No route for \(request.method) \(request.path)"), request)
        }
        if let pending = response.pending {
            // Answered later: the id, the error mapping, the metrics and the log line when the answer is known.
            let routed = request
            let matched = route
            return .deferred(pending.map { [self] result in
                var final: Response
                switch result {
                case .success(let answer): final = answer
                case .failure(let error): final = Self.render(error, routed, logger: logger, errors: table.errorRenderer(for: routed.path))
                }
                finish(&final, routed, route: matched, started: started)
                return final
            })
        }
        finish(&response, request, route: route, started: started)
        return response
    }

    /// Stamps the request id on an answered request and records it.
    private func finish(_ response: inout Response, _ request: Request, route: String, started: UInt64) {
        response.headers.set("X-Request-Id", request.requestID)
        record(requestID: request.requestID, method: request.method.rawValue, metricMethod: Self.metricLabel(request.method),
               path: request.path, route: route, response: response, started: started, remote: request.remoteAddress,
               late: request.ticket?.isAbandoned ?? false)
    }

    /// A request the server could not parse or decode gets a request id, a metrics sample and an access log line like
    /// any other (route `rejected`; method and path `-` when the head itself was unreadable). Its answer has the error
    /// shape of the route group its path lies under (a compatibility dialect's own), like every other error there.
    public func respond(rejecting error: any PlatformError, head: RequestHead?, remoteAddress: String) -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let requestID = RequestTicket.requestID(from: head?.headers["X-Request-Id"])
        let path = head.map { String($0.target.prefix { $0 != "?" }) } ?? "-"
        var response = Response.error(error)
        let errors = table.errorRenderer(for: path)
        // The target may be what failed to decode: the renderer sees a request for "/" carrying the raw path.
        if let head, errors.componentName != ErrorRenderer.platform.componentName,
           var request = try? Request(method: head.method, target: "/", version: head.version, headers: head.headers) {
            request.target = head.target
            request.path = path
            request.requestID = requestID
            request.remoteAddress = remoteAddress
            response = errors.render(error, request)
        }
        response.headers.set("X-Request-Id", requestID)
        record(requestID: requestID, method: head?.method.rawValue ?? "-", metricMethod: head.map { Self.metricLabel($0.method) } ?? "OTHER",
               path: path, route: "rejected", response: response, started: started, remote: remoteAddress)
        return response
    }

    /// The metrics sample and the access log line of one answered request. A `late` answer (the server answered 503
    /// without it, `RequestTicket.isAbandoned`) is no second answered request: no sample, and its line says
    /// `late answer dropped`, with the id of the 503's line.
    private func record(requestID: String, method: String, metricMethod: String, path: String, route: String, response: Response,
                        started: UInt64, remote: String, late: Bool = false) {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        if !late { metrics.recordRequest(method: metricMethod, route: route, status: response.status, seconds: seconds) }
        if accessLog, logger.isEnabled(.info) {
            var line = FlatJSONWriter()
            line.add("ts", AccessLogClock.timestamp())
            line.add("level", "info")
            line.add("msg", late ? "late answer dropped" : "request")
            line.add("request_id", requestID)
            line.add("method", method)
            line.add("path", path)
            line.add("route", route)
            line.add("status", response.status)
            line.add("bytes", response.bodyLength)
            line.add("duration_ms", hundredths: Int((seconds * 100_000).rounded()))
            line.add("remote", remote)
            logger.writeLine(line.finish())
        }
    }

    /// Runs a handler and maps whatever it throws to the §4 envelope (or the route group's own shape, `errors`).
    /// Details an error does not expose stay in the log.
    static func run(_ handler: Handler, _ request: Request, logger: Logger, errors: @autoclosure () -> ErrorRenderer = .platform) -> Response {
        do {
            return try FreshReads.during(request.asksForFreshData) { try handler(request) }
        } catch {
            return render(error, request, logger: logger, errors: errors())
        }
    }

    /// What a handler threw (or a deferred answer failed with), as a response.
    static func render(_ error: any Error, _ request: Request, logger: Logger, errors: ErrorRenderer) -> Response {
        // Deliberate 5xx answers (503 DEVICE_OFFLINE / UNAVAILABLE, 500 DEVICE_COMMAND_FAILED) expose their detail;
        // any other 5xx is an internal failure whose details stay in the log.
        if let error = error as? any PlatformError, error.exposesDetail { return errors.render(error, request) }
        if let failure = error as? any TransientFailure, failure.isTransient {
            // The database is busy or unreachable: nothing is wrong with the request, so the client may retry.
            logger.warning("handler failed, transient", ["request_id": .string(request.requestID), "error": .string(String(describing: error))])
            return errors.render(APIError.unavailable("The database is busy or unavailable; retry shortly", retryAfter: failure.retryAfterSeconds), request)
        }
        logger.error("handler failed", ["request_id": .string(request.requestID), "error": .string(String(describing: error))])
        return errors.render(APIError.internalError(requestID: request.requestID), request)
    }

    /// Methods as metric labels: the standard ones, anything else `OTHER` (labels must not grow with what clients send).
    static func metricLabel(_ method: HTTPMethod) -> String {
        switch method {
        case .get, .head, .post, .put, .patch, .delete, .options: method.rawValue
        default: "OTHER"
        }
    }
}

import Foundation
import Synchronization

/// The access log's `ts`, formatted once per second per thread.
enum AccessLogClock {
    final class Cache: @unchecked Sendable {
        // Touched only by its own thread (reached through `PerThread.local`).
        var second = Int64.min
        var text = ""
    }

    private static let caches = PerThread { Cache() }

    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &spec)
        let second = Int64(spec.tv_sec)
        let cache = caches.local
        if cache.second != second {
            cache.text = Timestamp.format(unixSeconds: second)
            cache.second = second
        }
        return cache.text
    }
}
