import Core
import Persistence

/// SQL over Factors' tables: `factors` and `sensor_modules`.
struct FactorStore {
    let db: Database

    static let columns = """
        id, device_pk, agri_id, name, unit, slave_id, function_code, register, data_type, byte_order, scale, offset_value, decimals,
        threshold_min, threshold_max, alarm_enabled, sort, created_at, updated_at
        """

    static func factor(_ row: Row) -> Factor {
        Factor(id: row.int(0), devicePK: row.int(1),
               spec: FactorSpec(agriID: row.string(2), name: row.string(3), unit: row.string(4), slaveID: row.int(5),
                                functionCode: row.int(6), register: row.int(7), dataType: row.string(8), byteOrder: row.string(9),
                                scale: row.double(10), offset: row.double(11), decimals: row.int(12), thresholdMin: row.optionalDouble(13),
                                thresholdMax: row.optionalDouble(14), alarmEnabled: row.bool(15), sort: row.int(16)),
               createdAt: row.string(17), updatedAt: row.string(18))
    }

    static func arguments(_ spec: FactorSpec) -> [any SQLBindable] {
        [spec.agriID, spec.name, spec.unit, spec.slaveID, spec.functionCode, spec.register, spec.dataType, spec.byteOrder, spec.scale,
         spec.offset, spec.decimals, spec.thresholdMin, spec.thresholdMax, spec.alarmEnabled, spec.sort]
    }

