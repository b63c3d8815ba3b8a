import Core
import Persistence

/// SQL over Devices' `device_commands` table (the per-device command queue).
struct CommandStore {
    let db: Database

    static let columns = "id, device_pk, kind, command, status, output, created_by, created_at, expires_at, delivered_at, finished_at, delivered_via"

    static func command(_ row: Row) -> DeviceCommand {
        DeviceCommand(id: row.int(0), devicePK: row.int(1), kind: row.string(2), command: row.string(3),
                      status: DeviceCommand.Status(rawValue: row.string(4)) ?? .failed, output: row.optionalString(5), createdBy: row.string(6),
                      createdAt: row.string(7), expiresAt: row.int(8), deliveredAt: row.optionalString(9), finishedAt: row.optionalString(10),
                      deliveredVia: row.optionalString(11))
    }

    func insert(devicePK: Int64, projectPK: Int64, kind: String, command: String, createdBy: String, createdAt: String,
                expiresAt: Int64) throws -> DeviceCommand {
        try db.execute("""
            INSERT INTO device_commands (device_pk, project_pk, kind, command, status, created_by, created_at, expires_at)
            VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)
            """, [devicePK, projectPK, kind, command, createdBy, createdAt, expiresAt])
        return DeviceCommand(id: db.lastInsertRowID, devicePK: devicePK, kind: kind, command: command, status: .pending, output: nil,
                             createdBy: createdBy, createdAt: createdAt, expiresAt: expiresAt, deliveredAt: nil, finishedAt: nil)
    }

    /// Marks unfinished commands past their expiry as expired.
    func expire(devicePK: Int64?, now: Int64, at time: String) throws {
        if let devicePK {
            try db.execute("""
                UPDATE device_commands SET status = 'expired', finished_at = ?
                WHERE device_pk = ? AND status IN ('pending', 'delivered') AND expires_at <= ?
                """, [time, devicePK, now])
        } else {
            try db.execute("""
                UPDATE device_commands SET status = 'expired', finished_at = ? WHERE status IN ('pending', 'delivered') AND expires_at <= ?
                """, [time, now])
        }
    }

    func pending(devicePK: Int64) throws -> [DeviceCommand] {
        try db.query("SELECT \(Self.columns) FROM device_commands WHERE device_pk = ? AND status = 'pending' ORDER BY id", [devicePK])
            .map(Self.command)
    }

    /// The devices with a pending command newer than `afterID`, and the newest command id (`afterID` when none).
    func devicesWithPendingCommands(after afterID: Int64) throws -> (devicePKs: [Int64], lastID: Int64) {
        let rows = try db.query("SELECT id, device_pk FROM device_commands WHERE id > ? AND status = 'pending' ORDER BY id", [afterID])
        return (Array(Set(rows.map { $0.int(1) })), rows.last?.int(0) ?? afterID)
    }

    func lastCommandID() throws -> Int64 {
        try db.queryOne("SELECT COALESCE(MAX(id), 0) FROM device_commands", []).map { $0.int(0) } ?? 0
    }

    func markDelivered(ids: [Int64], at time: String, via channel: String) throws {
        for id in ids {
            try db.execute("UPDATE device_commands SET status = 'delivered', delivered_at = ?, delivered_via = ? WHERE id = ? AND status = 'pending'",
                           [time, channel, id])
        }
    }

    func command(id: Int64) throws -> DeviceCommand? {
        try db.queryOne("SELECT \(Self.columns) FROM device_commands WHERE id = ?", [id]).map(Self.command)
    }

    func finish(id: Int64, status: DeviceCommand.Status, output: String?, at time: String) throws {
        try db.execute("UPDATE device_commands SET status = ?, output = ?, finished_at = ? WHERE id = ?", [status.rawValue, output, time, id])
    }

    /// Commands queued for the device while it was in `projectPK`, newest first.
    func history(devicePK: Int64, projectPK: Int64, limit: Int, offset: Int) throws -> (Int64, [DeviceCommand]) {
        let count = try db.queryOne("SELECT COUNT(*) FROM device_commands WHERE device_pk = ? AND project_pk = ?", [devicePK, projectPK])?
            .int(0) ?? 0
        let items = try db.query("""
            SELECT \(Self.columns) FROM device_commands WHERE device_pk = ? AND project_pk = ? ORDER BY id DESC LIMIT ? OFFSET ?
            """, [devicePK, projectPK, limit, offset]).map(Self.command)
        return (count, items)
    }

    func deleteAll(devicePK: Int64) throws {
        try db.execute("DELETE FROM device_commands WHERE device_pk = ?", [devicePK])
    }
}
