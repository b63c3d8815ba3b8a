import Core
import Persistence

extension TelemetryChunk {
    /// A stored chunk from a row of `t_first, t_last, count, points`.
    init(row: Row) {
        self.init(tFirst: row.int(0), tLast: row.int(1), count: Int(row.int(2)), bytes: row.blob(3))
    }
}

/// SQL over Devices' telemetry tables: series, points, latest values.
struct TelemetryStore {
    let db: Database

    struct SeriesKey: Hashable, Sendable {
        let devicePK: Int64
        let agriID: String
        let projectPK: Int64
        let organizationID: Int64
    }

    static let selectSeries = """
        SELECT id FROM telemetry_series WHERE device_pk = ? AND agri_id = ? AND project_pk = ? AND organization_id = ?
        """
    /// Creates a series unless it exists: race-free between writers (another one may insert the same key meanwhile; its
    /// row then wins and no row comes back, so the id is read after).
    static let insertSeries = """
        INSERT INTO telemetry_series (device_pk, agri_id, project_pk, organization_id, the_type) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (device_pk, agri_id, project_pk, organization_id) DO NOTHING RETURNING id
        """

    /// The series id for `key`, created when new.
    func seriesID(_ key: SeriesKey, theType: String) throws -> Int64 {
        let select = try db.prepared(Self.selectSeries)
        try select.bind(1, key.devicePK)
        try select.bind(2, key.agriID)
        try select.bind(3, key.projectPK)
        try select.bind(4, key.organizationID)
        if let row = try select.first() { return row.int(0) }
        if let row = try db.queryOne(Self.insertSeries, [key.devicePK, key.agriID, key.projectPK, key.organizationID, theType]) {
            return row.int(0)
        }
        // Inserted by another writer since the SELECT (PostgreSQL: committed meanwhile, so a new statement sees it).
        guard let row = try select.first() else { throw APIError.internalError("a telemetry series vanished while it was created") }
        return row.int(0)
    }

    /// The ids of many series, those that are new created, in two round trips on PostgreSQL whatever their number (one
    /// pipelined get-or-create each, then a pipelined read of the ones another writer inserted meanwhile). Keys are taken
    /// in order, so two writers lock index entries in the same order.
    func seriesIDs(_ keys: [(key: SeriesKey, theType: String)]) throws -> [SeriesKey: Int64] {
        var ids: [SeriesKey: Int64] = [:]
        guard db.dialect == .postgres else {
            for (key, theType) in keys { ids[key] = try seriesID(key, theType: theType) }
            return ids
        }
        let sorted = keys.sorted { ($0.key.devicePK, $0.key.agriID, $0.key.projectPK, $0.key.organizationID) <
                                   ($1.key.devicePK, $1.key.agriID, $1.key.projectPK, $1.key.organizationID) }
        let created = try db.queryMany(Self.insertSeries, sorted.map { [$0.key.devicePK, $0.key.agriID, $0.key.projectPK, $0.key.organizationID, $0.theType] })
        var existing: [SeriesKey] = []
        for (index, rows) in created.enumerated() {
            if let row = rows.first { ids[sorted[index].key] = row.int(0) } else { existing.append(sorted[index].key) }
        }
        guard !existing.isEmpty else { return ids }
        let found = try db.queryMany(Self.selectSeries, existing.map { [$0.devicePK, $0.agriID, $0.projectPK, $0.organizationID] })
        for (index, rows) in found.enumerated() {
            guard let row = rows.first else { throw APIError.internalError("a telemetry series vanished while it was created") }
            ids[existing[index]] = row.int(0)
        }
        return ids
    }

    /// What a group commit already read of a series before writing it (PostgreSQL reads every series of the group at once).
    struct Known {
        /// The open chunk, if the series has one.
        let open: TelemetryChunk?
        /// The `t_last` of the last sealed chunk (read only when there is no open chunk), if any.
        let lastSealedTLast: Int64?
    }

