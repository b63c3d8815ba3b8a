import Auth
import Core
import Persistence
import Projects

/// The answer to a telemetry POST: how many points were stored and how many dropped (wrong prefix).
public struct IngestResult: Sendable, Equatable, JSONRepresentable {
    public let accepted: Int
    public let dropped: Int
    public var json: JSON { .object(["accepted": .int(accepted), "dropped": .int(dropped)]) }
}

/// One page of telemetry history, ordered by `t`; `nextCursor` continues after the last point.
public struct HistoryPage: Sendable {
    public struct Point: Sendable, Equatable {
        public let agriID: String
        public let value: Double
        public let t: Int64
    }

    public let points: [Point]
    public let nextCursor: String?
}

extension DeviceService {
    /// Stores a telemetry POST of a user token (`POST …/devices/{pk}/data/`): validated, enriched,
    /// group-committed; returns only after the points are durable.
    public func ingest(projectID: String, pk: Int64, caller: Caller, body: JSON) throws -> IngestResult {
        let project = try projects.resolve(projectID, for: caller, access: .write)
        return try ingest(device: device(pk, in: project), project: project, body: .tree(body))
    }

    func ingest(device: Device, project: ProjectRef, body: TelemetryPayload.Body) throws -> IngestResult {
        let (batch, dropped) = try telemetryBatch(device: device, project: project, body: body)
        try ingestor.ingest(batch)
        dataCache.invalidate(scope: device.id)
        return IngestResult(accepted: batch.points.count, dropped: dropped)
    }

    /// The same as `ingest(projectID:pk:caller:body:)` without waiting for the commit, from the body's unparsed bytes:
    /// read without a JSON tree when they have the plain shape (the common case, and what profiles of ingestion asked
    /// for), else parsed (400 `MALFORMED_JSON` before any other check). Checks and validates now (and throws what they
    /// throw), then `completion` gets the result on the group committer's thread once the points are durable, or the
    /// commit's error. Keep `completion` short: the next commit waits for it.
    public func ingest(projectID: String, pk: Int64, caller: Caller, document: JSONDocument,
                       completion: @escaping @Sendable (Result<IngestResult, any Error>) -> Void) throws {
        let body = try TelemetryPayload.Body(document, maxPoints: maxPointsPerRequest)
        let project = try projects.resolve(projectID, for: caller, access: .write)
        try queue(device: deviceForIngest(pk, in: project), project: project, body: body, completion: completion)
    }

    /// Validates a request's points and queues them for the group commit; `completion` runs after it.
    func queue(device: Device, project: ProjectRef, body: TelemetryPayload.Body, completion: @escaping @Sendable (Result<IngestResult, any Error>) -> Void) throws {
        let (batch, dropped) = try telemetryBatch(device: device, project: project, body: body)
        let cache = dataCache
        let devicePK = device.id
        let accepted = batch.points.count
        try ingestor.ingest(batch) { error in
            if let error {
                completion(.failure(error))
            } else {
                cache.invalidate(scope: devicePK)
                completion(.success(IngestResult(accepted: accepted, dropped: dropped)))
            }
        }
    }

    /// A request's points, validated and enriched, ready for the group commit; and how many were dropped.
    private func telemetryBatch(device: Device, project: ProjectRef, body: TelemetryPayload.Body) throws -> (TelemetryIngestor.Batch, Int) {
        guard device.allow else {
            throw APIError.forbidden("Device \(device.id) is not allowed to relay data (allow is false)")
        }
        let now = clock.unixSeconds()
        let (points, dropped) = try TelemetryPayload.parse(body, prefix: device.agriID, now: now, maxPoints: maxPointsPerRequest)
        return (TelemetryIngestor.Batch(devicePK: device.id, projectPK: project.pk, projectID: project.projectID,
                                        organizationID: project.organizationID, theType: device.model, points: points, connectTime: now),
                dropped)
    }

