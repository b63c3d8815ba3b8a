@testable import Alerts
import Core
import DomainTestSupport
import Foundation
import Persistence
import Synchronization
import Testing
import TestSupport

/// The outbox's delivery: retries until `max_attempts` then `failed`, the hourly cap per receiver, and two
/// schedulers at once never sending one message twice.
@Suite struct NotificationDispatcherTests {
    static func dispatcher(_ fixture: AlertsFixture, _ values: [String: String]) -> NotificationDispatcher {
        var config = ["db.path": fixture.db.path]
        config.merge(values) { _, new in new }
        return NotificationDispatcher(db: fixture.db, clock: fixture.clock, logger: Logger(level: .error), settings: NotificationSettings(config: Config(config)))
    }

    static func receiver(_ fixture: AlertsFixture, _ channel: AlertChannel, _ target: String) throws {
        var input = AlertService.ReceiverInput()
        input.target = target
        _ = try fixture.alerts.createReceiver(projectID: "alpha", channel: channel, caller: fixture.caller("alice"), input)
    }

    /// Opens `count` alerts (cooldown 0: out of band, back inside, out again …).
    static func openAlerts(_ fixture: AlertsFixture, _ count: Int) throws {
        var change = AlertService.ConfigChange()
        change.cooldownMinutes = 0
        _ = try fixture.alerts.updateConfig(projectID: "alpha", caller: fixture.caller("alice"), change)
        for _ in 0..<count {
            try fixture.post([99, 20])
            fixture.clock.advance(by: 2)
        }
    }

    @Test func aReceiverThatAlwaysFailsEndsFailedAfterMaxAttemptsWithTheLastError() throws {
        let fixture = try AlertsFixture()
        try Self.receiver(fixture, .webhook, "http://127.0.0.1:9/unreachable")
        try Self.openAlerts(fixture, 1)
        let dispatcher = Self.dispatcher(fixture, ["notifications.max_attempts": "3", "notifications.retry_base": "60s", "notifications.timeout": "2s",
                                                   "notifications.webhook.allowed_hosts": "127.0.0.1/32"])
        #expect(try dispatcher.deliverDue() == 1)
        var message = try #require(try fixture.notifications().first)
        #expect(message.status == .pending && message.attempts == 1 && message.lastError?.contains("127.0.0.1:9 failed: Connection refused") == true)
        // Not due before the backoff (60 s, then 120 s).
        #expect(try dispatcher.deliverDue() == 0)
        fixture.clock.advance(by: 61)
        #expect(try dispatcher.deliverDue() == 1)
        message = try #require(try fixture.notifications().first)
        #expect(message.status == .pending && message.attempts == 2)
        fixture.clock.advance(by: 60)
        #expect(try dispatcher.deliverDue() == 0)
        fixture.clock.advance(by: 61)
        #expect(try dispatcher.deliverDue() == 1)
        message = try #require(try fixture.notifications().first)
        #expect(message.status == .failed && message.attempts == 3 && message.lastError != nil)
        fixture.clock.advance(by: 3600)
        #expect(try dispatcher.deliverDue() == 0)
    }

    @Test func pastTheHourlyCapMessagesAreSuppressed() throws {
        let fixture = try AlertsFixture()
        try Self.receiver(fixture, .email, "ops@example.com")
        try Self.openAlerts(fixture, 4)
        let log = fixture.test.directory.file("notifications.log")
        let dispatcher = Self.dispatcher(fixture, ["notifications.max_per_receiver_per_hour": "2", "notifications.log_path": log])
        #expect(try dispatcher.deliverDue() == 4)
        let statuses = try fixture.notifications().map(\.status)
        #expect(statuses == [.sent, .sent, .suppressed, .suppressed])
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        // An hour later the receiver is heard again.
        fixture.clock.advance(by: 3601)
        try Self.openAlerts(fixture, 1)
        #expect(try dispatcher.deliverDue() == 1)
        #expect(try fixture.notifications().last?.status == .sent)
    }