    /// On PostgreSQL, for the series of a group commit: which of them still exist (another process may have deleted one
    /// since its id was cached: `vanished`), their open chunks locked for this transaction (`FOR UPDATE`, in series
    /// order, so two writers of one series extend it one after the other) and, for series without one, the end of their
    /// last sealed chunk. Two round trips for the whole group; nil on SQLite, whose single writer reads as it goes.
    func known(series: [Int64]) throws -> (known: [Int64: Known], vanished: Set<Int64>)? {
        guard db.dialect == .postgres, !series.isEmpty else { return nil }
        let sorted = series.sorted()
        let array = "{" + sorted.map(String.init).joined(separator: ",") + "}"
        let answers = try db.queryPipeline([
            ("SELECT id FROM telemetry_series WHERE id = ANY(?::bigint[])", [array]),
            ("""
             SELECT series_id, t_first, t_last, count, points FROM telemetry_open_chunks WHERE series_id = ANY(?::bigint[])
             ORDER BY series_id FOR UPDATE
             """, [array]),
        ])
        let existing = Set(answers[0].map { $0.int(0) })
        var open: [Int64: TelemetryChunk] = [:]
        for row in answers[1] {
            open[row.int(0)] = TelemetryChunk(tFirst: row.int(1), tLast: row.int(2), count: Int(row.int(3)), bytes: row.blob(4))
        }
        let without = sorted.filter { open[$0] == nil && existing.contains($0) }
        var lastSealed: [Int64: Int64] = [:]
        if !without.isEmpty {
            let rows = try db.queryMany("SELECT t_last FROM telemetry_chunks WHERE series_id = ? ORDER BY t_first DESC LIMIT 1", without.map { [$0] })
            for (index, answer) in rows.enumerated() { if let row = answer.first { lastSealed[without[index]] = row.int(0) } }
        }
        var known: [Int64: Known] = [:]
        for id in sorted where existing.contains(id) { known[id] = Known(open: open[id], lastSealedTLast: lastSealed[id]) }
        return (known, Set(sorted).subtracting(existing))
    }

    /// Writes a series' points and latest values in the group commit through cached statements (positions bound here only).
    ///
    /// Points live in chunks (`TelemetryChunk`; DECISIONS "Telemetry in chunks"). The chunks of a series never overlap in
    /// time and store a `t` once. A series' last chunk may be *open*: kept in the small `telemetry_open_chunks` table, one
    /// row per series, and extended by each group commit until it is full, when it is *sealed* (moved into
    /// `telemetry_chunks`). So a commit dirties the few pages of the open table instead of one page per series in the
    /// large one. Points at stored times, or late points that fall among stored ones, make the chunks they overlap be
    /// read, merged (new values win) and written back sealed.
    struct PointWriter {
        let db: Database
        /// On PostgreSQL for a group commit: rows collected here and written by `flush` as one multi-row statement per
        /// table (nil: each row is written as it comes).
        let pending: PendingRows?
        let openChunk: PreparedStatement
        let insertOpen: PreparedStatement
        let updateOpen: PreparedStatement
        let lastSealed: PreparedStatement
        let sealedFromLast: PreparedStatement
        let deleteSealed: PreparedStatement
        let insertSealed: PreparedStatement
        let upsertLatest: PreparedStatement

        /// Stores `points` of `series`, sorted by `t` with one point per `t` (`TelemetryChunk.normalized`); a point at a
        /// stored `t` replaces the stored value. `known`: what was already read of the series (else it is read here).
        func write(series: Int64, points: [(t: Int64, value: Double)], known: Known? = nil) throws {
            guard let first = points.first else { return }
            let stored = try known == nil ? self.open(series) : known?.open
            if let open = stored {
                // After the open chunk (the common case), or within or after its span (late points of concurrent
                // requests): only the open chunk is involved.
                if open.tLast < first.t { return try extend(series: series, open: open, points) }
                if open.tFirst <= first.t { return try extend(series: series, open: nil, try merged([open], points)) }
                return try merge(series: series, points, open: open)
            }
            let lastSealedTLast: Int64?
            if let known {
                lastSealedTLast = known.lastSealedTLast
            } else {
                try lastSealed.bind(1, series)
                lastSealedTLast = try lastSealed.first()?.int(1)
            }
            if let lastSealedTLast, lastSealedTLast >= first.t {
                return try merge(series: series, points, open: nil)
            }
            try extend(series: series, open: nil, points, opening: true)
        }

