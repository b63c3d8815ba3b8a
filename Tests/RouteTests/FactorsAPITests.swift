import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// Factors over HTTP (DESIGN §5.3): CRUD, export/import (multipart), the sensor-module catalog and
/// add-module, and who may do what. Every name is random: the suite shares the `Shared` server.
@Suite struct FactorsAPITests {
    // MARK: - Helpers

    static func factorsPath(_ project: String, _ pk: Int64) -> String { "/api/v2/projects/\(project)/devices/\(pk)/factors/" }
    static func devicePath(_ project: String, _ pk: Int64) -> String { "/api/v2/projects/\(project)/devices/\(pk)/" }

    static func factor(_ agriID: String, name: String = "temp", register: Int64 = 0, _ extra: [(String, JSON)] = []) -> JSON {
        var object = JSONObject()
        object["agri_id"] = .string(agriID)
        object["name"] = .string(name)
        object["register"] = .int64(register)
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    static let boundary = "e2e-boundary-\(RandomID.make(length: 8))"

    /// A multipart/form-data body: `file` (when given) and other text fields.
    static func form(file: [UInt8]?, fields: [(String, String)] = [], closed: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in fields {
            bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        if let file {
            bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"factors.json\"\r\nContent-Type: application/json\r\n\r\n".utf8)
            bytes += file + Array("\r\n".utf8)
        }
        if closed { bytes += Array("--\(boundary)--\r\n".utf8) }
        return bytes
    }

    static let formType = "multipart/form-data; boundary=\(boundary)"

    static func importFactors(_ client: HTTPTestClient, _ project: String, _ pk: Int64, _ body: [UInt8],
                              contentType: String = formType) throws -> TestResponse {
        try client.request("POST", devicePath(project, pk) + "import-factors/", rawBody: body, headers: [("Content-Type", contentType)])
    }

    static func agriIDs(_ response: TestResponse) -> [String] {
        (response.json.arrayValue ?? []).compactMap { $0["agri_id"]?.stringValue }
    }

    static func shippedModule(_ server: any APIServer, model: String) throws -> Int64 { try DeviceAPI.shippedModule(server, model: model) }

    // MARK: - CRUD

    @Test func createReadUpdateDelete() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = Self.factorsPath(project, pk)
        #expect(try client.get(path).json == .array([]))
        let body = Self.factor("\(device.agriID)-01", [
            ("unit", .string("°C")), ("slave_id", .int(3)), ("function_code", .int(4)), ("data_type", .string("float32")),
            ("byte_order", .string("CDAB")), ("scale", .number(0.1)), ("offset", .number(-2.5)), ("decimals", .int(1)),
            ("threshold_min", .int(-10)), ("threshold_max", .int(40)), ("alarm_enabled", .bool(true)), ("sort", .int(3)),
        ])
        let created = try client.post(path, body)
        #expect(created.status == 201)
        let id = try #require(created.json["id"]?.int64Value)
        #expect(created.header("Location") == "\(path)\(id)/")
        for (key, value) in body.objectValue?.entries ?? [] { #expect(created.json[key] == value, "\(key)") }
        #expect(created.json["device"] == .int64(pk))
        #expect(created.json["created_at"]?.stringValue?.hasSuffix("Z") == true)
        #expect(try client.get(path).json.arrayValue?.compactMap { $0["id"]?.int64Value } == [id])
        let one = try client.get("\(path)\(id)/")
        #expect(one.status == 200 && one.json == created.json)
        // PATCH is partial; read-only fields sent back are ignored.
        let patched = try client.patch("\(path)\(id)/", .object(["name": .string("air_temp"), "threshold_max": .null, "id": .int(999),
                                                                 "device": .int(1)]))
        #expect(patched.status == 200)
        #expect(patched.json["name"] == .string("air_temp") && patched.json["threshold_max"] == .null)
        #expect(patched.json["threshold_min"] == .int(-10) && patched.json["unit"] == .string("°C") && patched.json["id"] == .int64(id))
        #expect(try client.request("PUT", "\(path)\(id)/", json: .object([:])).status == 405)
        #expect(try client.delete("\(path)\(id)/").status == 204)
        let gone = try client.get("\(path)\(id)/")
        #expect(gone.status == 404 && gone.code == "FACTOR_NOT_FOUND")
        #expect(try client.delete("\(path)\(id)/").status == 404)
        #expect(try client.patch("\(path)\(id)/", .object(["name": .string("x")])).code == "FACTOR_NOT_FOUND")
        #expect(try client.get("\(path)abc/").status == 404)
        // A device that is not in the project.
        #expect(try client.get(Self.factorsPath(project, 999_999_999)).code == "DEVICE_NOT_FOUND")
    }

    @Test func validationNamesEveryField() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, devices) = try DeviceAPI.boundProject(server, client, count: 2)
        let (device, pk) = devices[0]
        let path = Self.factorsPath(project, pk)
        let agriID = "\(device.agriID)-01"
        let cases: [(String, JSON)] = [
            ("slave_id", .int(0)), ("slave_id", .int(248)), ("function_code", .int(6)), ("register", .int(65_536)), ("register", .int(-1)),
            ("data_type", .string("double")), ("byte_order", .string("ABDC")), ("decimals", .int(10)), ("alarm_enabled", .string("on")),
            ("name", .string("")), ("name", .string("t")), ("agri_id", .string(devices[1].0.agriID + "-01")), ("agri_id", .string(device.agriID)),
            ("agri_id", .string("\(device.agriID)-X")), ("scale", .string("1")),
        ]
        for (key, value) in cases {
            var object = Self.factor(agriID).objectValue ?? JSONObject()
            object[key] = value
            let response = try client.post(path, .object(object))
            #expect(response.status == 400 && response.code == "VALIDATION_ERROR", "\(key) = \(value)")
            #expect(response.json["fields"]?.objectValue?.keys == [key], "\(key) = \(value): \(response.text)")
        }
        let ordered = try client.post(path, Self.factor(agriID, [("threshold_min", .int(5)), ("threshold_max", .int(1))]))
        #expect(ordered.status == 400 && ordered.json["fields"]?["threshold_min"] != nil)
        let unknown = try client.post(path, Self.factor(agriID, [("colour", .string("red")), ("min", .int(1))]))
        #expect(unknown.status == 400 && unknown.code == "VALIDATION_ERROR")
        #expect(Set(unknown.json["fields"]?.objectValue?.keys ?? []) == ["colour", "min"])
        #expect(unknown.json["detail"]?.stringValue?.contains("colour") == true)
        let missing = try client.post(path, .object([:]))
        #expect(Set(missing.json["fields"]?.objectValue?.keys ?? []) == ["agri_id", "name", "register"])
        #expect(try client.request("POST", path, rawBody: Array("{".utf8)).code == "MALFORMED_JSON")
        #expect(try client.request("POST", path, rawBody: Array("a=1".utf8), headers: [("Content-Type", "text/plain")]).status == 415)
        // Nothing was created by the failures.
        #expect(try client.get(path).json == .array([]))
        // agri_id unique, across devices too.
        #expect(try client.post(path, Self.factor(agriID)).status == 201)
        let again = try client.post(path, Self.factor(agriID, name: "other"))
        #expect(again.status == 409 && again.code == "AGRI_ID_EXISTS")
        let second = try client.post(path, Self.factor("\(device.agriID)-02", name: "rh"))
        let secondID = try #require(second.json["id"]?.int64Value)
        let rename = try client.patch("\(path)\(secondID)/", .object(["agri_id": .string(agriID)]))
        #expect(rename.status == 409 && rename.code == "AGRI_ID_EXISTS")
        let patchBad = try client.patch("\(path)\(secondID)/", .object(["threshold_min": .int(9), "threshold_max": .int(1), "bogus": .int(1)]))
        #expect(Set(patchBad.json["fields"]?.objectValue?.keys ?? []) == ["threshold_min", "bogus"])
    }

    @Test func thresholdsAndNamesShowOnTheDevice() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        func listed() throws -> JSON? {
            try client.get("/api/v2/projects/\(project)/devices/").json["results"]?.arrayValue?.first { $0["id"] == .int64(pk) }?["has_thresholds"]
        }
        func flat() throws -> JSON? {
            try client.get("/api/v2/devices/?project_id=\(project)").json.arrayValue?.first { $0["id"] == .int64(pk) }?["has_thresholds"]
        }
        #expect(try client.get(Self.devicePath(project, pk)).json["has_thresholds"] == .bool(false))
        #expect(try listed() == .bool(false) && flat() == .bool(false))   // now cached
        let created = try client.post(Self.factorsPath(project, pk), Self.factor("\(device.agriID)-01", [("threshold_max", .number(30))]))
        #expect(created.status == 201)
        #expect(try client.get(Self.devicePath(project, pk)).json["has_thresholds"] == .bool(true))
        #expect(try listed() == .bool(true) && flat() == .bool(true))
        // Latest values: the factor's name as key; an agri_id without a factor keeps `value`.
        let posted = try client.post(Self.devicePath(project, pk) + "data/",
                                     DeviceAPI.points([("\(device.agriID)-01", 24.1, 1_708_070_400), ("\(device.agriID)-02", 68.2, 1_708_070_400)]))
        #expect(posted.status == 202)
        let latest = try client.get(Self.devicePath(project, pk) + "data/").json.arrayValue ?? []
        #expect(latest.contains(.object(["agri_id": .string("\(device.agriID)-01"), "temp": .number(24.1), "t": .int(1_708_070_400)])))
        #expect(latest.contains(.object(["agri_id": .string("\(device.agriID)-02"), "value": .number(68.2), "t": .int(1_708_070_400)])))
        // A second factor named later shows at once.
        #expect(try client.post(Self.factorsPath(project, pk), Self.factor("\(device.agriID)-02", name: "humidity", register: 1)).status == 201)
        let renamed = try client.get(Self.devicePath(project, pk) + "data/").json.arrayValue ?? []
        #expect(renamed.contains(.object(["agri_id": .string("\(device.agriID)-02"), "humidity": .number(68.2), "t": .int(1_708_070_400)])))
        // Removing the threshold clears the flag.
        let id = try #require(created.json["id"]?.int64Value)
        #expect(try client.patch(Self.factorsPath(project, pk) + "\(id)/", .object(["threshold_max": .null])).status == 200)
        #expect(try listed() == .bool(false) && flat() == .bool(false))
        // Unbinding drops the factors: bound again, the device has none.
        #expect(try client.post(Self.devicePath(project, pk) + "unbind/", .object([:])).status == 204)
        let rebound = try DeviceAPI.bind(client, project, device)
        #expect(try client.get(Self.factorsPath(project, rebound)).json == .array([]))
    }

    // MARK: - Export / import

    @Test func exportFromOneDeviceImportIntoAnother() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, devices) = try DeviceAPI.boundProject(server, client, count: 2)
        let (a, pkA) = devices[0]
        let (b, pkB) = devices[1]
        for (suffix, name, register) in [("01", "temp", Int64(0)), ("02", "humidity", 1), ("sub-03", "co2", 2)] {
            #expect(try client.post(Self.factorsPath(project, pkA), Self.factor("\(a.agriID)-\(suffix)", name: name, register: register,
                                                                                [("sort", .int64(register))])).status == 201)
        }
        let export = try client.request("POST", Self.devicePath(project, pkA) + "export-factors/")
        #expect(export.status == 200)
        #expect(export.header("Content-Disposition") == "attachment; filename=\"factors-\(a.deviceID).json\"")
        #expect(export.header("Content-Type")?.hasPrefix("application/json") == true)
        #expect(export.json["format"] == .string("iot-platform.factors"))
        #expect(export.json["version"] == .int(1))
        #expect(export.json["device"]?["agri_id"] == .string(a.agriID))
        #expect(export.json["factors"]?.arrayValue?.compactMap { $0["agri_id"]?.stringValue }
            == ["\(a.agriID)-01", "\(a.agriID)-02", "\(a.agriID)-sub-03"])
        // Export with a JSON null body, as seed 001 shows, works too.
        #expect(try client.request("POST", Self.devicePath(project, pkA) + "export-factors/", rawBody: Array("null".utf8)).status == 200)

        let imported = try Self.importFactors(client, project, pkB, Self.form(file: export.body))
        #expect(imported.status == 200, "\(imported.text)")
        #expect(imported.json["imported"] == .int(3) && imported.json["cleared"] == .int(0))
        let onB = try client.get(Self.factorsPath(project, pkB))
        #expect(Self.agriIDs(onB) == ["\(b.agriID)-01", "\(b.agriID)-02", "\(b.agriID)-sub-03"])
        #expect(onB.json.arrayValue?.compactMap { $0["name"]?.stringValue } == ["temp", "humidity", "co2"])
        // Importing again conflicts; all or nothing: B keeps exactly its three factors, A is untouched.
        let conflict = try Self.importFactors(client, project, pkB, Self.form(file: export.body))
        #expect(conflict.status == 409 && conflict.code == "AGRI_ID_EXISTS")
        #expect(Self.agriIDs(try client.get(Self.factorsPath(project, pkB))) == Self.agriIDs(onB))
        // A partial conflict creates none of the others.
        let ids = (onB.json.arrayValue ?? []).compactMap { $0["id"]?.int64Value }
        #expect(try client.delete(Self.factorsPath(project, pkB) + "\(ids[0])/").status == 204)
        #expect(try Self.importFactors(client, project, pkB, Self.form(file: export.body)).status == 409)
        #expect(Self.agriIDs(try client.get(Self.factorsPath(project, pkB))) == ["\(b.agriID)-02", "\(b.agriID)-sub-03"])
        // clear_existing replaces the device's factors.
        let cleared = try Self.importFactors(client, project, pkB, Self.form(file: export.body, fields: [("clear_existing", "true")]))
        #expect(cleared.status == 200 && cleared.json["cleared"] == .int(2) && cleared.json["imported"] == .int(3))
        #expect(Self.agriIDs(try client.get(Self.factorsPath(project, pkB))) == ["\(b.agriID)-01", "\(b.agriID)-02", "\(b.agriID)-sub-03"])
        #expect(Self.agriIDs(try client.get(Self.factorsPath(project, pkA))) == ["\(a.agriID)-01", "\(a.agriID)-02", "\(a.agriID)-sub-03"])
        #expect(try Self.importFactors(client, project, pkB, Self.form(file: export.body, fields: [("clear_existing", "maybe")])).status == 400)
    }

    @Test func importRejectsBadUploads() throws {
        let server = try Shared.get()
        let client = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let document: JSON = .object(["format": .string("iot-platform.factors"), "version": .int(1),
                                      "device": .object(["agri_id": .string("d-source")]),
                                      "factors": .array([Self.factor("d-source-01")])])
        let good = JSONWriter.bytes(document)
        // Not multipart → 415.
        let json = try client.request("POST", Self.devicePath(project, pk) + "import-factors/", json: document)
        #expect(json.status == 415 && json.code == "UNSUPPORTED_MEDIA_TYPE")
        #expect(try Self.importFactors(client, project, pk, Self.form(file: good), contentType: "text/plain").status == 415)
        // No file part → 400 naming it.
        let noFile = try Self.importFactors(client, project, pk, Self.form(file: nil, fields: [("clear_existing", "false")]))
        #expect(noFile.status == 400 && noFile.code == "VALIDATION_ERROR" && noFile.json["fields"]?["file"] != nil)
        // Broken JSON in the file → 400 MALFORMED_JSON.
        let broken = try Self.importFactors(client, project, pk, Self.form(file: Array("{\"format\": ".utf8)))
        #expect(broken.status == 400 && broken.code == "MALFORMED_JSON")
        // Missing final boundary → 400.
        let open = try Self.importFactors(client, project, pk, Self.form(file: good, closed: false))
        #expect(open.status == 400)
        // No boundary parameter → 400.
        #expect(try Self.importFactors(client, project, pk, Self.form(file: good), contentType: "multipart/form-data").status == 400)
        // A wrong document → 400 VALIDATION_ERROR.
        let foreign = try Self.importFactors(client, project, pk, Self.form(file: JSONWriter.bytes(.object(["format": .string("x")]))))
        #expect(foreign.status == 400 && foreign.code == "VALIDATION_ERROR")
        // An unknown part is named.
        let extra = try Self.importFactors(client, project, pk, Self.form(file: good, fields: [("comment", "hi")]))
        #expect(extra.status == 400 && extra.json["fields"]?["comment"] != nil)
        // A part over 2 MiB (the body itself is under the 10 MiB server limit) → 413.
        let padding = [UInt8](repeating: 0x20, count: 2_097_152 + 10)
        let big = try Self.importFactors(client, project, pk, Self.form(file: good + padding))
        #expect(big.status == 413 && big.code == "PAYLOAD_TOO_LARGE")
        #expect(try client.get(Self.factorsPath(project, pk)).json == .array([]))
        // The same document under 2 MiB with padding is fine (whitespace is valid JSON).
        let fine = try Self.importFactors(client, project, pk, Self.form(file: good + [UInt8](repeating: 0x20, count: 1_000_000)))
        #expect(fine.status == 200, "\(fine.text)")
        #expect(Self.agriIDs(try client.get(Self.factorsPath(project, pk))) == ["\(device.agriID)-01"])
    }

    // MARK: - Modules

    @Test func moduleCatalogImportAndRead() throws {
        let server = try Shared.get()
        let client = server.client()
        let tag = RandomID.make(length: 6).uppercased()
        let directory = TemporaryDirectory("iot-modules")
        defer { directory.remove() }
        let file = directory.file("modules.json")
        func write(_ temps: Int) throws {
            let catalog: JSON = .object(["modules": .array([
                .object(["name": .string("Probe \(tag)"), "model": .string("P-\(tag)"), "factors": .array((0..<temps).map { index in
                    .object(["name": .string("temp\(index)"), "unit": .string("°C"), "function_code": .int(4), "register": .int(index),
                             "scale": .number(0.1), "decimals": .int(1), "sort": .int(index)])
                })]),
                .object(["name": .string("Meter \(tag)"), "model": .string("M-\(tag)"), "factors": .array([
                    .object(["name": .string("voltage"), "register": .int(0), "data_type": .string("float32"), "byte_order": .string("DCBA")]),
                ])]),
            ])])
            try Data(JSONWriter.bytes(catalog)).write(to: URL(fileURLWithPath: file))
        }
        try write(2)
        let first = try runProgram("admin-cli", ["--db", server.databasePath, "modules", "import", file])
        #expect(first.exitCode == 0, "\(first.stderr)")
        #expect(first.stdout.contains("imported 2 modules (2 new, 0 replaced)"), "\(first.stdout)")
        let list = try client.get("/api/v2/modules/")
        #expect(list.status == 200)
        let probe = try #require(list.json.arrayValue?.first { $0["model"] == .string("P-\(tag)") })
        let probeID = try #require(probe["id"]?.int64Value)
        #expect(probe["name"] == .string("Probe \(tag)"))
        #expect(probe["factors"]?.arrayValue?.count == 2)
        let detail = try client.get("/api/v2/modules/\(probeID)/")
        #expect(detail.status == 200 && detail.json["model"] == .string("P-\(tag)"))
        #expect(detail.json["factors"]?.arrayValue?.first?["function_code"] == .int(4))
        #expect(detail.json["factors"]?.arrayValue?.first?["unit"] == .string("°C"))
        // The same models again: replaced, ids kept.
        try write(3)
        let second = try runProgram("admin-cli", ["--db", server.databasePath, "modules", "import", file, "--json"])
        #expect(second.exitCode == 0)
        let counts = try JSONParser.parse(second.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(counts["added"] == .int(0) && counts["replaced"] == .int(2))
        let again = try client.get("/api/v2/modules/\(probeID)/")
        #expect(again.json["id"] == .int64(probeID) && again.json["factors"]?.arrayValue?.count == 3)
        // Unknown ids.
        let missing = try client.get("/api/v2/modules/999999999/")
        #expect(missing.status == 404 && missing.code == "MODULE_NOT_FOUND")
        #expect(try client.get("/api/v2/modules/abc/").code == "MODULE_NOT_FOUND")
        // A broken catalog file fails with exit 1 and changes nothing.
        try Data("{\"modules\": [{\"name\": \"x\"}]}".utf8).write(to: URL(fileURLWithPath: file))
        let bad = try runProgram("admin-cli", ["--db", server.databasePath, "modules", "import", file])
        #expect(bad.exitCode == 1 && !bad.stderr.isEmpty)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "modules", "import", file]).exitCode == 1)
        #expect(try runProgram("admin-cli", ["--db", server.databasePath, "modules", "import"]).exitCode == 2)
        #expect(try client.get("/api/v2/modules/\(probeID)/").json["factors"]?.arrayValue?.count == 3)
    }

    @Test func addModuleCreatesFactorsOnTheNextFreeSuffixes() throws {
        let server = try Shared.get()
        let client = server.client()
        let moduleID = try Self.shippedModule(server, model: "THM-30")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let addPath = Self.devicePath(project, pk) + "add-module/"
        // -01 is taken by hand: the module's two templates take -02 and -03.
        #expect(try client.post(Self.factorsPath(project, pk), Self.factor("\(device.agriID)-01", name: "manual")).status == 201)
        let added = try client.post(addPath, .object(["module_id": .int64(moduleID), "slave_id": .int(7)]))
        #expect(added.status == 201, "\(added.text)")
        #expect(Self.agriIDs(added) == ["\(device.agriID)-02", "\(device.agriID)-03"])
        let items = added.json.arrayValue ?? []
        #expect(items.compactMap { $0["name"]?.stringValue } == ["temp", "humidity"])
        #expect(items.allSatisfy { $0["slave_id"] == .int(7) && $0["function_code"] == .int(4) })
        #expect(items.first?["unit"] == .string("°C") && items.first?["scale"] == .number(0.1))
        // Again with another slave: -04, -05.
        let more = try client.post(addPath, .object(["module_id": .int64(moduleID), "slave_id": .int(8)]))
        #expect(Self.agriIDs(more) == ["\(device.agriID)-04", "\(device.agriID)-05"])
        #expect(try client.get(Self.factorsPath(project, pk)).json.arrayValue?.count == 5)
        // Validation.
        for body: JSON in [.object(["module_id": .int64(moduleID), "slave_id": .int(0)]), .object(["module_id": .int64(moduleID), "slave_id": .int(248)]),
                           .object(["module_id": .int64(moduleID)]), .object(["slave_id": .int(1)]),
                           .object(["module_id": .int64(moduleID), "slave_id": .int(1), "extra": .bool(true)])] {
            let response = try client.post(addPath, body)
            #expect(response.status == 400 && response.code == "VALIDATION_ERROR", "\(body)")
        }
        let missing = try client.post(addPath, .object(["module_id": .int(999_999_999), "slave_id": .int(1)]))
        #expect(missing.status == 404 && missing.code == "MODULE_NOT_FOUND")
        #expect(try client.get(Self.factorsPath(project, pk)).json.arrayValue?.count == 5)
    }

    // MARK: - Authorization

    @Test func authorizationMatrix() throws {
        let server = try Shared.get()
        let admin = server.client()
        let (project, device, pk) = try DeviceAPI.boundDevice(server, admin)
        let moduleID = try Self.shippedModule(server, model: "THM-30")
        let created = try admin.post(Self.factorsPath(project, pk), Self.factor("\(device.agriID)-01"))
        let factorID = try #require(created.json["id"]?.int64Value)
        let factorPath = Self.factorsPath(project, pk) + "\(factorID)/"
        let document = try admin.request("POST", Self.devicePath(project, pk) + "export-factors/").body

        let (_, viewerToken) = try Shared.user(server, role: "viewer")
        let otherProject = try DeviceAPI.project(admin)
        let scopedToken = try DeviceAPI.scopedToken(admin, role: "manager", projects: [otherProject])
        let (_, foreignToken) = try DeviceAPI.organization(server)

        typealias Call = (name: String, write: Bool, run: (HTTPTestClient) throws -> TestResponse)
        let calls: [Call] = [
            ("list", false, { try $0.get(Self.factorsPath(project, pk)) }),
            ("detail", false, { try $0.get(factorPath) }),
            ("export", false, { try $0.request("POST", Self.devicePath(project, pk) + "export-factors/") }),
            ("create", true, { try $0.post(Self.factorsPath(project, pk), Self.factor("\(device.agriID)-09")) }),
            ("patch", true, { try $0.patch(factorPath, .object(["name": .string("renamed")])) }),
            ("delete", true, { try $0.delete(factorPath) }),
            ("import", true, { try Self.importFactors($0, project, pk, Self.form(file: document, fields: [("clear_existing", "true")])) }),
            ("add-module", true, { try $0.post(Self.devicePath(project, pk) + "add-module/", .object(["module_id": .int64(moduleID), "slave_id": .int(1)])) }),
            // Bad bodies: the scope check comes first, so these callers learn nothing from validation.
            ("create-invalid", true, { try $0.post(Self.factorsPath(project, pk), .object(["bogus": .int(1)])) }),
            ("patch-invalid", true, { try $0.patch(factorPath, .object(["slave_id": .int(0)])) }),
            ("import-broken", true, { try Self.importFactors($0, project, pk, Self.form(file: Array("{".utf8), closed: false)) }),
            ("add-module-invalid", true, { try $0.post(Self.devicePath(project, pk) + "add-module/", .object(["slave_id": .int(0)])) }),
        ]
        let viewer = server.client(token: viewerToken)
        let scoped = server.client(token: scopedToken)
        let foreign = server.client(token: foreignToken)
        let anonymous = HTTPTestClient(responder: server.responder)
        for call in calls {
            let asViewer = try call.run(viewer)
            if call.write {
                #expect(asViewer.status == 403 && asViewer.code == "FORBIDDEN", "viewer \(call.name): \(asViewer.status)")
            } else {
                #expect(asViewer.status == 200, "viewer \(call.name): \(asViewer.status)")
            }
            let asScoped = try call.run(scoped)
            #expect(asScoped.status == 403 && asScoped.code == "FORBIDDEN", "scoped \(call.name): \(asScoped.status)")
            let asForeign = try call.run(foreign)
            #expect(asForeign.status == 404 && asForeign.code == "PROJECT_NOT_FOUND", "foreign \(call.name): \(asForeign.status)")
            let asAnonymous = try call.run(anonymous)
            #expect(asAnonymous.status == 401 && asAnonymous.code == "UNAUTHORIZED", "anonymous \(call.name): \(asAnonymous.status)")
        }
        // Device credentials are not accepted by user routes.
        let basic = "Basic " + Data("\(device.deviceID):\(device.key)".utf8).base64EncodedString()
        for path in [Self.factorsPath(project, pk), factorPath, "/api/v2/modules/", "/api/v2/modules/\(moduleID)/"] {
            let asDevice = try anonymous.request("GET", path, headers: [("Authorization", basic)], token: .some(nil))
            #expect(asDevice.status == 401 && asDevice.code == "UNAUTHORIZED", "\(path)")
            #expect(try anonymous.request("GET", path, token: .some(nil)).status == 401, "\(path)")
        }
        // The catalog is readable by any token of any organization.
        #expect(try viewer.get("/api/v2/modules/").status == 200)
        #expect(try foreign.get("/api/v2/modules/\(moduleID)/").status == 200)
        // Nothing changed through the refused writes.
        let after = try admin.get(factorPath)
        #expect(after.json["name"] == .string("temp"))
        #expect(try admin.get(Self.factorsPath(project, pk)).json.arrayValue?.count == 1)
    }
}
