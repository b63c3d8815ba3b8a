import Core
import Persistence

extension DeviceService {
    /// How many points `forEachPoint` would visit with the same arguments (for progress).
    public func countPoints(devicePK: Int64, agriIDs: Set<String>?, start: Int64, end: Int64) throws -> Int64 {
        try db.read { tx in
            let store = TelemetryStore(db: tx)
            return try currentSeries(devicePK: devicePK, tx).filter { agriIDs?.contains($0.agriID) ?? true }
                .reduce(0) { $0 + (try store.pointCount(series: $1.id, start: start, end: end)) }
        }
    }

    /// Streams the points of device `devicePK` in its current project with `start <= t < end`, series by series
    /// (agri_id order, only `agriIDs` when given), each in time order. Reads keyset pages of `pageSize` points, each in
    /// its own short read transaction, so memory stays bounded, no snapshot is held while `body` runs and `body` may
    /// write to the database. `body` returns false to stop; the result says whether every point was visited.
    ///
    /// ```swift
    /// try devices.forEachPoint(devicePK: 7, agriIDs: nil, start: 0, end: now) { agriID, t, value in write(…); return true }
    /// ```
    @discardableResult
    public func forEachPoint(devicePK: Int64, agriIDs: Set<String>?, start: Int64, end: Int64, pageSize: Int = 10_000,
                             _ body: (_ agriID: String, _ t: Int64, _ value: Double) throws -> Bool) throws -> Bool {
        let series = try db.read { tx in try currentSeries(devicePK: devicePK, tx) }.filter { agriIDs?.contains($0.agriID) ?? true }
        var page: [(t: Int64, value: Double)] = []
        page.reserveCapacity(max(1, pageSize))
        for entry in series {
            var after: Int64?
            while true {
                try db.read { tx in
                    try TelemetryStore(db: tx).page(series: entry.id, start: start, end: end, after: after, limit: max(1, pageSize), into: &page)
                }
                for point in page where try !body(entry.agriID, point.t, point.value) { return false }
                guard page.count >= pageSize, let last = page.last else { break }
                after = last.t
            }
        }
        return true
    }

    /// The series of the device in the project and organization it is bound to now (none when unbound).
    func currentSeries(devicePK: Int64, _ tx: Database) throws -> [(id: Int64, agriID: String)] {
        guard let device = try DeviceStore(db: tx).device(pk: devicePK), let projectPK = device.projectPK,
              let organizationID = device.organizationID else { return [] }
        return try TelemetryStore(db: tx).series(devicePK: devicePK, projectPK: projectPK, organizationID: organizationID)
    }
}
