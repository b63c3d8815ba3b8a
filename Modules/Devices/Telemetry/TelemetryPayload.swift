import Core

/// Validation of a telemetry POST body (seed 001, DESIGN §5.2): a JSON array of `{agri_id, value, t?}`.
/// All-or-nothing: one invalid point rejects the request (400 naming it, e.g. `[3].t`). Points whose
/// agri_id is not under the device's prefix are dropped and counted, as the seed says.
enum TelemetryPayload {
    struct SeriesTime: Hashable {
        let agriID: String
        let t: Int64
    }

    /// Latest accepted `t`: the year 2100, so millisecond timestamps are caught as mistakes.
    static let maxTime: Int64 = 4_102_444_800
    /// Enrichment fields a gateway may echo back; accepted and ignored (the server sets them).
    static let enrichment: Set<String> = ["the_type", "project_id", "org_id"]

    static func parse(_ body: JSON, prefix: String, now: Int64, maxPoints: Int) throws(APIError)
        -> (points: [TelemetryReceived.Point], dropped: Int) {
        guard case .array(let items) = body else {
            throw APIError.validation(["body": "must be a JSON array of points, got \(body.typeName)"],
                                      detail: "Telemetry must be a JSON array of {agri_id, value, t?}")
        }
        guard items.count <= maxPoints else {
            throw APIError.payloadTooLarge("At most \(maxPoints) points per request; got \(items.count)")
        }
        var points: [TelemetryReceived.Point] = []
        var positions: [SeriesTime: Int] = [:]
        points.reserveCapacity(items.count)
        var dropped = 0
        var problems: [String: String] = [:]
        /// At most 20 problems are named, each under a bounded name, so a 400 never grows with a hostile body (fuzzing
        /// found every unknown key of a point named, in full).
        func note(_ key: String, _ message: String) {
            if problems.count < 20, problems[key] == nil { problems[key] = message }
        }
        for (index, item) in items.enumerated() {
            let at = "[\(index)]"
            guard case .object(let object) = item else {
                note(at, "must be an object {agri_id, value, t?}")
                if problems.count >= 20 { break } else { continue }
            }
            var agriID: String?
            var value: Double?
            var t: Int64?
            for (key, field) in object.entries {
                switch key {
                case "agri_id":
                    if case .string(let text) = field, (1...128).contains(text.utf8.count) { agriID = text } else {
                        note("\(at).agri_id", "must be a string of 1..128 bytes")
                    }
                case "value":
                    if case .number(let number) = field { value = number } else { note("\(at).value", "must be a number") }
                case "t":
                    if case .null = field { continue }
                    if let seconds = field.int64Value, (0...maxTime).contains(seconds) { t = seconds } else {
                        note("\(at).t", "must be an integer of Unix seconds (0..\(maxTime))")
                    }
                default:
                    if !enrichment.contains(key) { note("\(at).\(FieldReader.echo(key))", "unknown field") }
                }
            }
            if agriID == nil { note("\(at).agri_id", "is required") }
            if value == nil { note("\(at).value", "is required") }
            if problems.count >= 20 { break }
            guard let agriID, let value else { continue }
            guard agriID.hasPrefix(prefix) else {
                dropped += 1
                continue
            }
            let point = TelemetryReceived.Point(agriID: agriID, value: value, t: t ?? now)
            // One value per (agri_id, t): a later point of the same request supersedes an earlier one, which
            // then counts as dropped, so `accepted` is exactly what is stored.
            let key = SeriesTime(agriID: agriID, t: point.t)
            if let earlier = positions[key] {
                points[earlier] = point
                dropped += 1
            } else {
                positions[key] = points.count
                points.append(point)
            }
        }
        if !problems.isEmpty {
            throw APIError.validation(problems, detail: "Invalid telemetry points: \(problems.keys.sorted().prefix(5).joined(separator: ", "))")
        }
        return (points, dropped)
    }
}
