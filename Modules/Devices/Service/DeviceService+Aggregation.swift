import Auth
import Core

extension DeviceService {
    /// DESIGN §5.2 "Aggregation": one series of the device (`agriID`) in `[start, end)`, grouped into `request`'s
    /// buckets, empty buckets omitted, in time order. Results are exact over the stored points. The caller checked the
    /// bucket count (at most `AggregationRequest.maxBuckets`).
    ///
    /// A sealed chunk that lies wholly inside one bucket and the range, and has a summary, is added from its summary
    /// (count, min, max, and its sum with the exact remainder) without being decoded — unless `first` or `last` is asked
    /// for, which need the points. Every other chunk is decoded. One read transaction: a consistent snapshot.
    public func aggregate(projectID: String, pk: Int64, caller: Caller, agriID: String, start: Int64, end: Int64,
                          request: AggregationRequest) throws -> [AggregateBucket] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        let device = try device(pk, in: project)
        let needsEnds = request.aggregates.contains(.first) || request.aggregates.contains(.last)
        var chunks: [(TelemetryChunk, TelemetrySummary?)] = []
        try db.read { tx in
            let store = TelemetryStore(db: tx)
            for series in try currentSeries(devicePK: device.id, tx) where series.agriID == agriID {
                try store.forEachChunkWithSummary(series: series.id, from: start, end: end) { chunks.append(($0, $1)) }
            }
        }
        var buckets: [AggregateBucket] = []
        var current = AggregateBucket(start: Int64.min)
        var currentEnd = Int64.min
        for (chunk, summary) in chunks {
            if !needsEnds, let summary, let min = summary.min, let max = summary.max, let sum = summary.sum,
               chunk.tFirst >= start, chunk.tLast < end, request.bucket(chunk.tFirst) == request.bucket(chunk.tLast) {
                if chunk.tFirst >= currentEnd || chunk.tFirst < current.start {
                    if current.count > 0 { buckets.append(current) }
                    current = AggregateBucket(start: request.bucket(chunk.tFirst))
                    currentEnd = current.start + request.interval
                }
                current.add(count: Int64(chunk.count), min: min, max: max, sum: sum, sumError: summary.sumError ?? 0)
                continue
            }
            for point in try chunk.decoded() where point.t >= start && point.t < end {
                if point.t >= currentEnd || point.t < current.start {
                    if current.count > 0 { buckets.append(current) }
                    current = AggregateBucket(start: request.bucket(point.t))
                    currentEnd = current.start + request.interval
                }
                current.add(point.value)
            }
        }
        if current.count > 0 { buckets.append(current) }
        return buckets
    }
}
