import Core
import Devices
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// Exports with `interval` + `agg` (+ `tz`) (DESIGN §5.5 with §5.2's rules), through the platform's responder and the
/// in-process export runner: the files' buckets are the aggregation API's, and bad parameters are named as the API
/// names them.
@Suite(.serialized) struct AggregatedExportsTests {
    static func body(_ fields: [String: JSON]) -> JSON { .object(JSONObject(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })) }

    /// Creates a task, runs the scheduler and downloads the file; the task's JSON and the file's text.
    static func export(_ server: InProcessServer, _ client: HTTPTestClient, project: String, _ fields: [String: JSON]) throws -> (task: JSON, text: String) {
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let created = try client.post(base, body(fields))
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.int64Value)
        try server.composition.exports.runner.runDue()
        let task = try client.get("\(base)\(id)/").json
        #expect(task["status"]?.stringValue == "succeeded", "\(task)")
        let url = try #require(try client.get("\(base)\(id)/download/?redirect=false").json["url"]?.stringValue)
        let file = try server.client(token: nil).request("GET", url, token: .some(nil))
        #expect(file.status == 200)
        return (task, String(decoding: file.body.drop { $0 == 0xEF || $0 == 0xBB || $0 == 0xBF }, as: UTF8.self))
    }

    /// An hourly-average CSV (with min, max, a `tz`) over random data holds exactly the aggregation API's buckets, in
    /// the columns DESIGN §5.5 gives; the NDJSON file of every aggregate carries the API's bucket objects.
    @Test func anHourlyAverageCSVEqualsTheAggregationAPI() throws {
        let server = try Shared.get()
        let (client, path, agriID, points) = try TelemetryAggregationTests.seeded(server)
        let project = try #require(path.split(separator: "/").dropFirst(3).first.map(String.init))
        let pk = try #require(path.split(separator: "/").dropFirst(5).first.flatMap { Int64($0) })
        let start = points[0].0 - 100
        let end = points[2_400].0   // some 100 hourly buckets with data, whole days empty between them
        let api = try client.get("\(path)?agri_id=\(agriID)&start=\(start)&end=\(end)&interval=1h&agg=avg,min,max&tz=%2B08:00")
        #expect(api.status == 200)
        let buckets = try #require(api.json["results"]?.arrayValue)
        #expect(buckets.count > 60)

        let (task, csv) = try Self.export(server, client, project: project, [
            "start_time": .int64(start), "end_time": .int64(end), "device_id": .int64(pk), "factors": .array([.string(agriID)]),
            "interval": .string("1h"), "agg": .string("avg,min,max"), "tz": .string("+08:00"),
        ])
        #expect(task["interval"] == .int64(3_600) && task["tz"] == .string("+08:00"))
        #expect(task["agg"] == .array(["count", "avg", "min", "max"].map(JSON.string)))
        #expect(task["row_count"]?.int64Value == Int64(buckets.count))
        let lines = csv.split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.first == ["time", "device_id", "device_name", "agri_id", "factor", "unit", "count", "avg", "min", "max"])
        #expect(lines.count - 1 == buckets.count)
        for (line, bucket) in zip(lines.dropFirst(), buckets) {
            #expect(line.count == 10)
            #expect(line[0] == Timestamp.format(unixSeconds: bucket["t"]?.int64Value ?? -1), "\(line) \(bucket)")
            #expect(line[3] == agriID)
            #expect(Int64(line[6]) == bucket["count"]?.int64Value)
            for (index, key) in [(7, "avg"), (8, "min"), (9, "max")] {
                #expect(Double(line[index]) == bucket[key]?.doubleValue, "\(key): \(line) vs \(bucket)")
            }
        }

        // Every aggregate as NDJSON: each line is the API's bucket plus the series' labels.
        let all = "min,max,avg,sum,first,last"
        let full = try client.get("\(path)?agri_id=\(agriID)&start=\(start)&end=\(end)&interval=90m&agg=\(all)").json["results"]?.arrayValue ?? []
        let (_, ndjson) = try Self.export(server, client, project: project, [
            "start_time": .int64(start), "end_time": .int64(end), "device_id": .int64(pk), "factors": .array([.string(agriID)]),
            "interval": .int64(5_400), "agg": .array(all.split(separator: ",").map { .string(String($0)) }), "format": .string("ndjson"),
        ])
        let objects = try ndjson.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
        #expect(objects.count == full.count && !full.isEmpty)
        for (object, bucket) in zip(objects, full) {
            #expect(object["agri_id"] == .string(agriID) && object["device_id"]?.stringValue != nil)
            for key in ["t", "count", "min", "max", "avg", "sum", "first", "last"] { #expect(object[key] == bucket[key], "\(key): \(object) vs \(bucket)") }
            #expect(object["value"] == nil)
        }
    }

    /// Every series of a device gets its own buckets; an XLSX export of buckets is a workbook with the bucket columns.
    @Test func everySeriesIsAggregatedAndXLSXHasTheColumns() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let t0: Int64 = 1_700_006_400   // a multiple of 86 400
        let items = (0..<240).flatMap { index -> [(String, Double, Int64?)] in
            [(device.agriID + "-01", Double(index), t0 + Int64(index) * 60), (device.agriID + "-02", 0.5, t0 + Int64(index) * 60)]
        }
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points(items)).status == 202)
        let (task, csv) = try Self.export(server, client, project: project, [
            "start_time": .int64(t0), "end_time": .int64(t0 + 86_400), "device_id": .int64(pk), "interval": .string("1h"), "agg": .string("sum"),
        ])
        #expect(task["row_count"]?.int64Value == 8)
        let rows = csv.split(separator: "\r\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(rows.map { [String($0[3]), String($0[6]), String($0[7])] } == [
            [device.agriID + "-01", "60", String((0..<60).reduce(0, +))], [device.agriID + "-01", "60", String((60..<120).reduce(0, +))],
            [device.agriID + "-01", "60", String((120..<180).reduce(0, +))], [device.agriID + "-01", "60", String((180..<240).reduce(0, +))],
            [device.agriID + "-02", "60", "30"], [device.agriID + "-02", "60", "30"], [device.agriID + "-02", "60", "30"], [device.agriID + "-02", "60", "30"],
        ])
        let (xlsxTask, _) = try Self.export(server, client, project: project, [
            "start_time": .int64(t0), "end_time": .int64(t0 + 86_400), "device_id": .int64(pk), "interval": .string("2h"), "format": .string("xlsx"),
        ])
        #expect(xlsxTask["row_count"]?.int64Value == 4 && xlsxTask["agg"] == .array([.string("count")]))
    }

    @Test func badAggregationFieldsAreNamedAsTheAPINamesThem() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, _, pk) = try DeviceAPI.boundDevice(server, client)
        let base = "/api/v2/projects/\(project)/data-download-tasks/"
        let range: [String: JSON] = ["start_time": .int64(0), "end_time": .int64(86_400), "device_id": .int64(pk)]
        let cases: [([String: JSON], String)] = [
            (["interval": .string("0s")], "interval"), (["interval": .string("367d")], "interval"), (["interval": .string("5ms")], "interval"),
            (["interval": .int64(0)], "interval"), (["interval": .number(1.5)], "interval"), (["interval": .bool(true)], "interval"),
            (["interval": .string("1h"), "agg": .string("median")], "agg"), (["interval": .string("1h"), "agg": .array([.string("avg"), .string("p99")])], "agg"),
            (["interval": .string("1h"), "agg": .int64(3)], "agg"), (["interval": .string("1h"), "tz": .string("+15:00")], "tz"),
            (["interval": .string("1h"), "tz": .string("Asia/Shanghai")], "tz"), (["agg": .string("avg")], "interval"), (["tz": .string("+08:00")], "interval"),
            (["interval": .null, "agg": .string("avg")], "interval"),
            // 86 401 one-second buckets; and from the epoch to now in hours.
            (["interval": .string("1s")], "interval"), (["interval": .string("1h"), "end_time": .null], "interval"),
        ]
        for (fields, field) in cases {
            let response = try client.post(base, Self.body(range.merging(fields) { $1 }))
            #expect(response.status == 400 && response.code == "VALIDATION_ERROR", "\(fields): \(response.text)")
            #expect(response.json["fields"]?[field] != nil, "\(fields) → \(field): \(response.text)")
        }
        // The API's words.
        let bad = try client.post(base, Self.body(range.merging(["interval": .string("5ms")]) { $1 }))
        #expect(bad.json["fields"]?["interval"] == .string(AggregationRequest.Problem.interval))
        // Exactly 10 000 buckets is allowed, 10 001 is not.
        let exact = try client.post(base, Self.body(["start_time": .int64(0), "end_time": .int64(10_000), "device_id": .int64(pk), "interval": .int64(1)]))
        #expect(exact.status == 201, "\(exact.text)")
        #expect(try client.post("\(base)\(exact.json["id"]?.int64Value ?? 0)/cancel/", .object([:])).status == 200)
        let over = try client.post(base, Self.body(["start_time": .int64(0), "end_time": .int64(10_001), "device_id": .int64(pk), "interval": .int64(1)]))
        #expect(over.status == 400 && over.json["fields"]?["interval"] == .string(AggregationRequest.Problem.tooManyBuckets))
        // A point export answers three nulls.
        let plain = try client.post(base, Self.body(range))
        #expect(plain.json["interval"] == .null && plain.json["agg"] == .null && plain.json["tz"] == .null)
        #expect(try client.post("\(base)\(plain.json["id"]?.int64Value ?? 0)/cancel/", .object([:])).status == 200)
    }

    /// Schedules carry the aggregation into the tasks they make; PATCH changes the fields given, `interval: null` removes
    /// it; a period that cannot fit in 10 000 buckets → 400 naming `interval`.
    @Test func schedulesCarryTheAggregation() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, _, pk) = try DeviceAPI.boundDevice(server, client)
        let base = "/api/v2/projects/\(project)/data-download-schedules/"
        let created = try client.post(base, Self.body(["period": .string("daily"), "device_id": .int64(pk), "interval": .string("1h"),
                                                       "agg": .string("avg,max"), "tz": .string("-05:30")]))
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.int64Value)
        #expect(created.json["interval"] == .int64(3_600) && created.json["tz"] == .string("-05:30"))
        #expect(created.json["agg"] == .array(["count", "avg", "max"].map(JSON.string)))
        let patched = try client.patch("\(base)\(id)/", .object(["agg": .string("min")]))
        #expect(patched.json["interval"] == .int64(3_600) && patched.json["agg"] == .array(["count", "min"].map(JSON.string)))
        #expect(patched.json["tz"] == .string("-05:30"))
        for (fields, field) in [(["period": JSON.string("daily"), "interval": .string("8s")], "interval"),
                                (["period": .string("weekly"), "interval": .string("1m")], "interval"),
                                (["period": .string("daily"), "tz": .string("+08:00")], "interval"),
                                (["period": .string("daily"), "interval": .string("1h"), "agg": .string("mode")], "agg")] {
            let response = try client.post(base, Self.body(fields))
            #expect(response.status == 400 && response.json["fields"]?[field] != nil, "\(fields): \(response.text)")
        }
        #expect(try client.patch("\(base)\(id)/", .object(["interval": .string("1s")])).json["fields"]?["interval"] != nil)

        // The due period's task carries the schedule's buckets.
        try server.composition.exports.runner.runDue()
        let tasks = try client.get("/api/v2/projects/\(project)/data-download-tasks/").json["results"]?.arrayValue ?? []
        let made = try #require(tasks.first { $0["schedule_id"]?.int64Value == id })
        #expect(made["interval"] == .int64(3_600) && made["agg"] == .array(["count", "min"].map(JSON.string)) && made["tz"] == .string("-05:30"))
        #expect(made["status"]?.stringValue == "succeeded")

        let cleared = try client.patch("\(base)\(id)/", .object(["interval": .null]))
        #expect(cleared.status == 200 && cleared.json["interval"] == .null && cleared.json["agg"] == .null && cleared.json["tz"] == .null)
    }
}
