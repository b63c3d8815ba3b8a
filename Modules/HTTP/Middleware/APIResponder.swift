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

    public func respond(to incoming: Request) -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        var request = incoming
        request.requestID = Self.requestID(from: request.headers["X-Request-Id"])
        var response: Response
        var route = "unmatched"
        let errors = table.errorRenderer(for: request.path)
        switch table.match(method: request.method, path: request.path) {
        case .found(let handler, let pattern, let parameters):
            request.parameters = parameters
            request.routePattern = pattern
            route = pattern
            response = Self.run(handler, request, logger: logger, errors: errors)
        case .methodNotAllowed(let allow):
            response = errors.render(APIError.methodNotAllowed(allow: allow), request)
        case .notFound:
            response = errors.render(APIError.notFound("No route for \(request.method) \(request.path)"), request)
        }
        response.headers.set("X-Request-Id", request.requestID)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        metrics.recordRequest(method: Self.metricLabel(request.method), route: route, status: response.status, seconds: seconds)
        if accessLog, logger.isEnabled(.info) {
            var line = JSONObject()
            line.append("ts", .string(AccessLogClock.timestamp()))
            line.append("level", .string("info"))
            line.append("msg", .string("request"))
            line.append("request_id", .string(request.requestID))
            line.append("method", .string(request.method.rawValue))
            line.append("path", .string(request.path))
            line.append("route", .string(route))
            line.append("status", .int(response.status))
            line.append("bytes", .int(response.bodyLength))
            line.append("duration_ms", .number((seconds * 100_000).rounded() / 100))
            line.append("remote", .string(request.remoteAddress))
            logger.writeLine(JSONWriter.bytes(.object(line)))
        }
        return response
    }

    /// Runs a handler and maps whatever it throws to the §4 envelope (or the route group's own shape, `errors`).
    /// Details an error does not expose stay in the log.
    static func run(_ handler: Handler, _ request: Request, logger: Logger, errors: ErrorRenderer = .platform) -> Response {
        do {
            return try handler(request)
        } catch let error as any PlatformError {
            // Deliberate 5xx answers (503 DEVICE_OFFLINE / UNAVAILABLE, 500 DEVICE_COMMAND_FAILED) expose their detail;
            // any other 5xx is an internal failure whose details stay in the log.
            guard error.exposesDetail else {
                logger.error("handler failed", ["request_id": .string(request.requestID), "error": .string(String(describing: error))])
                return errors.render(APIError.internalError(requestID: request.requestID), request)
            }
            return errors.render(error, request)
        } catch {
            logger.error("handler failed", ["request_id": .string(request.requestID), "error": .string(String(describing: error))])
            return errors.render(APIError.internalError(requestID: request.requestID), request)
        }
    }

    /// Methods as metric labels: the standard ones, anything else `OTHER` (labels must not grow with what clients send).
    static func metricLabel(_ method: HTTPMethod) -> String {
        switch method {
        case .get, .head, .post, .put, .patch, .delete, .options: method.rawValue
        default: "OTHER"
        }
    }

    /// Echoes a sane client-supplied id (1–128 visible ASCII characters), otherwise makes one.
    static func requestID(from header: String?) -> String {
        if let header, !header.isEmpty, header.utf8.count <= 128, header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            return header
        }
        return ThreadRandom.identifier(length: 16)
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
