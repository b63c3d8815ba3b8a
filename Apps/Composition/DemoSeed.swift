import Alerts
import Auth
import Core
import Devices
import Exports
import Factors
import Foundation
import Projects

extension Composition {
    /// `api-server --demo`: an organization `demo` (owner `demo`, password `demo-password`) with three
    /// projects, six provisioned and bound devices with factors, and a day of telemetry at 10-minute steps.
    /// Everything goes through the modules' public services, as an operator's calls would. Does nothing when
    /// org `demo` exists. Returns the lines to print; the device keys are written to `keysPath` (for the simulator).
    public func seedDemo(clock: any WallClock, keysPath: String) throws -> [String] {
        if try auth.service.organization(slug: "demo") != nil { return ["demo: organization demo already exists; nothing seeded"] }
        let (_, _, token) = try auth.service.initialize(organizationSlug: "demo", organizationName: "Demo farm", username: "demo",
                                                         password: "demo-password")
        let caller = try auth.service.authenticate(token: token.secret)
        let projectsSeeded: [(String, String, [String], Bool)] = [
            ("greenhouse-alpha", "Greenhouse Alpha", ["greenhouse", "tomatoes"], true),
            ("cold-chain-east", "Cold Chain East", ["cold-chain"], false),
            ("water-plant", "Water Plant", ["water"], false),
        ]
        for (id, name, tags, favorite) in projectsSeeded {
            _ = try projects.service.create(ProjectDraft(projectID: id, name: name, favorite: favorite, tags: tags), by: caller)
        }
        typealias Channel = (suffix: String, name: String, unit: String, register: Int64, base: Double, swing: Double, max: Double?)
        let climate: [Channel] = [("-01", "temp", "°C", 1, 22, 5, 32), ("-02", "humidity", "%RH", 2, 65, 15, nil)]
        let cold: [Channel] = [("-01", "temp", "°C", 1, -18, 1.5, -12)]
        let water: [Channel] = [("-01", "ph", "pH", 3, 7.2, 0.3, 8.5), ("-02", "flow", "m³/h", 4, 40, 12, nil)]
        let fleet: [(project: String, name: String, channels: [Channel])] = [
            ("greenhouse-alpha", "North bay", climate), ("greenhouse-alpha", "South bay", climate), ("greenhouse-alpha", "Seedlings", climate),
            ("cold-chain-east", "Freezer room 1", cold), ("cold-chain-east", "Freezer room 2", cold), ("water-plant", "Outflow", water),
        ]
        let provisioned = fleet.enumerated().map { index, device in
            ProvisionedDevice(deviceID: "DEMO\(String(format: "%011d", index + 1))", safeCode: String(Secrets.token(prefix: "").prefix(4)).uppercased()
                                  .replacingOccurrences(of: "-", with: "X").replacingOccurrences(of: "_", with: "Y"),
                              agriID: "d-demo-\(index + 1)", model: "DTU-4G", capabilities: ["SUPPORTS_REBOOT"])
        }
        let keys = try devices.service.provision(provisioned)
        try keys.map { "\($0.deviceID)\t\($0.deviceKey)" }.joined(separator: "\n").appending("\n")
            .write(toFile: keysPath, atomically: true, encoding: .utf8)
        let now = clock.unixSeconds()
        var factorCount = 0
        var pointCount = 0
        for ((project, name, channels), device) in zip(fleet, provisioned) {
            let view = try devices.service.bind(projectID: project, deviceID: device.deviceID, safeCode: device.safeCode, caller: caller)
            let pk = view.device.id
            _ = try devices.service.update(projectID: project, pk: pk, caller: caller, deviceName: name, info: "demo device", allow: nil)
            for channel in channels {
                var body: JSONObject = ["agri_id": .string(device.agriID + channel.suffix), "name": .string(channel.name),
                                        "unit": .string(channel.unit), "register": .int64(channel.register), "scale": .number(0.1),
                                        "decimals": .int(1), "sort": .int64(channel.register)]
                if let max = channel.max {
                    body["threshold_max"] = .number(max)
                    body["alarm_enabled"] = .bool(true)
                }
                _ = try factors.service.create(projectID: project, devicePK: pk, caller: caller, body: .object(body))
                factorCount += 1
            }
            var points: [JSON] = []
            for step in 0..<144 {
                let t = now - Int64(143 - step) * 600
                for (index, channel) in channels.enumerated() {
                    let wave = sin(Double(step) / 144 * 2 * .pi - .pi / 2 + Double(index))
                    let value = ((channel.base + channel.swing * wave) * 10).rounded() / 10
                    points.append(.object(["agri_id": .string(device.agriID + channel.suffix), "value": .number(value), "t": .int64(t)]))
                }
            }
            pointCount += try devices.service.ingest(projectID: project, pk: pk, caller: caller, body: .array(points)).accepted
        }
        // One finished export of the first greenhouse device's last day (written now, in this process) and a daily schedule.
        let greenhouse = try devices.service.devices(inProject: projects.service.resolve("greenhouse-alpha", for: caller, access: .read).pk)
        let (_, task) = try exports.service.create(projectID: "greenhouse-alpha", caller: caller,
                                                   ExportRequest(devicePK: greenhouse.first?.id, startTime: now - 86_400, endTime: now + 1))
        let exported = try exports.runner.run(taskID: task.id)
        var daily = ScheduleInput()
        daily.name = "Greenhouse daily"
        daily.period = .daily
        daily.hour = 1
        _ = try exports.service.createSchedule(projectID: "greenhouse-alpha", caller: caller, daily)
        let alertCount = try seedDemoAlerts(caller: caller, freezer: provisioned[3], clock: clock)
        return [
            "demo: organization demo, login demo / demo-password, token \(token.secret)",
            "demo: \(alertCount) alerts, receivers per channel in cold-chain-east (messages go to data/notifications.log)",
            "demo: \(projectsSeeded.count) projects, \(fleet.count) devices, \(factorCount) factors, \(pointCount) telemetry points",
            "demo: export \(task.id) \(exported ? "succeeded" : "failed"), and a daily export schedule in greenhouse-alpha",
            "demo: device keys in \(keysPath) (device-simulator --devices \(keysPath))",
            "demo: web console at / of the listening address below; sign in as demo / demo-password",
        ]
    }
}

