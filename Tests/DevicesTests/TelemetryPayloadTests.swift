@testable import Devices
import Core
import DomainTestSupport
import Testing
import TestSupport

@Suite struct TelemetryPayloadTests {
    func parse(_ text: String, maxPoints: Int = 100) throws -> (points: [TelemetryPoint], dropped: Int) {
        try TelemetryPayload.parse(JSONParser.parse(Array(text.utf8)), prefix: "d-1000-abcd", now: 1_708_070_400, maxPoints: maxPoints)
    }

    func problems(_ text: String) -> [String: String] {
        do {
            _ = try parse(text)
            return [:]
        } catch let error as APIError {
            return error.fields
        } catch {
            return ["unexpected": "\(error)"]
        }
    }

    @Test func acceptsPointsAndDefaultsT() throws {
        let (points, dropped) = try parse(#"[{"agri_id": "d-1000-abcd-01", "value": 24.3, "t": 1708070000}, {"agri_id": "d-1000-abcd-02", "value": 68}]"#)
        #expect(dropped == 0)
        #expect(points == [TelemetryPoint(agriID: "d-1000-abcd-01", value: 24.3, t: 1_708_070_000),
                           TelemetryPoint(agriID: "d-1000-abcd-02", value: 68, t: 1_708_070_400)])
    }

    @Test func dropsAndCountsPointsOutsideThePrefix() throws {
        let (points, dropped) = try parse(#"[{"agri_id": "d-2000-ffff-01", "value": 1}, {"agri_id": "d-1000-abcd-01", "value": 2}]"#)
        #expect(points.count == 1)
        #expect(dropped == 1)
    }

    @Test func ignoresEchoedEnrichmentFieldsButRejectsUnknownOnes() throws {
        #expect(try parse(#"[{"agri_id": "d-1000-abcd-01", "value": 1, "the_type": "x", "project_id": "p", "org_id": 1}]"#).points.count == 1)
        #expect(problems(#"[{"agri_id": "d-1000-abcd-01", "value": 1, "colour": "red"}]"#) == ["[0].colour": "unknown field"])
    }

    /// Found by fuzzing (Tests/Fuzz/telemetry): an unknown key was named in full and every unknown key of a point was
    /// named, so a 400 grew with the body. Names are cut to 64 Unicode scalars, and at most 20 problems are named.
    @Test func unknownKeysAreNamedBoundedly() {
        let long = String(repeating: "<", count: 80)
        #expect(problems(#"[{"agri_id": "", "value": "x", "t": 1.5, "extra\#(long)": 1}, 3, {"value": 1}]"#)["[0].extra" + long.prefix(59)]
            == "unknown field")
        let many = (0..<500).map { "\"k\($0)\": 1" }.joined(separator: ", ")
        let found = problems(#"[{"agri_id": "d-1000-abcd-01", "value": 1, \#(many)}]"#)
        #expect(found.count == 20)
        #expect(found.keys.allSatisfy { $0.unicodeScalars.count <= 4 + 64 })
    }

    @Test func namesEveryBadField() {
        let found = problems(#"[{"agri_id": 5, "value": "hot"}, {"value": 1}, 7, {"agri_id": "d-1000-abcd-01", "value": 1, "t": "soon"}]"#)
        #expect(found["[0].agri_id"] != nil)
        #expect(found["[0].value"] != nil)
        #expect(found["[1].agri_id"] == "is required")
        #expect(found["[2]"] != nil)
        #expect(found["[3].t"] != nil)
    }

    @Test(arguments: [#"{"agri_id": "d-1000-abcd-01", "value": 1}"#, #""text""#, "42", "null"])
    func rejectsBodiesThatAreNotArrays(_ body: String) {
        #expect(problems(body)["body"] != nil)
    }

    @Test func rejectsFractionalNegativeAndMillisecondTimes() {
        #expect(problems(#"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": 1708070400.5}]"#)["[0].t"] != nil)
        #expect(problems(#"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": -1}]"#)["[0].t"] != nil)
        #expect(problems(#"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": 1708070400000}]"#)["[0].t"] != nil)
    }

    @Test func tooManyPointsIs413() {
        let body = "[" + Array(repeating: #"{"agri_id": "d-1000-abcd-01", "value": 1}"#, count: 11).joined(separator: ",") + "]"
        do {
            _ = try parse(body, maxPoints: 10)
            Issue.record("expected 413")
        } catch let error as APIError {
            #expect(error.status == 413)
            #expect(error.code == "PAYLOAD_TOO_LARGE")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aRepeatedAgriIDAndTimeKeepsTheLaterValueAndCountsTheEarlierAsDropped() throws {
        let (points, dropped) = try parse(#"""
            [{"agri_id": "d-1000-abcd-01", "value": 1, "t": 1708070000}, {"agri_id": "d-1000-abcd-02", "value": 5, "t": 1708070000},
             {"agri_id": "d-1000-abcd-01", "value": 2, "t": 1708070000}, {"agri_id": "d-1000-abcd-01", "value": 3, "t": 1708070001}]
            """#)
        #expect(dropped == 1)
        #expect(points == [TelemetryPoint(agriID: "d-1000-abcd-01", value: 2, t: 1_708_070_000),
                           TelemetryPoint(agriID: "d-1000-abcd-02", value: 5, t: 1_708_070_000),
                           TelemetryPoint(agriID: "d-1000-abcd-01", value: 3, t: 1_708_070_001)])
        // A defaulted t counts as the same time as an explicit one equal to `now`.
        let defaulted = try parse(#"[{"agri_id": "d-1000-abcd-01", "value": 1}, {"agri_id": "d-1000-abcd-01", "value": 9, "t": 1708070400}]"#)
        #expect(defaulted.dropped == 1 && defaulted.points == [TelemetryPoint(agriID: "d-1000-abcd-01", value: 9, t: 1_708_070_400)])
    }

    /// Random requests with repeats early, late and not at all, against the plain rule: the first occurrence's place,
    /// the last occurrence's value, every earlier occurrence dropped.
    @Test func repeatsAnywhereInARequestFollowTheRule() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 300 {
            let count = Int.random(in: 1 ... 100, using: &generator)
            let channels = Int.random(in: 1 ... 120, using: &generator)
            let items = (0 ..< count).map { index in
                (agriID: "d-1000-abcd-\(Int.random(in: 0 ..< channels, using: &generator))", t: Int64(1_708_070_000 + Int.random(in: 0 ... 2, using: &generator)),
                 value: Double(index))
            }
            var expected: [TelemetryPoint] = []
            var place: [String: Int] = [:]
            for item in items {
                let point = TelemetryPoint(agriID: item.agriID, value: item.value, t: item.t)
                if let index = place["\(item.agriID)@\(item.t)"] { expected[index] = point } else {
                    place["\(item.agriID)@\(item.t)"] = expected.count
                    expected.append(point)
                }
            }
            let text = "[" + items.map { #"{"agri_id": "\#($0.agriID)", "value": \#($0.value), "t": \#($0.t)}"# }.joined(separator: ",") + "]"
            let (points, dropped) = try parse(text)
            #expect(points == expected)
            #expect(dropped == count - expected.count)
        }
    }

    @Test func aRepeatedPointInOneRequestIsStoredOnceWithTheLaterValue() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let agri = "\(device.agriID)-01"
        let result = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice,
                                                body: PlatformFixture.points([(agri, 1.5, 1_000), (agri, 7.25, 1_000)]))
        // `accepted` is exactly what is stored.
        #expect(result == IngestResult(accepted: 1, dropped: 1))
        let history = try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: agri, start: 0, end: 10_000, cursor: nil, limit: 10)
        #expect(history.points == [HistoryPage.Point(agriID: agri, value: 7.25, t: 1_000)])
        #expect(try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice).first?["value"] == .number(7.25))
        #expect(try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 1)
    }

    @Test func nanAndInfinityAreNotJSON() {
        #expect(throws: (any Error).self) { try JSONParser.parse(Array(#"[{"agri_id": "d-1000-abcd-01", "value": NaN}]"#.utf8)) }
        #expect(throws: (any Error).self) { try JSONParser.parse(Array(#"[{"agri_id": "d-1000-abcd-01", "value": 1e999}]"#.utf8)) }
    }
}

@Suite struct ProvisionedDeviceTests {
    @Test func parsesAManufacturingFile() throws {
        let devices = try ProvisionedDevice.parseCSV("""
            device_id,safe_code,agri_id,model,capabilities
            868686000123456,8K2P,d-1000-abcd,DTU-4G,SUPPORTS_REBOOT;SUPPORTS_SERIAL
            868686000123457,9X3Q,d-1000-abce,DTU-4G,

            """)
        #expect(devices.count == 2)
        #expect(devices[0].capabilities == ["SUPPORTS_REBOOT", "SUPPORTS_SERIAL"])
        #expect(devices[1].capabilities == [])
    }

    func message(_ text: String) -> String {
        do {
            _ = try ProvisionedDevice.parseCSV(text)
            return ""
        } catch {
            return error.fields.map { "\($0.key): \($0.value)" }.joined()
        }
    }

    @Test func namesTheDuplicateDeviceID() {
        let text = "device_id,safe_code,agri_id,model,capabilities\nA1,1111,d-a,M,\nB2,2222,d-b,M,\nA1,3333,d-c,M,\n"
        #expect(message(text).contains("duplicate device_id A1"))
        #expect(message(text).contains("line 4"))
    }

    @Test func rejectsBadHeadersAndFields() {
        #expect(message("id,code\nA,1\n").contains("header"))
        #expect(message("device_id,safe_code,agri_id,model,capabilities\nA1,12345,d-a,M,\n").contains("safe_code"))
        #expect(message("device_id,safe_code,agri_id,model,capabilities\nA 1,1234,d-a,M,\n").contains("device_id"))
        #expect(message("device_id,safe_code,agri_id,model,capabilities\nA1,1234,D-A,M,\n").contains("agri_id"))
        #expect(message("device_id,safe_code,agri_id,model,capabilities\nA1,1234,d-a,M\n").contains("5 fields"))
        #expect(message("device_id,safe_code,agri_id,model,capabilities\n").contains("no devices"))
    }
}

/// `TelemetryPayload.scan` reads plain bodies without a tree; whatever it accepts must give exactly what the tree gives.
@Suite struct TelemetryScanTests {
    static let prefix = "d-1000-abcd"

    func viaTree(_ bytes: [UInt8]) throws -> (points: [TelemetryPoint], dropped: Int) {
        try TelemetryPayload.parse(JSONParser.parse(bytes), prefix: Self.prefix, now: 1_708_070_400, maxPoints: 50)
    }

    @Test func thePlainShapeIsReadWithoutATree() throws {
        let text = #" [ {"agri_id": "d-1000-abcd-01", "value": -0.5, "t": 1708070000}, {"t": 1708070001, "value": 3,"agri_id":"d-1000-abcd-02"},"#
            + #"{"value": 1e3, "agri_id": "d-1000-abcd-\u0041"}, {"agri_id": "other-01", "value": 2} ] "#
        let items = try #require(TelemetryPayload.scan(Array(text.utf8), maxPoints: 50))
        #expect(items.count == 4)
        let fast = TelemetryPayload.accept(items, prefix: Self.prefix, now: 1_708_070_400)
        let tree = try viaTree(Array(text.utf8))
        #expect(fast.points == tree.points && fast.dropped == tree.dropped)
        #expect(TelemetryPayload.scan(Array("[]".utf8), maxPoints: 50)?.isEmpty == true)
    }

    @Test(arguments: [
        #"{"agri_id": "d-1000-abcd-01", "value": 1}"#, #"[{"agri_id": "d-1000-abcd-01", "value": 1, "the_type": "x"}]"#,
        #"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": null}]"#, #"[{"agri_id": "d-1000-abcd-01", "value": 1, "value": 2}]"#,
        #"[{"agri_id": "d-1000-abcd-01", "value": "1"}]"#, #"[{"agri_id": "", "value": 1}]"#, #"[{"agri_id": "d-1000-abcd-01"}]"#,
        #"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": 1.5}]"#, #"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": -1}]"#,
        #"[{"agri_id": "d-1000-abcd-01", "value": 1}] x"#, #"[{"agri_id": "d-1000-abcd-01", "value": 1},]"#, #"[{"agri_id": "d-1000-abcd-01", "value": 01}]"#,
        #"[{"agri_id": "d-1000-abcd-01", "value": 1e999}]"#, "[1]", "[", #"[{"agri_id": "d-1000-abcd-01", "value": 1, "t": 99999999999}]"#,
    ])
    func anythingElseIsLeftToTheTree(text: String) {
        #expect(TelemetryPayload.scan(Array(text.utf8), maxPoints: 50) == nil)
    }

    @Test func moreThanTheLimitIsLeftToTheTree() {
        let text = "[" + (0 ..< 3).map { #"{"agri_id": "d-1000-abcd-\#($0)", "value": 1}"# }.joined(separator: ",") + "]"
        #expect(TelemetryPayload.scan(Array(text.utf8), maxPoints: 2) == nil)
        #expect(TelemetryPayload.scan(Array(text.utf8), maxPoints: 3)?.count == 3)
    }

    /// Random bodies built from valid and invalid pieces: every one the scanner accepts gives the tree's result.
    @Test func whateverTheScannerAcceptsTheTreeReadsAlike() throws {
        var generator = SystemRandomNumberGenerator()
        let agriIDs = [#""d-1000-abcd-01""#, #""d-1000-abcd-02""#, #""d-1000-abcd-\u00e9""#, #""d-1000-abcd-ü""#, #""elsewhere""#,
                       #""d-1000-abcd-01\"""#, #""""#, "7", "null"]
        let values = ["1", "-0", "-0.0", "0.1", "12.5", "-3.25e2", "1E-7", "123456789012345678", "0.30000000000000004", "\"1\"", "01", "1.", "true"]
        let times = ["1708070000", "1708070001", "1.70807e9", "0", "4102444800", "4102444801", "-1", "1.5", "null", "\"1\"", "1e2"]
        let spaces = ["", " ", "\n\t", "\r\n "]
        var accepted = 0
        for _ in 0 ..< 3_000 {
            var objects: [String] = []
            for _ in 0 ..< Int.random(in: 0 ... 6, using: &generator) {
                var fields: [String] = []
                if Int.random(in: 0 ..< 10, using: &generator) > 0 { fields.append(#""agri_id":"# + agriIDs.randomElement(using: &generator)!) }
                if Int.random(in: 0 ..< 10, using: &generator) > 0 { fields.append(#""value":"# + values.randomElement(using: &generator)!) }
                if Bool.random(using: &generator) { fields.append(#""t":"# + times.randomElement(using: &generator)!) }
                if Int.random(in: 0 ..< 12, using: &generator) == 0 { fields.append(#""value":2"#) }
                if Int.random(in: 0 ..< 12, using: &generator) == 0 { fields.append(#""org_id":1"#) }
                fields.shuffle(using: &generator)
                let space = spaces.randomElement(using: &generator)!
                objects.append("{" + space + fields.joined(separator: "," + space) + "}")
            }
            var text = "[" + objects.joined(separator: ",") + "]"
            if Int.random(in: 0 ..< 20, using: &generator) == 0 { text += "," }
            if Int.random(in: 0 ..< 20, using: &generator) == 0, !text.isEmpty { text.removeLast() }
            let bytes = Array(text.utf8)
            guard let items = TelemetryPayload.scan(bytes, maxPoints: 50) else { continue }
            accepted += 1
            let fast = TelemetryPayload.accept(items, prefix: Self.prefix, now: 1_708_070_400)
            let tree = try viaTree(bytes)
            #expect(fast.points == tree.points, "\(text)")
            #expect(fast.dropped == tree.dropped, "\(text)")
        }
        #expect(accepted > 100)
    }
}