        /// Writes what a batching writer collected: at most one statement per table, queued (`executePipelined`).
        func flush() throws {
            guard let pending else { return }
            let chunkColumns = "?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bytea[]"
            func chunkArrays(_ rows: [(series: Int64, chunk: TelemetryChunk)]) -> [any SQLBindable] {
                [PostgresArray.integers(rows.map(\.series)), PostgresArray.integers(rows.map(\.chunk.tFirst)),
                 PostgresArray.integers(rows.map(\.chunk.tLast)), PostgresArray.integers(rows.map { Int64($0.chunk.count) }),
                 PostgresArray.bytes(rows.map(\.chunk.bytes))]
            }
            if !pending.openUpdates.isEmpty {
                try db.executePipelined("""
                    UPDATE telemetry_open_chunks AS o SET t_first = v.t_first, t_last = v.t_last, count = v.count, points = v.points
                    FROM unnest(\(chunkColumns)) AS v(series_id, t_first, t_last, count, points) WHERE o.series_id = v.series_id
                    """, chunkArrays(pending.openUpdates))
            }
            if !pending.openInserts.isEmpty {
                try db.executePipelined("""
                    INSERT INTO telemetry_open_chunks (series_id, t_first, t_last, count, points) SELECT * FROM unnest(\(chunkColumns))
                    """, chunkArrays(pending.openInserts))
            }
            if !pending.sealed.isEmpty {
                let rows = pending.sealed
                try db.executePipelined("""
                    INSERT INTO telemetry_chunks (series_id, t_first, t_last, count, points, value_min, value_max, value_sum, value_sum_error)
                    SELECT * FROM unnest(\(chunkColumns), ?::float8[], ?::float8[], ?::float8[], ?::float8[])
                    """, chunkArrays(rows.map { ($0.series, $0.chunk) }) + [
                        PostgresArray.doubles(rows.map(\.summary.min)), PostgresArray.doubles(rows.map(\.summary.max)),
                        PostgresArray.doubles(rows.map(\.summary.sum)), PostgresArray.doubles(rows.map(\.summary.sumError)),
                    ])
            }
            if !pending.latest.isEmpty {
                let rows = pending.latest
                try db.executePipelined("""
                    INSERT INTO telemetry_latest (device_pk, agri_id, t, value)
                    SELECT * FROM unnest(?::bigint[], ?::text[], ?::bigint[], ?::float8[])
                    ON CONFLICT (device_pk, agri_id) DO UPDATE SET t = excluded.t, value = excluded.value
                    WHERE excluded.t >= telemetry_latest.t
                    """, [PostgresArray.integers(rows.map(\.devicePK)), PostgresArray.texts(rows.map(\.agriID)),
                          PostgresArray.integers(rows.map(\.t)), PostgresArray.doubles(rows.map(\.value))])
            }
            pending.openUpdates = []
            pending.openInserts = []
            pending.sealed = []
            pending.latest = []
        }

        /// The series' open chunk, if it has one.
        func open(_ series: Int64) throws -> TelemetryChunk? {
            try openChunk.bind(1, series)
            return try openChunk.first().map(TelemetryChunk.init(row:))
        }

        /// Points that end the series: they extend `open` (when given) and fill chunks; every full chunk is sealed and
        /// the last one is the open chunk (its row updated, or inserted when the series had none: `opening`).
        private func extend(series: Int64, open: TelemetryChunk?, _ points: [(t: Int64, value: Double)], opening: Bool = false) throws {
            var chunks = TelemetryChunk.pack(points, onto: open)
            guard let last = chunks.popLast() else { return }
            for full in chunks { try seal(series: series, full) }
            try saveOpen(series: series, last, inserting: opening)
        }

        /// Writes the open chunk of `series`: a new row (`inserting`), or over the series' existing one.
        func saveOpen(series: Int64, _ chunk: TelemetryChunk, inserting: Bool) throws {
            if let pending {
                if inserting { pending.openInserts.append((series, chunk)) } else { pending.openUpdates.append((series, chunk)) }
                return
            }
            if inserting {
                try Self.run(insertOpen, series: series, chunk)
            } else {
                try updateOpen.bind(1, chunk.tFirst)
                try updateOpen.bind(2, chunk.tLast)
                try updateOpen.bind(3, Int64(chunk.count))
                try updateOpen.bind(4, chunk.bytes)
                try updateOpen.bind(5, series)
                try updateOpen.runPipelined()
            }
        }

