import Core
import Foundation
import Testing
import TestSupport

/// Alerts through the real binaries: an acknowledged point's alert survives `kill -9`, and `scheduler once` delivers
/// to an SMTP server (STARTTLS with a certificate the test makes), an SMS gateway and a signed webhook that fails
/// three times before it succeeds.
@Suite struct AlertsE2ETests {
    /// A project with one bound device whose factor `<agri>-01` alarms outside 2..35 °C; returns (project, pk, factor agri_id).
    static func thresholdProject(_ server: ServerProcess) throws -> (String, Int64, String) {
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let factor = "\(device.agriID)-01"
        let created = try client.post("/api/v2/projects/\(project)/devices/\(pk)/factors/", .object([
            "agri_id": .string(factor), "name": .string("温度"), "unit": .string("°C"), "register": .int(0), "decimals": .int(1),
            "threshold_min": .number(2), "threshold_max": .number(35), "alarm_enabled": .bool(true),
        ]))
        guard created.status == 201 else { throw TestClientError2("factor: \(created.status) \(created.text)") }
        return (project, pk, factor)
    }

    @Test func anAcknowledgedPointKeepsItsAlertAcrossKill9() throws {
        let first = try ServerProcess()
        let (project, pk, factor) = try Self.thresholdProject(first)
        let posted = try first.client().post("/api/v2/projects/\(project)/devices/\(pk)/data/",
                                             DeviceAPI.points([(factor, 36.2, nil)]))
        #expect(posted.status == 202)
        // Killed right after the answer: the alert was committed with the point.
        first.stop(signal: SIGKILL)
        let second = try ServerProcess(databasePath: first.databasePath)
        defer { second.stop() }
        let current = try second.client(token: first.adminToken).get("/api/v2/projects/\(project)/alert/items/current/")
        #expect(current.status == 200)
        let items = current.json.arrayValue ?? []
        #expect(items.count == 1)
        #expect(items.first?["description"] == .string("温度 36.2 °C 高于上限 35.0 °C"))
        #expect(items.first?["trigger_data"]?["direction"] == .string("above"))
    }

