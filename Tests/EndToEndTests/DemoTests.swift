import Core
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct DemoTests {
    @Test func demoSeedsAnOrganizationOnceThroughThePublicServices() throws {
        let directory = TemporaryDirectory("iot-demo")
        defer { directory.remove() }
        let database = directory.file("iot.db")
        let server = try ServerProcess(databasePath: database, arguments: ["--demo"])
        let line = try #require(server.outputLines.first { $0.hasPrefix("demo: organization demo") })
        let token = try #require(line.split(separator: " ").last.map(String.init))
        #expect(server.outputLines.contains("demo: 3 projects, 6 devices, 10 factors, 1440 telemetry points"))
        let client = server.client(token: token)
        // The demo points at the web console, which the built binary serves from its resource bundle.
        #expect(server.outputLines.contains("demo: web console at / of the listening address below; sign in as demo / demo-password"))
        let page = try server.client(token: nil).get("/")
        #expect(page.status == 200 && page.text.contains("<script type=\"module\" src=\"/console/app.js\"></script>"))
        #expect(try server.client(token: nil).get("/console/app.js").header("Content-Type") == "text/javascript; charset=utf-8")
        let projects = try client.get("/api/v2/projects/")
        #expect(projects.status == 200)
        #expect(projects.json["count"] == .number(3))
        let greenhouse = try client.get("/api/v2/projects/greenhouse-alpha/")
        #expect(greenhouse.json["device_count"] == .number(3))
        #expect(greenhouse.json["offline_device_count"] == .number(0))
        let devices = try client.get("/api/v2/projects/greenhouse-alpha/devices/")
        let first = try #require(devices.json["results"]?.arrayValue?.first?["id"]?.int64Value)
        let latest = try client.get("/api/v2/projects/greenhouse-alpha/devices/\(first)/data/")
        #expect(latest.json.arrayValue?.first?["temp"] != nil)   // factor names as keys
        #expect(devices.json["results"]?.arrayValue?.first?["has_thresholds"] == .bool(true))
        let exports = try client.get("/api/v2/projects/greenhouse-alpha/data-download-tasks/")
        let export = try #require(exports.json["results"]?.arrayValue?.first)
        #expect(export["status"] == .string("succeeded"))
        #expect(export["row_count"] == .number(288))
        let link = try client.get("/api/v2/projects/greenhouse-alpha/data-download-tasks/\(export["id"]!.int64Value!)/download/")
        let file = try HTTPTestClient(port: server.port).request("GET", link.header("Location") ?? "-", token: .some(nil))
        #expect(file.text.split(separator: "\r\n").count == 289)
        let schedules = try client.get("/api/v2/projects/greenhouse-alpha/data-download-schedules/")
        #expect(schedules.json.arrayValue?.first?["period"] == .string("daily"))
        // Alerts: a threshold alert in the cold chain with one notification per enabled receiver, a test alert.
        #expect(server.outputLines.contains { $0.hasPrefix("demo: 2 alerts") })
        let cold = try client.get("/api/v2/projects/cold-chain-east/alert/items/current/").json.arrayValue ?? []
        #expect(cold.count == 1 && cold.first?["the_type"] == .string("threshold"))
        #expect(cold.first?["description"] == .string("temp -9.5 °C 高于上限 -12.0 °C"))
        #expect(Set((cold.first?["notifications"]?.arrayValue ?? []).compactMap { $0["channel"]?.stringValue }) == ["sms", "email"])
        let test = try client.get("/api/v2/projects/greenhouse-alpha/alert/items/current/").json.arrayValue ?? []
        #expect(test.first?["trigger_data"]?["test"] == .bool(true))
        let keys = try String(contentsOfFile: directory.file("demo-device-keys.tsv"), encoding: .utf8)
        #expect(keys.split(separator: "\n").count == 6)
        // The default org's admin cannot see the demo org's projects.
        #expect(try server.client().get("/api/v2/projects/greenhouse-alpha/").status == 404)
        #expect(server.stop() == 0)

        let again = try ServerProcess(databasePath: database, arguments: ["--demo"])
        defer { again.stop() }
        #expect(again.outputLines.contains("demo: organization demo already exists; nothing seeded"))
        #expect(try again.client(token: token).get("/api/v2/projects/").json["count"] == .number(3))
    }
}