        /// Rewrites the chunks of `series` that overlap `points`' time span together with `points` (which win). When
        /// the open chunk takes part, the merged points end the series: the last chunk of them stays open.
        private func merge(series: Int64, _ points: [(t: Int64, value: Double)], open: TelemetryChunk?) throws {
            guard let first = points.first, let last = points.last else { return }
            var stored: [TelemetryChunk] = []
            try sealedFromLast.bind(1, series)
            try sealedFromLast.bind(2, last.t)
            try sealedFromLast.forEach { row in
                let chunk = TelemetryChunk(row: row)
                guard chunk.tLast >= first.t else { return false }
                stored.append(chunk)
                return true
            }
            if let low = stored.last?.tFirst, let high = stored.first?.tFirst {
                try deleteSealed.bind(1, series)
                try deleteSealed.bind(2, low)
                try deleteSealed.bind(3, high)
                try deleteSealed.runPipelined()
            }
            stored.reverse()
            if let open, open.tFirst <= last.t {
                stored.append(open)
                return try extend(series: series, open: nil, try merged(stored, points))
            }
            for chunk in TelemetryChunk.pack(try merged(stored, points)) { try seal(series: series, chunk) }
        }

        /// The points of `chunks` (in time order) and `points` in one run; at a shared `t` the new value wins.
        private func merged(_ chunks: [TelemetryChunk], _ points: [(t: Int64, value: Double)]) throws -> [(t: Int64, value: Double)] {
            var merged: [(t: Int64, value: Double)] = []
            merged.reserveCapacity(points.count + chunks.reduce(0) { $0 + $1.count })
            var incoming = points[...]
            for chunk in chunks {
                try chunk.forEach { t, value in
                    while let point = incoming.first, point.t < t {
                        merged.append(point)
                        incoming = incoming.dropFirst()
                    }
                    if let point = incoming.first, point.t == t {
                        merged.append(point)
                        incoming = incoming.dropFirst()
                    } else {
                        merged.append((t, value))
                    }
                    return true
                }
            }
            merged.append(contentsOf: incoming)
            return merged
        }

        /// Inserts a chunk into `telemetry_chunks`, with its summary. A damaged chunk (an open chunk whose blob no
        /// longer decodes) is sealed as it is with no summary, so that the series' new points still go in a new chunk
        /// and the group commit does not fail for every device; `admin-cli check` names it.
        func seal(series: Int64, _ chunk: TelemetryChunk) throws {
            let summary = (try? TelemetrySummary(of: chunk)) ?? .empty
            if let pending { return pending.sealed.append((series, chunk, summary)) }
            for (index, value) in [summary.min, summary.max, summary.sum, summary.sumError].enumerated() {
                if let value { try insertSealed.bind(Int32(6 + index), value) } else { try insertSealed.bindNull(Int32(6 + index)) }
            }
            try Self.run(insertSealed, series: series, chunk)
        }

        /// Runs an insert of `(series_id, t_first, t_last, count, points)`.
        private static func run(_ insert: PreparedStatement, series: Int64, _ chunk: TelemetryChunk) throws {
            try insert.bind(1, series)
            try insert.bind(2, chunk.tFirst)
            try insert.bind(3, chunk.tLast)
            try insert.bind(4, Int64(chunk.count))
            try insert.bind(5, chunk.bytes)
            try insert.runPipelined()
        }

        /// The latest value of (device, agri_id), kept only when `t` is not older than the stored one.
        func latest(devicePK: Int64, agriID: String, t: Int64, value: Double) throws {
            if let pending { return pending.latest.append((devicePK, agriID, t, value)) }
            try upsertLatest.bind(1, devicePK)
            try upsertLatest.bind(2, agriID)
            try upsertLatest.bind(3, t)
            try upsertLatest.bind(4, value)
            try upsertLatest.runPipelined()
        }
    }

    /// Rows a batching `PointWriter` collected (PostgreSQL group commit).
    final class PendingRows {
        var openUpdates: [(series: Int64, chunk: TelemetryChunk)] = []
        var openInserts: [(series: Int64, chunk: TelemetryChunk)] = []
        var sealed: [(series: Int64, chunk: TelemetryChunk, summary: TelemetrySummary)] = []
        var latest: [(devicePK: Int64, agriID: String, t: Int64, value: Double)] = []
    }

