// Fuzz target `telemetry`: a telemetry POST body (JSON) through TelemetryPayload.parse. Invariants: never a crash;
// an accepted body gives exactly the points an independent reading of the array expects (points under the prefix,
// a later point of the same (agri_id, t) replacing an earlier one, every other point counted as dropped); a rejected
// body answers 400 or 413 naming a bounded number of problems with bounded names.

//
// The same body through `TelemetryPayload.scan` (the tree-less reading of the plain shape): whatever it accepts, the
// tree accepts too, with the same points and dropped count.
func fuzzTelemetry(_ input: [UInt8]) {
    let prefix = "d-1000-abcd"
    let now: Int64 = 1_708_070_400
    let maxPoints = 64
    let scanned = TelemetryPayload.scan(input, maxPoints: maxPoints)
    guard let body = try? JSONParser.parse(input) else {
        fuzzCheck(scanned == nil, "the scanner accepted what the parser rejects")
        return
    }
    let points: [TelemetryPoint]
    let dropped: Int
    do {
        (points, dropped) = try TelemetryPayload.parse(body, prefix: prefix, now: now, maxPoints: maxPoints)
        if let scanned {
            let fast = TelemetryPayload.accept(scanned, prefix: prefix, now: now)
            fuzzCheck(fast.points == points && fast.dropped == dropped, "scanned \(fast), tree \((points, dropped))")
        }
    } catch {
        fuzzCheck(scanned == nil, "the scanner accepted a body the tree rejects: \(error.fields)")
        fuzzCheck(error.status == 400 || error.status == 413, "status \(error.status)")
        fuzzCheck(error.fields.count <= 20, "\(error.fields.count) problems named")
        for key in error.fields.keys { fuzzCheck(key.unicodeScalars.count <= 80, "a problem name of \(key.unicodeScalars.count) scalars") }
        fuzzCheck(error.detail.unicodeScalars.count <= 600, "a detail of \(error.detail.unicodeScalars.count) scalars")
        return
    }
    guard case .array(let items) = body else { fuzzCheck(false, "a non-array accepted"); return }
    fuzzCheck(items.count <= maxPoints, "\(items.count) points accepted over \(maxPoints)")
    fuzzCheck(points.count + dropped == items.count, "\(points.count) points + \(dropped) dropped ≠ \(items.count) items")

    // The expected result, read independently.
    var expected: [TelemetryPoint] = []
    var index: [String: Int] = [:]
    for item in items {
        guard case .object(let object) = item, case .string(let agriID)? = object["agri_id"], case .number(let value)? = object["value"] else {
            fuzzCheck(false, "an invalid item accepted: \(item)")
            return
        }
        let t = object["t"].flatMap(\.int64Value) ?? now
        guard agriID.hasPrefix(prefix) else { continue }
        let key = "\(agriID)\u{0}\(t)"
        let point = TelemetryPoint(agriID: agriID, value: value, t: t)
        if let earlier = index[key] { expected[earlier] = point } else {
            index[key] = expected.count
            expected.append(point)
        }
    }
    fuzzCheck(points == expected, "points \(points), expected \(expected)")
    for point in points {
        fuzzCheck((1...128).contains(point.agriID.utf8.count), "agri_id length")
        fuzzCheck((0...TelemetryPayload.maxTime).contains(point.t), "t \(point.t)")
        fuzzCheck(point.value.isFinite, "value \(point.value)")
    }
}