    @Test func twoSchedulersAtOnceSendEveryMessageExactlyOnce() throws {
        let fixture = try AlertsFixture()
        try Self.receiver(fixture, .email, "a@example.com")
        try Self.receiver(fixture, .sms, "+8613800000001")
        try Self.openAlerts(fixture, 15)
        let log = fixture.test.directory.file("notifications.log")
        let settings = ["notifications.max_per_receiver_per_hour": "1000", "notifications.log_path": log]
        let dispatchers = [Self.dispatcher(fixture, settings), Self.dispatcher(fixture, settings)]
        let attempted = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            let count = (try? dispatchers[index].deliverDue()) ?? -1000
            attempted.withLock { $0 += count }
        }
        let messages = try fixture.notifications()
        #expect(messages.count == 30)
        #expect(attempted.withLock { $0 } == 30)
        #expect(messages.allSatisfy { $0.status == .sent && $0.attempts == 1 })
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 30)
    }

    /// Issue 21 §2: six webhooks of one organization at a listener that never answers do not hold back another
    /// organization's e-mail, opened while they hang: it goes out within seconds, not after them.
    @Test func oneOrganizationsDeadReceiversDoNotDelayAnother() throws {
        let fixture = try AlertsFixture()
        let silent = try RawListener(reply: nil)
        defer { silent.stop() }
        for index in 0..<6 { try Self.receiver(fixture, .webhook, "http://127.0.0.1:\(silent.port)/hook/\(index)") }
        try Self.openAlerts(fixture, 1)

        // Globex: a device in gamma with the same rule and an e-mail receiver.
        let gina = try fixture.caller("gina")
        let (device, pk) = try fixture.bound(to: "gamma")
        let factor = device.agriID + "-01"
        _ = try fixture.factors.create(projectID: "gamma", devicePK: pk, caller: gina, body: PlatformFixture.body(factor, [
            ("name", .string("温度")), ("decimals", .int(1)), ("alarm_enabled", .bool(true)), ("threshold_max", .number(35)),
        ]))
        var input = AlertService.ReceiverInput()
        input.target = "ops@globex.example"
        _ = try fixture.alerts.createReceiver(projectID: "gamma", channel: .email, caller: gina, input)

        let log = fixture.test.directory.file("notifications.log")
        let dispatcher = Self.dispatcher(fixture, ["notifications.webhook.allowed_hosts": "127.0.0.1/32", "notifications.timeout": "4s",
                                                   "notifications.log_path": log])
        let passDone = DispatchSemaphore(value: 0)
        let attempted = Mutex(0)
        Thread.detachNewThread {
            attempted.withLock { $0 = (try? dispatcher.deliverDue()) ?? -1 }
            passDone.signal()
        }
        // The pass is busy with acme's webhooks when globex's alert opens.
        while silent.connections < 2 { Thread.sleep(forTimeInterval: 0.01) }
        let opened = Date()
        _ = try fixture.devices.ingest(projectID: "gamma", pk: pk, caller: gina,
                                       body: PlatformFixture.points([(factor, 40, fixture.clock.unixSeconds())]))
        var mailedAfter: Double?
        while Date().timeIntervalSince(opened) < 20 {
            if try fixture.notifications().contains(where: { $0.target == "ops@globex.example" && $0.status == .sent }) {
                mailedAfter = Date().timeIntervalSince(opened)
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let seconds = try #require(mailedAfter, "globex's e-mail was never sent")
        #expect(seconds < 3, "globex's e-mail went out \(seconds) s after its alert opened")
        // At most two of acme's were in flight at once, so the other four were still waiting then.
        #expect(silent.connections <= 2)
        #expect(passDone.wait(timeout: .now() + 30) == .success)
        #expect(attempted.withLock { $0 } == 7)
        let webhooks = try fixture.notifications().filter { $0.channel == .webhook }
        #expect(webhooks.count == 6 && webhooks.allSatisfy { $0.status == .pending && $0.lastError?.contains("timed out") == true },
                "\(webhooks.map { $0.lastError ?? "" })")
    }

    @Test func receiversPerChannelAreCapped() throws {
        let fixture = try AlertsFixture(config: ["alerts.max_receivers_per_channel": "3"])
        for index in 0..<3 { try Self.receiver(fixture, .email, "ops\(index)@example.com") }
        let error = apiError { try Self.receiver(fixture, .email, "ops9@example.com") }
        #expect(error?.status == 409 && error?.code == "TOO_MANY_RECEIVERS")
        // Another channel has its own count.
        try Self.receiver(fixture, .sms, "+8613800000000")
    }
}