    /// A writer for `write`/`seal`/`saveOpen`/`latest`. `batching` (PostgreSQL only; ignored on SQLite, where a row costs
    /// no round trip): rows are collected and `flush` writes each table's in one statement over `unnest` of arrays, queued
    /// to go out with the COMMIT. Deletes (late points rewriting sealed chunks) still run in order before them.
    func pointWriter(batching: Bool = false) throws -> PointWriter {
        let columns = "t_first, t_last, count, points"
        return PointWriter(
            db: db,
            pending: batching && db.dialect == .postgres ? PendingRows() : nil,
            openChunk: try db.prepared("SELECT \(columns) FROM telemetry_open_chunks WHERE series_id = ?"),
            insertOpen: try db.prepared("INSERT INTO telemetry_open_chunks (series_id, \(columns)) VALUES (?, ?, ?, ?, ?)"),
            updateOpen: try db.prepared("UPDATE telemetry_open_chunks SET t_first = ?, t_last = ?, count = ?, points = ? WHERE series_id = ?"),
            lastSealed: try db.prepared("SELECT \(columns) FROM telemetry_chunks WHERE series_id = ? ORDER BY t_first DESC LIMIT 1"),
            sealedFromLast: try db.prepared("SELECT \(columns) FROM telemetry_chunks WHERE series_id = ? AND t_first <= ? ORDER BY t_first DESC"),
            deleteSealed: try db.prepared("DELETE FROM telemetry_chunks WHERE series_id = ? AND t_first >= ? AND t_first <= ?"),
            insertSealed: try db.prepared("""
                INSERT INTO telemetry_chunks (series_id, \(columns), value_min, value_max, value_sum, value_sum_error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """),
            upsertLatest: try db.prepared("""
                INSERT INTO telemetry_latest (device_pk, agri_id, t, value) VALUES (?, ?, ?, ?)
                ON CONFLICT (device_pk, agri_id) DO UPDATE SET t = excluded.t, value = excluded.value
                WHERE excluded.t >= telemetry_latest.t
                """))
    }

    /// The chunks of `series` that may hold points in `[from, end)`, in time order: sealed ones from the one that may
    /// hold `from` (the last starting at or before it), then the open one.
    func forEachChunk(series: Int64, from: Int64, end: Int64, _ body: (TelemetryChunk) throws -> Bool) throws {
        guard from < end else { return }
        var going = true
        try db.forEach("""
            SELECT t_first, t_last, count, points FROM telemetry_chunks
            WHERE series_id = ? AND t_first < ? AND t_first >= COALESCE(
                (SELECT t_first FROM telemetry_chunks WHERE series_id = ? AND t_first <= ? ORDER BY t_first DESC LIMIT 1), ?)
            ORDER BY t_first
            """, [series, end, series, from, from]) { row in
            let chunk = TelemetryChunk(row: row)
            guard chunk.tLast >= from else { return true }
            going = try body(chunk)
            return going
        }
        guard going, let open = try db.queryOne("SELECT t_first, t_last, count, points FROM telemetry_open_chunks WHERE series_id = ?",
                                                [series]).map(TelemetryChunk.init(row:)),
              open.tLast >= from, open.tFirst < end else { return }
        _ = try body(open)
    }

    /// For aggregation: the chunks of `series` that may hold points in `[from, end)`, in time order, each sealed one with
    /// its summary (nil when it has none: NaN, overflow, or written before summaries); the open chunk has none.
    func forEachChunkWithSummary(series: Int64, from: Int64, end: Int64, _ body: (TelemetryChunk, TelemetrySummary?) throws -> Void) throws {
        guard from < end else { return }
        try db.forEach("""
            SELECT t_first, t_last, count, points, value_min, value_max, value_sum, value_sum_error FROM telemetry_chunks
            WHERE series_id = ? AND t_first < ? AND t_first >= COALESCE(
                (SELECT t_first FROM telemetry_chunks WHERE series_id = ? AND t_first <= ? ORDER BY t_first DESC LIMIT 1), ?)
            ORDER BY t_first
            """, [series, end, series, from, from]) { row in
            let chunk = TelemetryChunk(row: row)
            guard chunk.tLast >= from else { return true }
            var summary: TelemetrySummary?
            if let min = row.optionalDouble(4), let max = row.optionalDouble(5), let sum = row.optionalDouble(6) {
                summary = TelemetrySummary(min: min, max: max, sum: sum, sumError: row.optionalDouble(7))
            }
            try body(chunk, summary)
            return true
        }
        guard let open = try db.queryOne("SELECT t_first, t_last, count, points FROM telemetry_open_chunks WHERE series_id = ?",
                                         [series]).map(TelemetryChunk.init(row:)),
              open.tLast >= from, open.tFirst < end else { return }
        try body(open, nil)
    }

