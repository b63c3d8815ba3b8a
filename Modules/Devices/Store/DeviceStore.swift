import Core
import Persistence

/// SQL over Devices' `devices` table.
struct DeviceStore {
    let db: Database

    static let columns = """
        id, device_id, agri_id, model, capabilities, device_name, info, allow, create_time, bind_time, connect_time,
        organization_id, project_pk, mqtt_connected_since
        """

    static func device(_ row: Row) -> Device {
        Device(id: row.int(0), deviceID: row.string(1), agriID: row.string(2), model: row.string(3),
               capabilities: row.string(4).split(separator: ";").map(String.init), deviceName: row.string(5), info: row.string(6),
               allow: row.bool(7), createTime: row.string(8), bindTime: row.optionalString(9), connectTime: row.optionalInt(10),
               organizationID: row.optionalInt(11), projectPK: row.optionalInt(12), mqttConnectedSince: row.optionalString(13))
    }

    /// Records (a time) or clears (nil) the device's MQTT connection.
    func setMQTTConnected(pk: Int64, since: String?) throws {
        try db.execute("UPDATE devices SET mqtt_connected_since = ? WHERE id = ?", [since, pk])
    }

    // MARK: Provisioning

    func insert(_ new: ProvisionedDevice, safeCodeHash: String, deviceKeyHash: String, createTime: String) throws -> Int64 {
        try db.execute("""
            INSERT INTO devices (device_id, safe_code_hash, device_key_hash, agri_id, model, capabilities, device_name, info, allow,
                                 create_time)
            VALUES (?, ?, ?, ?, ?, ?, '', '', 1, ?)
            """, [new.deviceID, safeCodeHash, deviceKeyHash, new.agriID, new.model, new.capabilities.joined(separator: ";"), createTime])
        return db.lastInsertRowID
    }

    func existingDeviceIDs(_ ids: [String]) throws -> [String] {
        var found: [String] = []
        for id in ids where try db.queryOne("SELECT 1 FROM devices WHERE device_id = ?", [id]) != nil { found.append(id) }
        return found
    }

    /// agri_ids already used, or that would nest with a new one (one prefix of the other).
    func clashingAgriIDs(_ agriIDs: [String]) throws -> [String] {
        var found: [String] = []
        for agriID in agriIDs {
            let clash = try db.queryOne("""
                SELECT agri_id FROM devices
                WHERE agri_id = ? OR substr(?, 1, length(agri_id)) = agri_id OR substr(agri_id, 1, length(?)) = ?
                LIMIT 1
                """, [agriID, agriID, agriID, agriID])
            if clash != nil { found.append(agriID) }
        }
        return found
    }

    // MARK: Lookups

    func device(pk: Int64) throws -> Device? {
        try db.queryOne("SELECT \(Self.columns) FROM devices WHERE id = ?", [pk]).map(Self.device)
    }

    /// The devices of `pks` that exist, for a telemetry group commit. On PostgreSQL in one round trip, each row locked
    /// until commit (`FOR NO KEY UPDATE`, in pk order): a concurrent unbind or move, from any process, waits for the
    /// commit or comes before it, so points never land in a series it purged. SQLite's single writer needs no lock.
    func devicesForIngest(pks: [Int64]) throws -> [Int64: Device] {
        let sorted = Array(Set(pks)).sorted()
        let sql = "SELECT \(Self.columns) FROM devices WHERE id = ?" + (db.dialect == .postgres ? " FOR NO KEY UPDATE" : "")
        var devices: [Int64: Device] = [:]
        for (index, rows) in try db.queryMany(sql, sorted.map { [$0] }).enumerated() {
            if let row = rows.first { devices[sorted[index]] = Self.device(row) }
        }
        return devices
    }

    /// The device and its safe-code hash, for bind.
    func deviceForBind(deviceID: String) throws -> (Device, safeCodeHash: String)? {
        guard let row = try db.queryOne("SELECT \(Self.columns), safe_code_hash FROM devices WHERE device_id = ?", [deviceID]) else {
            return nil
        }
        return (Self.device(row), row.string(14))
    }

    func device(keyHash: String) throws -> Device? {
        try db.queryOne("SELECT \(Self.columns) FROM devices WHERE device_key_hash = ?", [keyHash]).map(Self.device)
    }

    func device(deviceID: String) throws -> Device? {
        try db.queryOne("SELECT \(Self.columns) FROM devices WHERE device_id = ?", [deviceID]).map(Self.device)
    }

    /// Devices of an organization, optionally of some projects, filtered by a case-insensitive search.
    func devices(organizationID: Int64, projectPKs: [Int64]?, search: String?, limit: Int, offset: Int) throws -> [Device] {
        var sql = "SELECT \(Self.columns) FROM devices WHERE organization_id = ?"
        var arguments: [any SQLBindable] = [organizationID]
        appendFilters(&sql, &arguments, projectPKs: projectPKs, search: search)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        arguments += [limit, offset]
        return try db.query(sql, arguments).map(Self.device)
    }

