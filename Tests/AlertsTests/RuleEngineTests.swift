@testable import Alerts
import Core
import Foundation
import DomainTestSupport
import Persistence
import Synchronization
import Testing
import TestSupport

/// The rule engine inside the telemetry group commit: bands, directions, equality, cooldown, disabled factors,
/// threshold changes while an alert is active, and one active alert per (factor, direction) under concurrency.
@Suite struct RuleEngineTests {
    @Test func aValueAboveTheMaximumOpensOneAlertWithItsDescription() throws {
        let fixture = try AlertsFixture()
        try fixture.post([36.2])
        let items = try fixture.items()
        #expect(items.count == 1)
        let item = try #require(items.first)
        #expect(item.theType == "threshold" && item.status == .active && item.ruleKey == "threshold:\(fixture.factorAgriID):above")
        #expect(item.description == "温度 36.2 °C 高于上限 35.0 °C")
        #expect(item.triggerData["direction"] == .string("above") && item.triggerData["value"]?.doubleValue == 36.2)
        #expect(item.triggerData["threshold"]?.doubleValue == 35 && item.triggerData["agri_id"] == .string(fixture.factorAgriID))
        // More values above: still one active alert.
        try fixture.post([37, 38, 39])
        #expect(try fixture.items().count == 1)
    }

    @Test func equalToAThresholdIsInsideAndBelowTheMinimumIsTheOtherDirection() throws {
        let fixture = try AlertsFixture()
        try fixture.post([35, 2, 20])
        #expect(try fixture.items().isEmpty)
        try fixture.post([1.5])
        let item = try #require(try fixture.items().first)
        #expect(item.ruleKey.hasSuffix(":below") && item.description == "温度 1.5 °C 低于下限 2.0 °C")
    }

    @Test func backInsideResolvesAndCooldownHoldsTheNextOne() throws {
        let fixture = try AlertsFixture()
        try fixture.post([40])
        try fixture.post([20])
        #expect(try fixture.items(status: .resolved).count == 1)
        #expect(try fixture.items(status: .active).isEmpty)
        // Default cooldown 10 min: out again within it opens nothing.
        fixture.clock.advance(by: 300)
        try fixture.post([41])
        #expect(try fixture.items().count == 1)
        // After the cooldown a new one opens.
        fixture.clock.advance(by: 301)
        try fixture.post([42])
        #expect(try fixture.items(status: .active).count == 1)
        #expect(try fixture.items().count == 2)
    }

    @Test func crossingFromAboveToBelowResolvesOneAndOpensTheOther() throws {
        let fixture = try AlertsFixture()
        try fixture.post([50, -5])
        let items = try fixture.items()
        #expect(items.map(\.status) == [.resolved, .active])
        #expect(items.map { $0.ruleKey.hasSuffix(":above") } == [true, false])
    }

    @Test func disabledFactorsAndDisabledConfigsOpenNothing() throws {
        let disabled = try AlertsFixture(alarm: false)
        try disabled.post([99])
        #expect(try disabled.items().isEmpty)

        let fixture = try AlertsFixture()
        var change = AlertService.ConfigChange()
        change.enabled = false
        _ = try fixture.alerts.updateConfig(projectID: "alpha", caller: fixture.caller("alice"), change)
        try fixture.post([99])
        #expect(try fixture.items().isEmpty)
    }

    @Test func aThresholdChangeAppliesToTheNextPointAndRemovingTheRuleResolves() throws {
        let fixture = try AlertsFixture()
        let alice = try fixture.caller("alice")
        try fixture.post([40])
        let factor = try #require(try fixture.factors.list(projectID: "alpha", devicePK: fixture.devicePK, caller: alice).first)
        // Raise the maximum above the value: the next point (still 40) is inside and resolves the alert.
        _ = try fixture.factors.update(projectID: "alpha", devicePK: fixture.devicePK, id: factor.id, caller: alice,
                                       body: .object(["threshold_max": .number(45)]))
        #expect(try fixture.items(status: .active).count == 1)
        try fixture.post([40])
        #expect(try fixture.items(status: .active).isEmpty)
        // Open again (cooldown 0), then disable the alarm: the alert loses its rule and resolves at once.
        var change = AlertService.ConfigChange()
        change.cooldownMinutes = 0
        _ = try fixture.alerts.updateConfig(projectID: "alpha", caller: alice, change)
        try fixture.post([46])
        #expect(try fixture.items(status: .active).count == 1)
        _ = try fixture.factors.update(projectID: "alpha", devicePK: fixture.devicePK, id: factor.id, caller: alice,
                                       body: .object(["alarm_enabled": .bool(false)]))
        #expect(try fixture.items(status: .active).isEmpty)
        try fixture.post([99])
        #expect(try fixture.items(status: .active).isEmpty)
    }