    /// Calls `body` with the points of `series` in `[from, end)`, in time order, until it returns false.
    func forEachPoint(series: Int64, from: Int64, end: Int64, _ body: (_ t: Int64, _ value: Double) throws -> Bool) throws {
        try forEachChunk(series: series, from: from, end: end) { chunk in
            try chunk.forEach { t, value in
                guard t >= from else { return true }
                guard t < end else { return false }
                return try body(t, value)
            }
        }
    }

    /// Latest value of every agri_id of a device, by agri_id.
    func latest(devicePK: Int64) throws -> [(agriID: String, value: Double, t: Int64)] {
        try db.query("SELECT agri_id, value, t FROM telemetry_latest WHERE device_pk = ? ORDER BY agri_id", [devicePK])
            .map { ($0.string(0), $0.double(1), $0.int(2)) }
    }

    /// Points of a device's series recorded in its current project, in `[start, end)`, ordered by (t, series), after a cursor.
    func history(devicePK: Int64, projectPK: Int64, organizationID: Int64, agriID: String?, start: Int64, end: Int64,
                 after: (t: Int64, series: Int64)?, limit: Int) throws -> [(series: Int64, agriID: String, t: Int64, value: Double)] {
        guard limit > 0 else { return [] }
        var series = try self.series(devicePK: devicePK, projectPK: projectPK, organizationID: organizationID)
        if let agriID { series = series.filter { $0.agriID == agriID } }
        // Each series gives at most `limit` points after the cursor; the page is the first `limit` of their union.
        var rows: [(series: Int64, agriID: String, t: Int64, value: Double)] = []
        for entry in series {
            var from = start
            if let after {
                // After (t, series): the same t only in later series.
                if entry.id > after.series {
                    from = max(start, after.t)
                } else {
                    guard after.t < .max else { continue }
                    from = max(start, after.t + 1)
                }
            }
            var taken = 0
            try forEachPoint(series: entry.id, from: from, end: end) { t, value in
                rows.append((entry.id, entry.agriID, t, value))
                taken += 1
                return taken < limit
            }
        }
        rows.sort { ($0.t, $0.series) < ($1.t, $1.series) }
        return Array(rows.prefix(limit))
    }

    func deleteLatest(devicePK: Int64) throws {
        try db.execute("DELETE FROM telemetry_latest WHERE device_pk = ?", [devicePK])
    }