    @Test func theSchedulerDeliversMailSMSAndSignedWebhooksWithRetries() throws {
        let directory = TemporaryDirectory("iot-alerts-e2e")
        defer { directory.remove() }
        let cert = directory.file("cert.pem")
        let key = directory.file("key.pem")
        try shell("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
                  + "-days 1 -keyout \(key) -out \(cert) 2>/dev/null")
        let smtp = try SinkProcess("smtp_sink.py", ["--mode", "starttls", "--cert", cert, "--key", key])
        let sms = try SinkProcess("http_sink.py", [])
        let webhook = try SinkProcess("http_sink.py", ["--fail-first", "3"])
        // The webhook sink is on loopback: the operator's opt-in lets it through (for the server and the scheduler).
        let server = try ServerProcess(environment: ["IOT_NOTIFICATIONS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32"])
        defer { server.stop() }
        let client = server.client()
        let (project, pk, factor) = try Self.thresholdProject(server)
        let base = "/api/v2/projects/\(project)/alert"
        #expect(try client.post(base + "/email-notifications/", .object(["email": .string("ops@example.com"), "name": .string("Ops")])).status == 201)
        #expect(try client.post(base + "/sms-notifications/", .object(["phone_number": .string("+8613800000000")])).status == 201)
        #expect(try client.post(base + "/webhook-notifications/", .object([
            "url": .string("http://127.0.0.1:\(webhook.port)/hook"), "secret": .string("webhook-secret"),
        ])).status == 201)
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(factor, 40, nil)])).status == 202)

        let environment = [
            "IOT_NOTIFICATIONS_EMAIL_SMTP_HOST": "127.0.0.1", "IOT_NOTIFICATIONS_EMAIL_SMTP_PORT": String(smtp.port),
            "IOT_NOTIFICATIONS_EMAIL_TLS": "starttls", "IOT_NOTIFICATIONS_EMAIL_CA_FILE": cert,
            "IOT_NOTIFICATIONS_EMAIL_FROM": "alerts@example.com",
            "IOT_NOTIFICATIONS_SMS_URL": "http://127.0.0.1:\(sms.port)/send", "IOT_NOTIFICATIONS_SMS_HEADERS": #"{"X-Api-Key": "k1"}"#,
            "IOT_NOTIFICATIONS_RETRY_BASE": "0", "IOT_NOTIFICATIONS_TIMEOUT": "5", "IOT_NOTIFICATIONS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32",
        ]
        // The scheduler's pass delivers mail and SMS; the webhook fails. Three more passes a second apart (the job runs
        // every 5 s, so `admin-cli alerts deliver` runs them now): it fails twice more, then succeeds.
        let run = try runProgram("scheduler", ["--db", server.databasePath, "once"], environment: environment)
        #expect(run.exitCode == 0, "\(run.stderr)")
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 1.1)
            let pass = try runProgram("admin-cli", ["--db", server.databasePath, "alerts", "deliver"], environment: environment)
            #expect(pass.exitCode == 0, "\(pass.stderr)")
        }
        let mail = try #require(smtp.waitFor(1).first)
        #expect(mail["tls"] == .bool(true))
        #expect(mail["rcpt_to"] == .array([.string("ops@example.com")]))
        let data = mail["data"]?.stringValue ?? ""
        #expect(data.contains("Subject: =?UTF-8?B?"))
        #expect(data.contains("From: alerts@example.com"))

        let text = try #require(sms.waitFor(1).first)
        #expect(text["headers"]?["X-Api-Key"] == .string("k1"))
        let smsBody = try JSONParser.parse(Array((text["body"]?.stringValue ?? "").utf8))
        #expect(smsBody["to"] == .string("+8613800000000"))
        #expect(smsBody["text"]?.stringValue?.contains("温度 40.0 °C 高于上限 35.0 °C") == true)

        let hooks = webhook.waitFor(4)
        #expect(hooks.count == 4)
        let last = try #require(hooks.last)
        let body = last["body"]?.stringValue ?? ""
        let signature = last["headers"]?["X-Signature"]?.stringValue ?? ""
        let bodyFile = directory.file("body.json")
        try body.write(toFile: bodyFile, atomically: true, encoding: .utf8)
        let expected = try shell("openssl dgst -sha256 -hmac webhook-secret -r \(bodyFile) | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signature == "sha256=" + expected)

        let item = try #require(try client.get(base + "/items/current/").json.arrayValue?.first)
        let states = (item["notifications"]?.arrayValue ?? []).map { ($0["channel"]?.stringValue ?? "", $0["status"]?.stringValue ?? "",
                                                                      $0["attempts"]?.int64Value ?? 0) }
        #expect(states.count == 3)
        #expect(states.contains { $0 == ("email", "sent", 1) })
        #expect(states.contains { $0 == ("sms", "sent", 1) })
        #expect(states.contains { $0 == ("webhook", "sent", 4) }, "\(states)")
    }

    @Test func withNothingConfiguredMessagesGoToTheNotificationsLog() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, _, _) = try Self.thresholdProject(server)
        #expect(try client.post("/api/v2/projects/\(project)/alert/email-notifications/", .object(["email": .string("ops@example.com")])).status == 201)
        let test = try client.post("/api/v2/projects/\(project)/alert/items/trigger-test/", .object([:]))
        #expect(test.status == 201 && test.json["trigger_data"]?["test"] == .bool(true))
        let run = try runProgram("scheduler", ["--db", server.databasePath, "once"])
        #expect(run.exitCode == 0)
        let log = TestDatabase.dataFolder(for: server.databasePath) + "/notifications.log"
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.count == 1)
        let entry = try JSONParser.parse(Array((lines.first ?? "").utf8))
        #expect(entry["channel"] == .string("email") && entry["to"] == .string("ops@example.com"))
        let item = try client.get("/api/v2/projects/\(project)/alert/items/\(test.json["id"]?.int64Value ?? 0)/")
        #expect(item.json["notifications"]?.arrayValue?.first?["status"] == .string("sent"))
    }
}