    @Test func concurrentOutOfBandPostsOpenExactlyOneAlertPerDirection() throws {
        let fixture = try AlertsFixture()
        let alice = try fixture.caller("alice")
        var change = AlertService.ConfigChange()
        change.cooldownMinutes = 0
        _ = try fixture.alerts.updateConfig(projectID: "alpha", caller: alice, change)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { client in
            for round in 0..<10 {
                let value = client % 2 == 0 ? 50.0 + Double(round) : -10.0 - Double(round)
                let t = Int64(1_000_000 + client * 100 + round)
                do {
                    _ = try fixture.devices.ingest(projectID: "alpha", pk: fixture.devicePK, caller: alice,
                                                   body: PlatformFixture.points([(fixture.factorAgriID, value, t)]))
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        // Values alternate between the two sides, so alerts open and resolve (no cooldown); the last value evaluated
        // leaves exactly one active alert, and no direction ever had two active at once (the unique index).
        let active = try fixture.items(status: .active)
        #expect(active.count == 1)
        #expect(try fixture.items().count >= 2)
        let perDirection = try fixture.db.read { tx in
            try tx.query("SELECT rule_key, COUNT(*) FROM alert_items WHERE status = 'active' GROUP BY rule_key").map { $0.int(1) }
        }
        #expect(perDirection.allSatisfy { $0 == 1 })
    }

    @Test func concurrentPostsOnOneSideOpenExactlyOneAlert() throws {
        let fixture = try AlertsFixture()
        let alice = try fixture.caller("alice")
        DispatchQueue.concurrentPerform(iterations: 16) { client in
            for round in 0..<5 {
                _ = try? fixture.devices.ingest(projectID: "alpha", pk: fixture.devicePK, caller: alice,
                                                body: PlatformFixture.points([(fixture.factorAgriID, 80, Int64(10_000 + client * 10 + round))]))
            }
        }
        #expect(try fixture.items().count == 1)
        #expect(try fixture.items(status: .active).count == 1)
    }

    @Test func anAlertOpensWithOneOutboxRowPerEnabledReceiverOfEachEnabledChannel() throws {
        let fixture = try AlertsFixture()
        let alice = try fixture.caller("alice")
        for (channel, target) in [(AlertChannel.sms, "+8613800000000"), (.email, "ops@example.com"), (.webhook, "http://127.0.0.1:9/x")] {
            var input = AlertService.ReceiverInput()
            input.target = target
            _ = try fixture.alerts.createReceiver(projectID: "alpha", channel: channel, caller: alice, input)
        }
        var disabled = AlertService.ReceiverInput()
        disabled.target = "off@example.com"
        disabled.enabled = false
        _ = try fixture.alerts.createReceiver(projectID: "alpha", channel: .email, caller: alice, disabled)
        var change = AlertService.ConfigChange()
        change.smsEnabled = false
        _ = try fixture.alerts.updateConfig(projectID: "alpha", caller: alice, change)
        try fixture.post([99])
        let outbox = try fixture.notifications()
        #expect(Set(outbox.map(\.channel)) == [.email, .webhook])
        #expect(outbox.allSatisfy { $0.status == .pending && $0.attempts == 0 })
        #expect(outbox.first { $0.channel == .email }?.subject.contains("温度 99.0 °C 高于上限 35.0 °C") == true)
    }

    @Test func contactResolvesAnOfflineAlert() throws {
        let fixture = try AlertsFixture()
        let alice = try fixture.caller("alice")
        var change = AlertService.ConfigChange()
        change.offlineAlertsEnabled = true
        change.offlineAfterMinutes = 5
        _ = try fixture.alerts.updateConfig(projectID: "alpha", caller: alice, change)
        try fixture.post([20])   // contact now
        #expect(try fixture.alerts.detectOffline() == 0)
        fixture.clock.advance(by: 301)
        #expect(try fixture.alerts.detectOffline() == 1)
        #expect(try fixture.alerts.detectOffline() == 0)   // one active offline alert per device
        let offline = try #require(try fixture.items(status: .active).first)
        #expect(offline.theType == "offline" && offline.description.contains("离线超过 5 分钟"))
        try fixture.post([20])
        #expect(try fixture.items(status: .active).isEmpty)
        #expect(try fixture.items().first?.status == .resolved)
    }

    @Test func unbindingResolvesTheDevicesAlertsAndForgetsItsRules() throws {
        let fixture = try AlertsFixture()
        let alice = try fixture.caller("alice")
        try fixture.post([99])
        try fixture.devices.unbind(projectID: "alpha", pk: fixture.devicePK, caller: alice)
        #expect(try fixture.items(status: .active).isEmpty)
        #expect(try fixture.items().first?.status == .resolved)
    }
}

/// The descriptions' numbers are written without Foundation's formatter: the same text as `%.Nf` for any value.
@Suite struct AlertTextNumberTests {
    @Test func matchesPrintfForRandomAndEdgeValues() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, 0.05, 0.15, 0.25, 0.125, -0.04, 2.675, 1e15, -1e16, 1e300, .infinity, -.infinity, .nan,
                                .leastNonzeroMagnitude, 36.2, 35, 29.85, 0.5, 1.5, 2.5, 999_999.999_999_5]
        for _ in 0..<20_000 {
            let magnitude = pow(10, Double.random(in: -4...9, using: &generator))
            values.append(Double.random(in: -magnitude...magnitude, using: &generator))
            values.append((Double(Int.random(in: -100_000...100_000, using: &generator)) / 1000))
        }
        for value in values {
            for decimals in [0, 1, 2, 3, 6, 9] as [Int64] {
                let expected = String(format: "%.\(min(max(decimals, 1), 6))f", value)
                #expect(AlertText.number(value, decimals: decimals) == expected, "\(value) with \(decimals) decimals")
            }
        }
    }
}