    func moveProject(projectPK: Int64, toOrganizationID: Int64) throws {
        try db.execute("UPDATE telemetry_series SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
    }

    /// Removes every point and series of a project.
    func purge(projectPK: Int64) throws {
        try db.execute("DELETE FROM telemetry_chunks WHERE series_id IN (SELECT id FROM telemetry_series WHERE project_pk = ?)", [projectPK])
        try db.execute("DELETE FROM telemetry_open_chunks WHERE series_id IN (SELECT id FROM telemetry_series WHERE project_pk = ?)", [projectPK])
        try db.execute("DELETE FROM telemetry_series WHERE project_pk = ?", [projectPK])
    }

    /// How many series there are.
    func seriesCount() throws -> Int {
        Int(try db.queryOne("SELECT COUNT(*) FROM telemetry_series")?.int(0) ?? 0)
    }

    /// Series ids after `after`, in order, a batch at a time (retention walks them in short transactions).
    func seriesIDs(after: Int64, limit: Int) throws -> [Int64] {
        try db.query("SELECT id FROM telemetry_series WHERE id > ? ORDER BY id LIMIT ?", [after, limit]).map { $0.int(0) }
    }

    /// Removes the points of one series older than `before`; returns how many. Whole chunks go at once; a chunk that
    /// straddles `before` is rewritten with the points it keeps.
    func purgePoints(series: Int64, olderThan before: Int64) throws -> Int {
        let whole = try db.queryOne("""
            SELECT COALESCE(SUM(count), 0) FROM telemetry_chunks WHERE series_id = ? AND t_first < ? AND t_last < ?
            """, [series, before, before])?.int(0) ?? 0
        try db.execute("DELETE FROM telemetry_chunks WHERE series_id = ? AND t_first < ? AND t_last < ?", [series, before, before])
        var removed = Int(whole)
        let writer = try pointWriter()
        if let straddling = try db.queryOne("""
            SELECT t_first, t_last, count, points FROM telemetry_chunks WHERE series_id = ? AND t_first < ? ORDER BY t_first DESC LIMIT 1
            """, [series, before]).map(TelemetryChunk.init(row:)) {
            let kept = try straddling.decoded().filter { $0.t >= before }
            try db.execute("DELETE FROM telemetry_chunks WHERE series_id = ? AND t_first = ?", [series, straddling.tFirst])
            for chunk in TelemetryChunk.pack(kept) { try writer.seal(series: series, chunk) }
            removed += straddling.count - kept.count
        }
        if let open = try writer.open(series), open.tFirst < before {
            let kept = try open.decoded().filter { $0.t >= before }
            // What is kept (part of one chunk) is still after every sealed chunk, so it stays open.
            if let chunk = TelemetryChunk.pack(kept).first {
                try writer.saveOpen(series: series, chunk, inserting: false)
            } else {
                try db.execute("DELETE FROM telemetry_open_chunks WHERE series_id = ?", [series])
            }
            removed += open.count - kept.count
        }
        return removed
    }
}

extension TelemetryStore {
    /// The series of a device in one project and organization, by agri_id (what an export walks).
    func series(devicePK: Int64, projectPK: Int64, organizationID: Int64) throws -> [(id: Int64, agriID: String)] {
        try db.query("""
            SELECT id, agri_id FROM telemetry_series WHERE device_pk = ? AND project_pk = ? AND organization_id = ? ORDER BY agri_id, id
            """, [devicePK, projectPK, organizationID]).map { ($0.int(0), $0.string(1)) }
    }

    /// How many points of `series` lie in `[start, end)` (chunks wholly inside are counted without decoding).
    func pointCount(series: Int64, start: Int64, end: Int64) throws -> Int64 {
        var total: Int64 = 0
        try forEachChunk(series: series, from: start, end: end) { chunk in
            if chunk.tFirst >= start, chunk.tLast < end {
                total += Int64(chunk.count)
            } else {
                try chunk.forEach { t, _ in
                    if t >= start, t < end { total += 1 }
                    return t < end
                }
            }
            return true
        }
        return total
    }

    /// One keyset page of a series: points with `after < t < end` (and `t >= start`), in time order, into `page`.
    func page(series: Int64, start: Int64, end: Int64, after: Int64?, limit: Int, into page: inout [(t: Int64, value: Double)]) throws {
        page.removeAll(keepingCapacity: true)
        if after == .max { return }
        let from = after.map { max($0 + 1, start) } ?? start
        guard from < end, limit > 0 else { return }
        var collected: [(t: Int64, value: Double)] = []
        swap(&collected, &page)
        try forEachPoint(series: series, from: from, end: end) { t, value in
            collected.append((t, value))
            return collected.count < limit
        }
        swap(&collected, &page)
    }
}

extension TelemetryStore {
    /// What re-encoding one series did (or, in a dry run, would do).
    struct Recompression {
        var chunks = 0
        var points = 0
        var bytesBefore = 0
        var bytesAfter = 0

        static func + (lhs: Recompression, rhs: Recompression) -> Recompression {
            Recompression(chunks: lhs.chunks + rhs.chunks, points: lhs.points + rhs.points,
                          bytesBefore: lhs.bytesBefore + rhs.bytesBefore, bytesAfter: lhs.bytesAfter + rhs.bytesAfter)
        }
    }