    func count(organizationID: Int64, projectPKs: [Int64]?, search: String?) throws -> Int64 {
        var sql = "SELECT COUNT(*) FROM devices WHERE organization_id = ?"
        var arguments: [any SQLBindable] = [organizationID]
        appendFilters(&sql, &arguments, projectPKs: projectPKs, search: search)
        return try db.queryOne(sql, arguments)?.int(0) ?? 0
    }

    private func appendFilters(_ sql: inout String, _ arguments: inout [any SQLBindable], projectPKs: [Int64]?, search: String?) {
        if let projectPKs {
            if projectPKs.isEmpty {
                sql += " AND 0 = 1"
            } else {
                sql += " AND project_pk IN (\(Array(repeating: "?", count: projectPKs.count).joined(separator: ", ")))"
                arguments += projectPKs.map { $0 as any SQLBindable }
            }
        }
        if let search, !search.isEmpty {
            let pattern = "%" + Self.escapeLike(search.lowercased()) + "%"
            sql += " AND (lower(device_id) LIKE ? ESCAPE '\\' OR lower(device_name) LIKE ? ESCAPE '\\' OR lower(info) LIKE ? ESCAPE '\\')"
            arguments += [pattern, pattern, pattern]
        }
    }

    /// Escapes LIKE's wildcards scalar by scalar (a `%` followed by a combining mark is one Character, and a
    /// Character-wise replacement would leave it a wildcard).
    static func escapeLike(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\\" || scalar == "%" || scalar == "_" { scalars.append("\\") }
            scalars.append(scalar)
        }
        return String(scalars)
    }

    func devices(projectPK: Int64) throws -> [Device] {
        try db.query("SELECT \(Self.columns) FROM devices WHERE project_pk = ? ORDER BY id", [projectPK]).map(Self.device)
    }

    // MARK: Changes

    func bind(pk: Int64, projectPK: Int64, organizationID: Int64, at time: String) throws {
        try db.execute("UPDATE devices SET project_pk = ?, organization_id = ?, bind_time = ? WHERE id = ?", [projectPK, organizationID, time, pk])
    }

    /// Back to the unassigned pool, as provisioned: the owner's name, notes and allow flag are not the next owner's.
    func unbind(pk: Int64) throws {
        try db.execute("""
            UPDATE devices SET project_pk = NULL, organization_id = NULL, bind_time = NULL, device_name = '', info = '', allow = 1
            WHERE id = ?
            """, [pk])
    }

    func move(pk: Int64, toProjectPK: Int64) throws {
        try db.execute("UPDATE devices SET project_pk = ? WHERE id = ?", [toProjectPK, pk])
    }

    func moveProject(projectPK: Int64, toOrganizationID: Int64) throws {
        try db.execute("UPDATE devices SET organization_id = ? WHERE project_pk = ?", [toOrganizationID, projectPK])
    }

    func update(_ device: Device) throws {
        try db.execute("UPDATE devices SET device_name = ?, info = ?, allow = ? WHERE id = ?",
                       [device.deviceName, device.info, device.allow, device.id])
    }

    func touch(pk: Int64, connectTime: Int64) throws {
        try db.executePipelined("UPDATE devices SET connect_time = ? WHERE id = ? AND (connect_time IS NULL OR connect_time < ?)",
                       [connectTime, pk, connectTime])
    }

    /// Total and offline device counts per project.
    func counts(projectPKs: [Int64], onlineSince: Int64) throws -> [Int64: (Int, Int)] {
        guard !projectPKs.isEmpty else { return [:] }
        let placeholders = Array(repeating: "?", count: projectPKs.count).joined(separator: ", ")
        let rows = try db.query("""
            SELECT project_pk, COUNT(*), SUM(CASE WHEN connect_time IS NULL OR connect_time < ? THEN 1 ELSE 0 END)
            FROM devices WHERE project_pk IN (\(placeholders)) GROUP BY project_pk
            """, [onlineSince] + projectPKs.map { $0 as any SQLBindable })
        var result: [Int64: (Int, Int)] = [:]
        for row in rows { result[row.int(0)] = (Int(row.int(1)), Int(row.int(2))) }
        return result
    }

    /// The devices of each project with their `connect_time` (the source of the cached project counts).
    func members(projectPKs: [Int64]) throws -> [Int64: [(pk: Int64, connectTime: Int64?)]] {
        guard !projectPKs.isEmpty else { return [:] }
        let placeholders = Array(repeating: "?", count: projectPKs.count).joined(separator: ", ")
        let rows = try db.query("SELECT project_pk, id, connect_time FROM devices WHERE project_pk IN (\(placeholders)) ORDER BY id",
                                projectPKs.map { $0 as any SQLBindable })
        var result: [Int64: [(pk: Int64, connectTime: Int64?)]] = [:]
        for row in rows { result[row.int(0), default: []].append((row.int(1), row.optionalInt(2))) }
        return result
    }
}