extension Composition {
    /// Alerts of the demo: cold-chain-east gets one receiver per channel (the webhook disabled: it has nowhere to go),
    /// offline alerts on, a freezer reading above its -12 °C threshold (a threshold alert) and a trigger-test alert.
    func seedDemoAlerts(caller: Caller, freezer: ProvisionedDevice, clock: any WallClock) throws -> Int {
        let service = alerts.service
        var change = AlertService.ConfigChange()
        change.offlineAlertsEnabled = true
        change.offlineAfterMinutes = 60
        change.cooldownMinutes = 30
        _ = try service.updateConfig(projectID: "cold-chain-east", caller: caller, change)
        for (channel, target, name, enabled) in [(AlertChannel.sms, "+8613800000000", "On-call phone", true),
                                                 (.email, "cold-chain@demo.example", "Cold chain team", true),
                                                 (.webhook, "https://hooks.demo.example/alerts", "Ticketing (disabled)", false)] {
            var input = AlertService.ReceiverInput()
            input.target = target
            input.name = name
            input.enabled = enabled
            if channel == .webhook { input.secret = "demo-webhook-secret" }
            _ = try service.createReceiver(projectID: "cold-chain-east", channel: channel, caller: caller, input)
        }
        let pk = try devices.service.list(projectID: "cold-chain-east", caller: caller, search: nil, page: PageRequest()).items
            .first { $0.device.deviceID == freezer.deviceID }?.device.id ?? 0
        let reading: JSON = .array([.object(["agri_id": .string(freezer.agriID + "-01"), "value": .number(-9.5), "t": .int64(clock.unixSeconds())])])
        _ = try devices.service.ingest(projectID: "cold-chain-east", pk: pk, caller: caller, body: reading)
        _ = try service.triggerTest(projectID: "greenhouse-alpha", caller: caller)
        return try service.currentItems(projectID: "cold-chain-east", caller: caller).count
            + service.currentItems(projectID: "greenhouse-alpha", caller: caller).count
    }
}
