import Core
import Foundation
import Testing
import TestSupport

/// Exports through the real binaries: `api-server` takes the task, `scheduler once` writes the file, a signed link
/// downloads it; each format is read back row by row (XLSX with python3's zipfile and xml); two schedulers share the
/// work without running a task twice; a scheduler killed mid-export leaves no file and the next run completes the task;
/// a cancel stops a running export within a second.
@Suite(.serialized) struct ExportsE2ETests {
    struct Point: Equatable {
        let agriID: String
        let t: Int64
        let value: Double
    }

    /// A project with one device, factors `-01` temp/°C and `-02` `湿度, "rel"`/% (plus an unnamed `-03`), `count` points per
    /// series. Returns the project, device pk, hardware id and the points in export order (series by agri_id, then time).
    static func seed(_ server: ServerProcess, count: Int) throws -> (String, Int64, String, [Point]) {
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        for (suffix, name, unit, register) in [("-01", "temp", "°C", 0), ("-02", "湿度, \"rel\"", "%", 1)] {
            let created = try client.post("/api/v2/projects/\(project)/devices/\(pk)/factors/", .object([
                "agri_id": .string(device.agriID + suffix), "name": .string(name), "unit": .string(unit), "register": .int(register),
            ]))
            guard created.status == 201 else { throw TestClientError2("factor: \(created.text)") }
        }
        var points: [Point] = []
        for suffix in ["-01", "-02", "-03"] {
            for i in 0..<count {
                points.append(Point(agriID: device.agriID + suffix, t: 1_706_745_600 + Int64(i) * 60, value: Double(i) * 0.25 - 3.5))
            }
        }
        for chunk in stride(from: 0, to: points.count, by: 10_000) {
            let items = points[chunk..<min(points.count, chunk + 10_000)].map { ($0.agriID, $0.value, Optional($0.t)) }
            let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points(Array(items)))
            guard posted.status == 202 else { throw TestClientError2("points: \(posted.text)") }
        }
        return (project, pk, device.deviceID, points)
    }

    static func create(_ client: HTTPTestClient, _ project: String, _ pk: Int64, format: String) throws -> Int64 {
        let created = try client.post("/api/v2/projects/\(project)/data-download-tasks/", .object([
            "device_id": .int64(pk), "start_time": .string("2024-02-01T00:00:00Z"), "end_time": .int64(1_800_000_000), "format": .string(format),
        ]))
        guard created.status == 201, let id = created.json["id"]?.int64Value else { throw TestClientError2("create: \(created.text)") }
        return id
    }

    static func task(_ client: HTTPTestClient, _ project: String, _ id: Int64) throws -> JSON {
        try client.get("/api/v2/projects/\(project)/data-download-tasks/\(id)/").json
    }

    /// Follows the 302 by hand (no Authorization on the signed link) and returns the file.
    static func download(_ server: ServerProcess, _ project: String, _ id: Int64) throws -> TestResponse {
        let redirect = try server.client().get("/api/v2/projects/\(project)/data-download-tasks/\(id)/download/")
        guard redirect.status == 302, let location = redirect.header("Location") else { throw TestClientError2("download: \(redirect.text)") }
        return try HTTPTestClient(port: server.port).request("GET", location, token: .some(nil))
    }

    static func exportsDirectory(_ server: ServerProcess) -> String { TestDatabase.dataFolder(for: server.databasePath) + "/exports" }

    static func files(_ server: ServerProcess) -> [String] {
        let root = exportsDirectory(server)
        return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { !$0.hasSuffix("/") }
            .filter { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
    }

    static let xlsxReader = """
        import json, sys, zipfile, xml.etree.ElementTree as ET
        ns = {'m': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'}
        z = zipfile.ZipFile(sys.argv[1])
        assert z.testzip() is None
        names = sorted(n for n in z.namelist() if n.startswith('xl/worksheets/sheet'))
        for name in names:
            for i, row in enumerate(ET.fromstring(z.read(name)).iter('{%s}row' % ns['m'])):
                cells = []
                for c in row.findall('m:c', ns):
                    if c.get('t') == 'inlineStr':
                        cells.append(''.join(t.text or '' for t in c.iter('{%s}t' % ns['m'])))
                    else:
                        cells.append(float(c.find('m:v', ns).text))
                if i > 0:
                    cells[0] = round((cells[0] - 25569) * 86400)
                print(json.dumps(cells, ensure_ascii=False))
        """

    /// Issue 25: an hourly-average report (with `tz`) over random data through the real binaries — `api-server` takes
    /// the task, `scheduler once` writes it — holds exactly the aggregation API's buckets, as CSV and as XLSX.
    @Test func anHourlyAverageReportEqualsTheAggregationAPI() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let agriID = device.agriID + "-01"
        var generator = SplitMix(state: 25)
        var t: Int64 = 1_706_745_600
        var points: [(String, Double, Int64?)] = []
        for index in 0..<6_000 {
            t += Int64(generator.next() % 120) + 1
            let value = index % 2 == 0 ? Double(Int64(generator.next() % 4_000)) / 100 - 10 : Double(bitPattern: 0x4000_0000_0000_0000 | (generator.next() >> 12))
            points.append((agriID, value, t))
        }
        for start in stride(from: 0, to: points.count, by: 2_000) {
            #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points(Array(points[start..<start + 2_000]))).status == 202)
        }
        let (start, end) = (Int64(1_706_745_600), t + 1)
        let api = try client.get("/api/v2/projects/\(project)/devices/\(pk)/data/?agri_id=\(agriID)&start=\(start)&end=\(end)&interval=1h&agg=avg&tz=%2B08:00")
        let buckets = try #require(api.json["results"]?.arrayValue)
        #expect(buckets.count > 50)
        var ids: [Int64] = []
        for format in ["csv", "xlsx"] {
            let created = try client.post("/api/v2/projects/\(project)/data-download-tasks/", .object([
                "device_id": .int64(pk), "factors": .array([.string(agriID)]), "start_time": .int64(start), "end_time": .int64(end),
                "format": .string(format), "interval": .string("1h"), "agg": .array([.string("avg")]), "tz": .string("+08:00"),
            ]))
            ids.append(try #require(created.json["id"]?.int64Value, "\(created.text)"))
        }
        let run = try runProgram("scheduler", ["--db", server.databasePath, "once", "exports.run"])
        #expect(run.exitCode == 0, "\(run.stdout) \(run.stderr)")
        for id in ids { #expect(try Self.task(client, project, id)["row_count"]?.int64Value == Int64(buckets.count)) }

        let csv = try Self.download(server, project, ids[0])
        let rows = try CSV.parse(String(decoding: csv.body.dropFirst(3), as: UTF8.self))
        #expect(rows.first == ["time", "device_id", "device_name", "agri_id", "factor", "unit", "count", "avg"])
        #expect(rows.count == buckets.count + 1)
        for (row, bucket) in zip(rows.dropFirst(), buckets) {
            #expect(row.prefix(6) == [Timestamp.format(unixSeconds: bucket["t"]?.int64Value ?? 0), device.deviceID, "", agriID, "", ""])
            #expect(Int64(row[6]) == bucket["count"]?.int64Value && Double(row[7]) == bucket["avg"]?.doubleValue, "\(row) \(bucket)")
        }

        let xlsx = try Self.download(server, project, ids[1])
        let directory = TemporaryDirectory("iot-exports-e2e")
        defer { directory.remove() }
        let path = directory.file("report.xlsx")
        try Data(xlsx.body).write(to: URL(fileURLWithPath: path))
        let script = directory.file("read_xlsx.py")
        try Self.xlsxReader.write(toFile: script, atomically: true, encoding: .utf8)
        let sheetRows = try shell("python3 \(script) \(path)").split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)).arrayValue ?? [] }
        #expect(sheetRows.first?.compactMap(\.stringValue) == ["time", "device_id", "device_name", "agri_id", "factor", "unit", "count", "avg"])
        #expect(sheetRows.count == buckets.count + 1)
        for (cells, bucket) in zip(sheetRows.dropFirst(), buckets) {
            #expect(cells.count == 8 && cells.first?.int64Value == bucket["t"]?.int64Value, "\(cells) \(bucket)")
            #expect(cells.last?.doubleValue == bucket["avg"]?.doubleValue && cells.dropLast().last?.int64Value == bucket["count"]?.int64Value)
        }
    }

    @Test func eachFormatHoldsThePostedPointsRowByRow() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, pk, deviceID, points) = try Self.seed(server, count: 40)
        let ids = try ["csv", "xlsx", "ndjson"].map { try Self.create(client, project, pk, format: $0) }
        let run = try runProgram("scheduler", ["--db", server.databasePath, "once"])
        #expect(run.exitCode == 0, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("job exports.run ok"))
        let factor = { (agriID: String) -> (String, String) in
            agriID.hasSuffix("-01") ? ("temp", "°C") : agriID.hasSuffix("-02") ? ("湿度, \"rel\"", "%") : ("", "")
        }
        for id in ids {
            let task = try Self.task(client, project, id)
            #expect(task["status"]?.stringValue == "succeeded")
            #expect(task["row_count"]?.int64Value == Int64(points.count))
            #expect(task["progress"]?.int64Value == 100)
        }

        // CSV: BOM, header, RFC 4180 quoting, rows in order; a broken download resumes with a Range.
        let csv = try Self.download(server, project, ids[0])
        #expect(csv.status == 200)
        #expect(csv.header("Content-Disposition")?.hasPrefix("attachment; filename=") == true)
        #expect(csv.body.prefix(3) == [0xEF, 0xBB, 0xBF])
        let rows = try CSV.parse(String(decoding: csv.body.dropFirst(3), as: UTF8.self))
        #expect(rows.first == ["time", "device_id", "device_name", "agri_id", "factor", "unit", "value"])
        #expect(rows.count == points.count + 1)
        for (row, point) in zip(rows.dropFirst(), points) {
            let (name, unit) = factor(point.agriID)
            #expect(row == [Timestamp.format(unixSeconds: point.t), deviceID, "", point.agriID, name, unit, row[6]])
            #expect(Double(row[6]) == point.value)
        }
        let location = try #require(client.get("/api/v2/projects/\(project)/data-download-tasks/\(ids[0])/download/").header("Location"))
        let half = csv.body.count / 2
        let anonymous = HTTPTestClient(port: server.port)
        let first = try anonymous.request("GET", location, headers: [("Range", "bytes=0-\(half - 1)")], token: .some(nil))
        let rest = try anonymous.request("GET", location, headers: [("Range", "bytes=\(half)-")], token: .some(nil))
        #expect(first.status == 206)
        #expect(rest.status == 206)
        #expect(first.body + rest.body == csv.body)

        // XLSX read back by python's zipfile + xml.
        let xlsx = try Self.download(server, project, ids[1])
        #expect(xlsx.header("Content-Type") == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        let directory = TemporaryDirectory("iot-exports-e2e")
        defer { directory.remove() }
        let path = directory.file("export.xlsx")
        try Data(xlsx.body).write(to: URL(fileURLWithPath: path))
        let script = directory.file("read_xlsx.py")
        try Self.xlsxReader.write(toFile: script, atomically: true, encoding: .utf8)
        let read = try shell("python3 \(script) \(path)")
        let sheetRows = read.split(separator: "\n").map { try? JSONParser.parse(Array($0.utf8)) }
        #expect(sheetRows.count == points.count + 1)
        #expect(sheetRows.first??.arrayValue?.compactMap(\.stringValue) == ["time", "device_id", "device_name", "agri_id", "factor", "unit", "value"])
        for (row, point) in zip(sheetRows.dropFirst(), points) {
            let cells = row?.arrayValue ?? []
            let (name, unit) = factor(point.agriID)
            #expect(cells.count == 7)
            #expect(cells.first?.int64Value == point.t)
            #expect(cells.dropFirst().dropLast().compactMap(\.stringValue) == [deviceID, "", point.agriID, name, unit])
            #expect(cells.last?.doubleValue == point.value)
        }

        // NDJSON: one object per line.
        let ndjson = try Self.download(server, project, ids[2])
        let lines = ndjson.text.split(separator: "\n")
        #expect(lines.count == points.count)
        for (line, point) in zip(lines, points) {
            let object = try JSONParser.parse(Array(line.utf8))
            let (name, unit) = factor(point.agriID)
            #expect(object["t"]?.int64Value == point.t)
            #expect(object["agri_id"]?.stringValue == point.agriID)
            #expect(object["factor"]?.stringValue == name)
            #expect(object["unit"]?.stringValue == unit)
            #expect(object["value"]?.doubleValue == point.value)
            #expect(object["device_id"]?.stringValue == deviceID)
        }
    }

    @Test func twoSchedulersAtOnceNeverRunATaskTwice() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, pk, _, points) = try Self.seed(server, count: 2_000)
        let ids = try (0..<6).map { try Self.create(client, project, pk, format: $0 % 2 == 0 ? "csv" : "xlsx") }
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                _ = try? runProgram("scheduler", ["--db", server.databasePath, "once"])
                group.leave()
            }
        }
        group.wait()
        let listed = try runProgram("admin-cli", ["--db", server.databasePath, "exports", "list", "--json"])
        let tasks = try JSONParser.parse(Array(listed.stdout.utf8)).arrayValue ?? []
        for id in ids {
            let task = tasks.first { $0["id"]?.int64Value == id }
            #expect(task?["status"]?.stringValue == "succeeded")
            #expect(task?["attempts"]?.int64Value == 1)
            #expect(task?["row_count"]?.int64Value == Int64(points.count))
        }
        #expect(Self.files(server).filter { $0.contains(".part") }.isEmpty)
    }

    /// A scheduler that writes slowly (`exports.max_rows_per_second`) and gives up its lease quickly, until `ready` holds.
    static func slowScheduler(_ server: ServerProcess, project: String, id: Int64) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("scheduler"))
        process.arguments = ["--db", server.databasePath, "run"]
        process.environment = Binaries.environment(["IOT_EXPORTS_MAX_ROWS_PER_SECOND": "4000", "IOT_EXPORTS_LEASE": "2s",
                                                    "IOT_LOG_LEVEL": "error"], arguments: process.arguments ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let task = try Self.task(server.client(), project, id)
            if task["status"]?.stringValue == "running", (task["row_count"]?.int64Value ?? 0) > 0 { break }
            usleep(100_000)
        }
        return process
    }

    @Test func aSchedulerKilledMidExportLeavesNoFileAndTheNextRunCompletesTheTask() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, pk, _, points) = try Self.seed(server, count: 8_000)
        let id = try Self.create(client, project, pk, format: "csv")
        let scheduler = try Self.slowScheduler(server, project: project, id: id)
        let running = try Self.task(client, project, id)
        #expect(running["status"]?.stringValue == "running")
        kill(scheduler.processIdentifier, SIGKILL)
        scheduler.waitUntilExit()
        #expect(try Self.task(client, project, id)["status"]?.stringValue == "running")
        #expect(try client.get("/api/v2/projects/\(project)/data-download-tasks/\(id)/download/").status == 409)
        #expect(Self.files(server).allSatisfy { $0.contains(".part") })
        // The killed scheduler's leases (job and task: 2 s from its last heartbeat, in whole seconds) run out; a pass
        // before that finds nothing to take, so try a few times.
        usleep(3_000_000)
        for _ in 0..<5 {
            let run = try runProgram("scheduler", ["--db", server.databasePath, "once"], environment: ["IOT_EXPORTS_LEASE": "2s"])
            #expect(run.exitCode == 0, "\(run.stdout)")
            if try Self.task(client, project, id)["status"]?.stringValue == "succeeded" { break }
            usleep(1_000_000)
        }
        let done = try Self.task(client, project, id)
        #expect(done["status"]?.stringValue == "succeeded")
        #expect(done["row_count"]?.int64Value == Int64(points.count))
        let file = try Self.download(server, project, id)
        #expect(file.text.split(separator: "\r\n").count == points.count + 1)
        #expect(Self.files(server).filter { $0.contains(".part") }.isEmpty)
        let listed = try runProgram("admin-cli", ["--db", server.databasePath, "exports", "list", "--json"])
        #expect((try JSONParser.parse(Array(listed.stdout.utf8)).arrayValue ?? []).first { $0["id"]?.int64Value == id }?["attempts"] == .int64(2))
    }

    @Test func aCancelStopsARunningExportWithinASecond() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let client = server.client()
        let (project, pk, _, _) = try Self.seed(server, count: 8_000)
        let id = try Self.create(client, project, pk, format: "xlsx")
        let scheduler = try Self.slowScheduler(server, project: project, id: id)
        defer {
            kill(scheduler.processIdentifier, SIGTERM)
            scheduler.waitUntilExit()
        }
        #expect(Self.files(server).contains { $0.contains(".part") })
        let cancelled = try client.post("/api/v2/projects/\(project)/data-download-tasks/\(id)/cancel/", .object([:]))
        #expect(cancelled.json["status"]?.stringValue == "cancelled")
        let started = Date()
        while Self.files(server).contains(where: { $0.contains(".part") }), Date().timeIntervalSince(started) < 5 { usleep(50_000) }
        #expect(Date().timeIntervalSince(started) < 1.2)
        #expect(Self.files(server).isEmpty)
        #expect(try Self.task(client, project, id)["status"]?.stringValue == "cancelled")
    }
}
