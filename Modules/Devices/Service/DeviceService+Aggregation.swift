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
        var buckets: [AggregateBucket] = []
        func bucket(_ t: Int64) -> Int {
            let start = request.bucket(t)
            if buckets.last?.start != start { buckets.append(AggregateBucket(start: start)) }
            return buckets.count - 1
        }
        try db.read { tx in
            let store = TelemetryStore(db: tx)
            for series in try currentSeries(devicePK: device.id, tx) where series.agriID == agriID {
                try store.forEachChunkWithSummary(series: series.id, from: start, end: end) { chunk, summary in
                    if !needsEnds, let summary, let min = summary.min, let max = summary.max, let sum = summary.sum,
                       chunk.tFirst >= start, chunk.tLast < end, request.bucket(chunk.tFirst) == request.bucket(chunk.tLast) {
                        buckets[bucket(chunk.tFirst)].add(count: Int64(chunk.count), min: min, max: max, sum: sum, sumError: summary.sumError ?? 0)
                        return
                    }
                    try chunk.forEach { t, value in
                        guard t >= start else { return true }
                        guard t < end else { return false }
                        buckets[bucket(t)].add(value)
                        return true
                    }
                }
            }
        }
        return buckets
    }
}