    /// The latest value of every agri_id under the device's prefix (seed 001's shape): the factor's
    /// name as key when Factors knows one, else `value`.
    public func latest(projectID: String, pk: Int64, caller: Caller) throws -> [JSON] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        let device = try device(pk, in: project)
        let values = try dataCache.value(for: device.id, scope: device.id) {
            try db.read { try TelemetryStore(db: $0).latest(devicePK: device.id) }
        }
        let names = try factors?.factorNames(devicePK: device.id) ?? [:]
        return values.map { entry in
            var object = JSONObject()
            object.append("agri_id", .string(entry.agriID))
            object.append(names[entry.agriID] ?? "value", .number(entry.value))
            object.append("t", .int64(entry.t))
            return .object(object)
        }
    }

    /// History in `[start, end)`, optionally of one agri_id, at most `limit` points after `cursor`.
    public func history(projectID: String, pk: Int64, caller: Caller, agriID: String?, start: Int64, end: Int64, cursor: String?,
                        limit: Int) throws -> HistoryPage {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        let device = try device(pk, in: project)
        var after: (t: Int64, series: Int64)?
        if let cursor {
            let parts = cursor.split(separator: ".")
            guard parts.count == 2, let t = Int64(parts[0]), let series = Int64(parts[1]) else {
                throw APIError.validation(field: "cursor", "is not a cursor from a previous page")
            }
            after = (t, series)
        }
        let rows = try db.read {
            try TelemetryStore(db: $0).history(devicePK: device.id, projectPK: project.pk, organizationID: project.organizationID,
                                               agriID: agriID, start: start,
                                               end: end, after: after, limit: limit + 1)
        }
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last.map { "\($0.t).\($0.series)" } : nil
        return HistoryPage(points: page.map { HistoryPage.Point(agriID: $0.agriID, value: $0.value, t: $0.t) }, nextCursor: next)
    }
}

extension DeviceService {
    /// Retention: deletes telemetry points older than `seconds` (latest values stay). Walks the series 100 at a
    /// time, each batch in its own short transaction, so ingestion is never blocked for long. Returns the count.
    public func purgeTelemetry(olderThan seconds: Double) throws -> Int {
        let cutoff = clock.unixSeconds() - Int64(seconds)
        var after: Int64 = 0
        var removed = 0
        while true {
            let batch = try db.read { try TelemetryStore(db: $0).seriesIDs(after: after, limit: 100) }
            guard let last = batch.last else { break }
            removed += try db.write { tx in
                let store = TelemetryStore(db: tx)
                return try batch.reduce(0) { $0 + (try store.purgePoints(series: $1, olderThan: cutoff)) }
            }
            after = last
        }
        return removed
    }

    /// Totals of `recompressTelemetry`, after each batch of series.
    public struct RecompressProgress: Sendable {
        public var series = 0
        public var seriesTotal = 0
        public var chunks = 0
        public var points = 0
        public var bytesBefore = 0
        public var bytesAfter = 0
    }

    /// Re-encodes every stored telemetry chunk not in codec `version` (2; 1 rewrites v2 chunks for a release before
    /// v2), a batch of series per short transaction; a dry run only counts. `progress` is called after each batch.
    public func recompressTelemetry(to version: Int = 2, dryRun: Bool, progress: (RecompressProgress) -> Void) throws -> RecompressProgress {
        precondition(version == 1 || version == 2, "codec versions are 1 and 2")
        var totals = RecompressProgress()
        totals.seriesTotal = try db.read { try TelemetryStore(db: $0).seriesCount() }
        var after: Int64 = 0
        while true {
            let batch = try db.read { try TelemetryStore(db: $0).seriesIDs(after: after, limit: 100) }
            guard let last = batch.last else { break }
            let work = { (db: Database) throws -> TelemetryStore.Recompression in
                let store = TelemetryStore(db: db)
                return try batch.reduce(TelemetryStore.Recompression()) { $0 + (try store.recompress(series: $1, to: version, dryRun: dryRun)) }
            }
            let done = dryRun ? try db.read(work) : try db.write(work)
            totals.series += batch.count
            totals.chunks += done.chunks
            totals.points += done.points
            totals.bytesBefore += done.bytesBefore
            totals.bytesAfter += done.bytesAfter
            progress(totals)
            after = last
        }
        return totals
    }
}