    func insert(_ spec: FactorSpec, devicePK: Int64, projectPK: Int64, organizationID: Int64, at time: String) throws -> Factor {
        try db.execute("""
            INSERT INTO factors (device_pk, project_pk, organization_id, agri_id, name, unit, slave_id, function_code, register, data_type,
                                 byte_order, scale, offset_value, decimals, threshold_min, threshold_max, alarm_enabled, sort, created_at,
                                 updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [devicePK, projectPK, organizationID] + Self.arguments(spec) + [time, time])
        return Factor(id: db.lastInsertRowID, devicePK: devicePK, spec: spec, createdAt: time, updatedAt: time)
    }

    func update(_ factor: Factor) throws {
        try db.execute("""
            UPDATE factors SET agri_id = ?, name = ?, unit = ?, slave_id = ?, function_code = ?, register = ?, data_type = ?,
                               byte_order = ?, scale = ?, offset_value = ?, decimals = ?, threshold_min = ?, threshold_max = ?,
                               alarm_enabled = ?, sort = ?, updated_at = ?
            WHERE id = ?
            """, Self.arguments(factor.spec) + [factor.updatedAt, factor.id])
    }

    func factor(id: Int64) throws -> Factor? {
        try db.queryOne("SELECT \(Self.columns) FROM factors WHERE id = ?", [id]).map(Self.factor)
    }

    func factors(devicePK: Int64) throws -> [Factor] {
        try db.query("SELECT \(Self.columns) FROM factors WHERE device_pk = ? ORDER BY sort, agri_id", [devicePK]).map(Self.factor)
    }

    func agriIDExists(_ agriID: String, exceptID: Int64 = 0) throws -> Bool {
        try db.queryOne("SELECT 1 FROM factors WHERE agri_id = ? AND id <> ?", [agriID, exceptID]) != nil
    }

    func delete(id: Int64) throws {
        try db.execute("DELETE FROM factors WHERE id = ?", [id])
    }

    func deleteAll(devicePK: Int64) throws -> Int {
        try db.execute("DELETE FROM factors WHERE device_pk = ?", [devicePK])
        return db.changes
    }

    func move(devicePK: Int64, toProjectPK: Int64) throws {
        try db.execute("UPDATE factors SET project_pk = ? WHERE device_pk = ?", [toProjectPK, devicePK])
    }

    func moveProject(projectPK: Int64, toOrganizationID: Int64) throws {
        try db.execute("UPDATE factors SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
    }

    func deleteProject(projectPK: Int64) throws {
        try db.execute("DELETE FROM factors WHERE project_pk = ?", [projectPK])
    }

    /// In chunks of 500 keys (SQLite limits the number of placeholders of one statement).
    func devicesWithThresholds(_ devicePKs: [Int64]) throws -> Set<Int64> {
        var found = Set<Int64>()
        for start in stride(from: 0, to: devicePKs.count, by: 500) {
            let chunk = devicePKs[start..<min(start + 500, devicePKs.count)]
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try db.query("""
                SELECT DISTINCT device_pk FROM factors
                WHERE device_pk IN (\(placeholders)) AND (threshold_min IS NOT NULL OR threshold_max IS NOT NULL)
                """, chunk.map { $0 as any SQLBindable })
            for row in rows { found.insert(row.int(0)) }
        }
        return found
    }

    /// Rules of alarm-enabled factors with at least one threshold: of one device, or of every device (nil).
    func alarmRules(devicePK: Int64?) throws -> [AlarmRule] {
        let sql = """
            SELECT id, device_pk, project_pk, agri_id, name, unit, decimals, threshold_min, threshold_max FROM factors
            WHERE alarm_enabled = 1 AND (threshold_min IS NOT NULL OR threshold_max IS NOT NULL)
            """
        let rows = try devicePK.map { try db.query(sql + " AND device_pk = ?", [$0]) } ?? db.query(sql)
        return rows.map { row in
            AlarmRule(factorID: row.int(0), devicePK: row.int(1), projectPK: row.int(2), agriID: row.string(3), name: row.string(4),
                      unit: row.string(5), decimals: row.int(6), min: row.optionalDouble(7), max: row.optionalDouble(8))
        }
    }

    func names(devicePK: Int64) throws -> [String: String] {
        var names: [String: String] = [:]
        for row in try db.query("SELECT agri_id, name FROM factors WHERE device_pk = ?", [devicePK]) { names[row.string(0)] = row.string(1) }
        return names
    }

    // MARK: Sensor modules

    static func module(_ row: Row) -> SensorModule {
        let templates = ((try? JSONParser.parse(row.string(3)))?.arrayValue ?? []).compactMap { value -> FactorTemplate? in
            var ignored: [String: String] = [:]
            return FactorTemplate.read(value, at: "", problems: &ignored)
        }
        return SensorModule(id: row.int(0), name: row.string(1), model: row.string(2), factors: templates, updatedAt: row.string(4))
    }

    func modules() throws -> [SensorModule] {
        try db.query("SELECT id, name, model, factors, updated_at FROM sensor_modules ORDER BY id").map(Self.module)
    }

    func module(id: Int64) throws -> SensorModule? {
        try db.queryOne("SELECT id, name, model, factors, updated_at FROM sensor_modules WHERE id = ?", [id]).map(Self.module)
    }

    /// Inserts the module, or replaces the templates of the same `model` (keeping its id); returns (id, replaced).
    func upsertModule(name: String, model: String, factors: [FactorTemplate], at time: String) throws -> (Int64, Bool) {
        let encoded = JSONWriter.string(.array(factors.map(\.json)))
        if let existing = try db.queryOne("SELECT id FROM sensor_modules WHERE model = ?", [model]) {
            try db.execute("UPDATE sensor_modules SET name = ?, factors = ?, updated_at = ? WHERE id = ?", [name, encoded, time, existing.int(0)])
            return (existing.int(0), true)
        }
        try db.execute("INSERT INTO sensor_modules (name, model, factors, updated_at) VALUES (?, ?, ?, ?)", [name, model, encoded, time])
        return (db.lastInsertRowID, false)
    }

    /// (id, device, project, agri_id) of every factor (`admin-cli check`).
    func placements() throws -> [(id: Int64, devicePK: Int64, projectPK: Int64, agriID: String)] {
        try db.query("SELECT id, device_pk, project_pk, agri_id FROM factors ORDER BY id").map { ($0.int(0), $0.int(1), $0.int(2), $0.string(3)) }
    }
}
