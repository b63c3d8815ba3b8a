@testable import Alerts
import Core
import Devices
import DomainTestSupport
import Factors
import Foundation
import Persistence
import TestSupport

/// The platform fixture with one bound device in project `alpha` and a temperature factor with thresholds 2..35.
final class AlertsFixture: PlatformFixture, @unchecked Sendable {
    private(set) var devicePK: Int64 = 0
    private(set) var agriID = ""
    var factorAgriID: String { agriID + "-01" }

    init(min: Double? = 2, max: Double? = 35, alarm: Bool = true, config: [String: String] = [:]) throws {
        try super.init(config: config)
        let (device, pk) = try bound(to: "alpha")
        devicePK = pk
        agriID = device.agriID
        var fields: [(String, JSON)] = [("name", .string("温度")), ("unit", .string("°C")), ("decimals", .int(1)), ("alarm_enabled", .bool(alarm))]
        if let min { fields.append(("threshold_min", .number(min))) }
        if let max { fields.append(("threshold_max", .number(max))) }
        _ = try factors.create(projectID: "alpha", devicePK: pk, caller: caller("alice"), body: PlatformFixture.body(factorAgriID, fields))
    }

    /// Posts `values` (one request, in order) for the factor, with increasing `t`.
    @discardableResult
    func post(_ values: [Double], agriID: String? = nil) throws -> IngestResult {
        let start = clock.unixSeconds()
        let points = values.enumerated().map { (agriID ?? factorAgriID, $0.element, Int64?(start + Int64($0.offset))) }
        return try devices.ingest(projectID: "alpha", pk: devicePK, caller: caller("alice"), body: PlatformFixture.points(points))
    }

    func items(status: AlertItem.Status? = nil) throws -> [AlertItem] {
        try db.read { tx in
            try tx.query("SELECT \(AlertStore.itemColumns) FROM alert_items ORDER BY id").map(AlertStore.item).filter { status == nil || $0.status == status }
        }
    }

    func notifications() throws -> [AlertNotification] {
        try db.read { try $0.query("SELECT \(NotificationStore.columns) FROM alert_notifications ORDER BY id").map(NotificationStore.notification) }
    }
}
