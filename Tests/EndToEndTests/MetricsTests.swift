import Core
import Foundation
import Testing
import TestSupport

@Suite struct MetricsTests {
    /// DESIGN §4: requests by route and status, latency, ingestion points, queue depth, DB pool.
    @Test func metricsCoverRequestsIngestionQueueAndPool() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(device.agriID + "-01", 1.5, nil)]))
        #expect(posted.status == 202)
        let text = try server.client(token: nil).get("/metrics").text
        func value(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect((value("telemetry_points_committed_total") ?? 0) >= 1)
        #expect((value("telemetry_commits_total") ?? 0) >= 1)
        #expect(value("telemetry_queue_points") != nil)
        #expect((value("db_readers_open") ?? 0) >= 1)
        #expect(value("db_readers_busy") != nil)
        #expect(text.contains("route=\"/api/v2/projects/:project_id/devices/:device_pk/data/\",status=\"202\""))
        #expect(text.contains("http_request_duration_seconds_bucket"))
    }
}
