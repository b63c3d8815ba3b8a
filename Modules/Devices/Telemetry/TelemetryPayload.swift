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

    /// A point as the body wrote it, before the device's prefix and the default time apply.
    struct Item {
        let agriID: String
        let value: Double
        let t: Int64?
    }

    /// A body read for the group commit: its points when `scan` could read them straight from the bytes, else the tree.
    enum Body {
        case items([Item])
        case tree(JSON)

        /// Reads `document`: its points when it has the plain shape, else its tree (400 `MALFORMED_JSON` when it is
        /// not JSON). Runs before the project is resolved, as parsing the tree did.
        init(_ document: JSONDocument, maxPoints: Int) throws(APIError) {
            if let items = TelemetryPayload.scan(document.bytes, maxPoints: maxPoints) {
                self = .items(items)
            } else {
                self = .tree(try document.parsed())
            }
        }
    }

    static func parse(_ body: Body, prefix: String, now: Int64, maxPoints: Int) throws(APIError) -> (points: [TelemetryPoint], dropped: Int) {
        switch body {
        case .items(let items): accept(items, prefix: prefix, now: now)
        case .tree(let tree): try parse(tree, prefix: prefix, now: now, maxPoints: maxPoints)
        }
    }

    static func parse(_ body: JSON, prefix: String, now: Int64, maxPoints: Int) throws(APIError)
        -> (points: [TelemetryPoint], dropped: Int) {
        guard case .array(let elements) = body else {
            throw APIError.validation(["body": "must be a JSON array of points, got \(body.typeName)"],
                                      detail: "Telemetry must be a JSON array of {agri_id, value, t?}")
        }
        guard elements.count <= maxPoints else {
            throw APIError.payloadTooLarge("At most \(maxPoints) points per request; got \(elements.count)")
        }
        var items: [Item] = []
        items.reserveCapacity(elements.count)
        var problems: [String: String] = [:]
        /// At most 20 problems are named, each under a bounded name, so a 400 never grows with a hostile body (fuzzing
        /// found every unknown key of a point named, in full).
        func note(_ key: String, _ message: String) {
            if problems.count < 20, problems[key] == nil { problems[key] = message }
        }
        for (index, element) in elements.enumerated() {
            let at = "[\(index)]"
            guard case .object(let object) = element else {
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
            items.append(Item(agriID: agriID, value: value, t: t))
        }
        if !problems.isEmpty {
            throw APIError.validation(problems, detail: "Invalid telemetry points: \(problems.keys.sorted().prefix(5).joined(separator: ", "))")
        }
        return accept(items, prefix: prefix, now: now)
    }

    /// Valid items to points: those outside the device's prefix are dropped (counted), a missing `t` is `now`, and one
    /// value is kept per (agri_id, t): a later point of the same request supersedes an earlier one, which then counts
    /// as dropped, so `accepted` is exactly what is stored.
    static func accept(_ items: [Item], prefix: String, now: Int64) -> (points: [TelemetryPoint], dropped: Int) {
        var points: [TelemetryPoint] = []
        points.reserveCapacity(items.count)
        var dropped = 0
        // Duplicates are found by a 64-bit fingerprint of (agri_id, t) first; the exact index by (agri_id, t) is built
        // only once two fingerprints meet (hashing strings per point showed up in ingestion profiles).
        var fingerprints = Set<Int>(minimumCapacity: items.count)
        var positions: [SeriesTime: Int]?
        for item in items {
            guard item.agriID.hasPrefix(prefix) else {
                dropped += 1
                continue
            }
            let point = TelemetryPoint(agriID: item.agriID, value: item.value, t: item.t ?? now)
            if positions == nil {
                guard !fingerprints.insert(fingerprint(item.agriID, point.t)).inserted else {
                    points.append(point)
                    continue
                }
                // Distinct fingerprints so far mean distinct keys, so the index can be built from the points kept.
                positions = Dictionary(uniqueKeysWithValues: points.enumerated().map { (SeriesTime(agriID: $1.agriID, t: $1.t), $0) })
            }
            let key = SeriesTime(agriID: item.agriID, t: point.t)
            if let earlier = positions?[key] {
                points[earlier] = point
                dropped += 1
            } else {
                positions?[key] = points.count
                points.append(point)
            }
        }
        return (points, dropped)
    }

    /// The items of a body in the plain shape, read from its bytes without a tree: an array of at most `maxPoints`
    /// objects whose keys are `agri_id` (a string of 1..128 bytes), `value` (a number) and optionally `t` (whole Unix
    /// seconds in 0...maxTime), each once. Nil for anything else (other keys, `null`, an invalid field, malformed JSON):
    /// the caller then parses the tree, which accepts the same bodies and names every problem of the others.
    static func scan(_ bytes: [UInt8], maxPoints: Int) -> [Item]? {
        JSONParser.withReader(bytes) { reader -> [Item]? in
            guard reader.take(UInt8(ascii: "[")) else { return nil }
            var items: [Item] = []
            items.reserveCapacity(min(maxPoints, bytes.count / 24))
            if !reader.take(UInt8(ascii: "]")) {
                repeat {
                    guard items.count < maxPoints, reader.take(UInt8(ascii: "{")) else { return nil }
                    var agriID: String?
                    var value: Double?
                    var t: Int64?
                    var seenT = false
                    repeat {
                        guard let key = reader.readString(), reader.take(UInt8(ascii: ":")) else { return nil }
                        switch key {
                        case "agri_id":
                            guard agriID == nil, let text = reader.readString(), (1...128).contains(text.utf8.count) else { return nil }
                            agriID = text
                        case "value":
                            guard value == nil, let number = reader.readNumber() else { return nil }
                            value = number
                        case "t":
                            guard !seenT, let number = reader.readNumber(), let seconds = JSON.number(number).int64Value,
                                  (0...maxTime).contains(seconds) else { return nil }
                            seenT = true
                            t = seconds
                        default:
                            return nil
                        }
                    } while reader.take(UInt8(ascii: ","))
                    guard reader.take(UInt8(ascii: "}")), let agriID, let value else { return nil }
                    items.append(Item(agriID: agriID, value: value, t: t))
                } while reader.take(UInt8(ascii: ","))
                guard reader.take(UInt8(ascii: "]")) else { return nil }
            }
            return reader.isAtEnd() ? items : nil
        }
    }

    /// FNV-1a over the agri_id's bytes, mixed with `t`.
    private static func fingerprint(_ agriID: String, _ t: Int64) -> Int {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in agriID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return Int(bitPattern: UInt(hash ^ (UInt64(bitPattern: t) &* 0x9E37_79B9_7F4A_7C15)))
    }
}
