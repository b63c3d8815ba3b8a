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
        let dispatcher = Self.dispatcher(fixture, ["notifications.max_attempts": "3", "notifications.retry_base": "60s", "notifications.timeout": "2s"])
        #expect(try dispatcher.deliverDue() == 1)
        var message = try #require(try fixture.notifications().first)
        #expect(message.status == .pending && message.attempts == 1 && message.lastError?.contains("127.0.0.1:9") == true)
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
}