    /// Re-encodes the chunks of `series` not in codec `version` (2, or 1 to go back to a release before v2): each run of
    /// consecutive such chunks is decoded and packed again (v2 packs more points a chunk, so runs merge into fewer
    /// chunks). When the run ends with the open chunk, its last chunk stays open. Sealed chunks get their summaries.
    func recompress(series: Int64, to version: Int, dryRun: Bool) throws -> Recompression {
        let writer = try pointWriter()
        var chunks = try db.query("SELECT t_first, t_last, count, points FROM telemetry_chunks WHERE series_id = ? ORDER BY t_first", [series])
            .map(TelemetryChunk.init(row:))
        let open = try writer.open(series)
        if let open { chunks.append(open) }
        var result = Recompression()
        var index = 0
        while index < chunks.count {
            guard chunks[index].version != version else {
                index += 1
                continue
            }
            var end = index
            while end < chunks.count, chunks[end].version != version { end += 1 }
            let run = chunks[index ..< end]
            let includesOpen = open != nil && end == chunks.count
            let points = try run.flatMap { try $0.decoded() }
            let packed = version == 1 ? Self.packV1(points) : TelemetryChunk.pack(points)
            result = result + Recompression(chunks: run.count, points: points.count, bytesBefore: run.reduce(0) { $0 + $1.bytes.count },
                                            bytesAfter: packed.reduce(0) { $0 + $1.bytes.count })
            if !dryRun {
                let sealedRun = includesOpen ? run.dropLast() : run[...]
                if let low = sealedRun.first?.tFirst, let high = sealedRun.last?.tFirst {
                    try db.execute("DELETE FROM telemetry_chunks WHERE series_id = ? AND t_first >= ? AND t_first <= ?", [series, low, high])
                }
                for (position, chunk) in packed.enumerated() {
                    if includesOpen, position == packed.count - 1 {
                        try writer.saveOpen(series: series, chunk, inserting: false)
                    } else {
                        try writer.seal(series: series, chunk)
                    }
                }
            }
            index = end
        }
        return result
    }

    /// Points in v1 chunks of at most `TelemetryChunk.maxBytes` (a v1 point takes at most 18 bytes).
    static func packV1(_ points: [(t: Int64, value: Double)]) -> [TelemetryChunk] {
        var chunks: [TelemetryChunk] = []
        var start = 0
        var size = 0
        for (index, point) in points.enumerated() {
            let distance = index == start ? 0 : UInt64(bitPattern: point.t &- points[index - 1].t)
            let pointSize = 8 + max(1, (64 - distance.leadingZeroBitCount + 6) / 7)
            if size + pointSize > TelemetryChunk.maxBytes {
                chunks.append(TelemetryChunk.v1(points[start ..< index]))
                start = index
                size = 9
            } else {
                size += pointSize
            }
        }
        if start < points.count { chunks.append(TelemetryChunk.v1(points[start...])) }
        return chunks
    }

    /// Problems with stored chunks for `admin-cli check`: a chunk that does not decode (or disagrees with its row), and
    /// a sealed chunk whose summary columns differ from its contents. At most `limit` are named.
    func chunkViolations(limit: Int) throws -> [String] {
        var violations: [String] = []
        var more = 0
        func note(_ text: String) {
            if violations.count < limit { violations.append(text) } else { more += 1 }
        }
        try db.forEach("""
            SELECT series_id, t_first, t_last, count, points, value_min, value_max, value_sum, value_sum_error
            FROM telemetry_chunks ORDER BY series_id, t_first
            """) { row in
            let chunk = TelemetryChunk(tFirst: row.int(1), tLast: row.int(2), count: Int(row.int(3)), bytes: row.blob(4))
            do {
                let points = try chunk.decoded()
                let stored = TelemetrySummary(min: row.optionalDouble(5), max: row.optionalDouble(6), sum: row.optionalDouble(7),
                                              sumError: row.optionalDouble(8))
                let actual = TelemetrySummary(points.lazy.map(\.value))
                if !stored.matches(actual) {
                    note("telemetry series \(row.int(0)): the summary of the chunk at t \(chunk.tFirst) is \(stored), its points give \(actual)")
                }
            } catch {
                note("telemetry series \(row.int(0)): the chunk at t \(chunk.tFirst) does not decode: \(error)")
            }
            return true
        }
        try db.forEach("SELECT series_id, t_first, t_last, count, points FROM telemetry_open_chunks ORDER BY series_id") { row in
            let chunk = TelemetryChunk(tFirst: row.int(1), tLast: row.int(2), count: Int(row.int(3)), bytes: row.blob(4))
            do { _ = try chunk.decoded() } catch { note("telemetry series \(row.int(0)): the open chunk does not decode: \(error)") }
            return true
        }
        if more > 0 { violations.append("… and \(more) more telemetry chunk problems") }
        return violations
    }
}
