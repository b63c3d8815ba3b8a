import Auth
import Core
import Persistence

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
        return try db.read { tx in
            var fold = BucketFold(request: request, start: start, end: end)
            for series in try currentSeries(devicePK: device.id, tx) where series.agriID == agriID {
                try fold.add(series: series.id, TelemetryStore(db: tx))
            }
            return fold.finish()
        }
    }

    /// Aggregated exports (DESIGN §5.5): the buckets of every series of device `devicePK` in its current project (only
    /// `agriIDs` when given), series by series in agri_id order, each exactly as `aggregate` answers it. Each series is
    /// folded in its own read transaction and then handed to `body` bucket by bucket outside it, so `body` may write;
    /// memory holds one series' buckets (at most `AggregationRequest.maxBuckets` when the caller checked the range).
    /// `body` returns false to stop; the result says whether every bucket was visited.
    @discardableResult
    public func forEachBucket(devicePK: Int64, agriIDs: Set<String>?, start: Int64, end: Int64, request: AggregationRequest,
                              _ body: (_ agriID: String, _ bucket: AggregateBucket) throws -> Bool) throws -> Bool {
        let series = try db.read { tx in try currentSeries(devicePK: devicePK, tx) }.filter { agriIDs?.contains($0.agriID) ?? true }
        for entry in series {
            let buckets = try db.read { tx in
                var fold = BucketFold(request: request, start: start, end: end)
                try fold.add(series: entry.id, TelemetryStore(db: tx))
                return fold.finish()
            }
            for bucket in buckets where try !body(entry.agriID, bucket) { return false }
        }
        return true
    }
}

/// Folds one series' chunks, in time order, into buckets (empty ones never made).
struct BucketFold {
    let request: AggregationRequest
    let start: Int64
    let end: Int64
    /// `first`/`last` need every point: summaries are not used.
    let needsEnds: Bool
    private var buckets: [AggregateBucket] = []
    private var current = AggregateBucket(start: Int64.min)
    private var currentEnd = Int64.min

    init(request: AggregationRequest, start: Int64, end: Int64) {
        self.request = request
        self.start = start
        self.end = end
        needsEnds = request.aggregates.contains(.first) || request.aggregates.contains(.last)
    }

    /// Adds the chunks of `series` that may hold points in `[start, end)`.
    mutating func add(series: Int64, _ store: TelemetryStore) throws {
        var chunks: [(TelemetryChunk, TelemetrySummary?)] = []
        try store.forEachChunkWithSummary(series: series, from: start, end: end) { chunks.append(($0, $1)) }
        for (chunk, summary) in chunks { try add(chunk, summary) }
    }

    mutating func add(_ chunk: TelemetryChunk, _ summary: TelemetrySummary?) throws {
        if !needsEnds, let summary, let min = summary.min, let max = summary.max, let sum = summary.sum,
           chunk.tFirst >= start, chunk.tLast < end, request.bucket(chunk.tFirst) == request.bucket(chunk.tLast) {
            if chunk.tFirst >= currentEnd || chunk.tFirst < current.start { open(chunk.tFirst) }
            current.add(count: Int64(chunk.count), min: min, max: max, sum: sum, sumError: summary.sumError ?? 0)
            return
        }
        // Points go straight from the decoder into the bucket: the sink's `take` is inlined into the decoding loop.
        var sink = Sink(request: request, start: start, end: end, current: current, currentEnd: currentEnd, buckets: buckets)
        buckets = []
        defer { (current, currentEnd, buckets) = (sink.current, sink.currentEnd, sink.buckets) }
        try chunk.forEach(into: &sink)
    }

    /// The fold of decoded points (the buckets move in and out of it around each chunk).
    struct Sink: PointSink {
        let request: AggregationRequest
        let start: Int64
        let end: Int64
        var current: AggregateBucket
        var currentEnd: Int64
        var buckets: [AggregateBucket]

        @inline(__always)
        mutating func take(_ t: Int64, _ value: Double) -> Bool {
            guard t >= start else { return true }
            guard t < end else { return false }
            if t >= currentEnd || t < current.start {
                if current.count > 0 { buckets.append(current) }
                current = AggregateBucket(start: request.bucket(t))
                currentEnd = current.start + request.interval
            }
            current.add(value)
            return true
        }
    }

    /// Closes the current bucket (when it holds anything) and opens the one holding `t`.
    private mutating func open(_ t: Int64) {
        if current.count > 0 { buckets.append(current) }
        current = AggregateBucket(start: request.bucket(t))
        currentEnd = current.start + request.interval
    }

    /// The buckets, in time order.
    mutating func finish() -> [AggregateBucket] {
        if current.count > 0 { buckets.append(current) }
        current = AggregateBucket(start: Int64.min)
        currentEnd = Int64.min
        return buckets
    }
}
