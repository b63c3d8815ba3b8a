import Auth
import Core

extension DeviceService {
    /// DESIGN §5.2 "Aggregation": one series of the device (`agriID`) in `[start, end)`, grouped into `request`'s
    /// buckets, empty buckets omitted, in time order. Results are exact over the stored points. The caller checked the
    /// bucket count (at most `AggregationRequest.maxBuckets`).
    public func aggregate(projectID: String, pk: Int64, caller: Caller, agriID: String, start: Int64, end: Int64,
                          request: AggregationRequest) throws -> [AggregateBucket] {
        let project = try projects.resolve(projectID, for: caller, access: .read)
        let device = try device(pk, in: project)
        var buckets: [AggregateBucket] = []
        try forEachPoint(devicePK: device.id, agriIDs: [agriID], start: start, end: end) { _, t, value in
            let bucket = request.bucket(t)
            if buckets.last?.start != bucket { buckets.append(AggregateBucket(start: bucket)) }
            buckets[buckets.count - 1].add(value)
            return true
        }
        return buckets
    }
}
