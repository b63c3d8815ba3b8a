import Core
import Foundation
import Testing
import TestSupport


/// Devices checks that need the real binary: its log file and its socket-level limits.
@Suite struct DeviceWiringTests {
    @Test func safeCodesAndDeviceKeysNeverLeak() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let project = try DeviceAPI.project(client)
        let device = try DeviceAPI.provision(server)[0]
        var bodies: [String] = []
        let wrong = try client.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(device, code: "QQ77"))
        bodies.append(wrong.text)
        let bind = try client.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(device))
        bodies.append(bind.text)
        let pk = try #require(bind.json["id"]?.int64Value)
        let patched = try client.patch("/api/v2/projects/\(project)/devices/\(pk)/", .object(["info": .string("label photo")]))
        bodies.append(patched.text)
        for path in ["/api/v2/projects/\(project)/devices/\(pk)/", "/api/v2/projects/\(project)/devices/", "/api/v2/devices/",
                     "/api/v2/devices/?project_id=\(project)", "/api/v2/projects/\(project)/devices/\(pk)/data/"] {
            let response = try client.get(path)
            #expect(response.status == 200, "\(path)")
            bodies.append(response.text)
        }
        for body in bodies {
            #expect(!DeviceAPI.containsToken(body, device.safeCode))
            #expect(!body.contains(device.key))
            #expect(!body.contains("safe_code") && !body.contains("device_key"))
        }
        let log = server.log
        #expect(!DeviceAPI.containsToken(log, device.safeCode))
        #expect(!DeviceAPI.containsToken(log, "QQ77"))
        #expect(!log.contains(device.key))
    }

    @Test func badInputIsNeverA500() throws {
        let server = try Shared.get()
        let (_, token) = try Shared.user(server, role: "manager")
        let client = server.client(token: token)
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        func raw(_ text: String, contentType: String = "application/json") throws -> TestResponse {
            try client.request("POST", path, rawBody: Array(text.utf8), headers: [("Content-Type", contentType)])
        }
        let validation: [String] = [
            #"{"agri_id": "\#(device.agriID)", "value": 1}"#, #""text""#, "42", "null", "true",
            #"[{"agri_id": "\#(device.agriID)", "value": "hot"}]"#, #"[{"agri_id": 7, "value": 1}]"#,
            #"[{"agri_id": "\#(device.agriID)", "value": 1, "t": "soon"}]"#, #"[{"agri_id": "\#(device.agriID)", "value": 1, "t": 1.5}]"#,
            #"[{"agri_id": "\#(device.agriID)", "value": 1, "t": -1}]"#, #"[{"agri_id": "\#(device.agriID)", "value": 1, "t": 1e300}]"#,
            #"[{"agri_id": "\#(device.agriID)"}]"#, #"[[1, 2]]"#, #"[{"agri_id": "\#(device.agriID)", "value": null}]"#,
            #"[{"agri_id": "\#(device.agriID)", "value": 1, "colour": "red"}]"#,
        ]
        for body in validation {
            let response = try raw(body)
            #expect(response.status == 400 && response.code == "VALIDATION_ERROR", "\(body): \(response.status) \(response.text)")
        }
        for body in [#"[{"agri_id": "\#(device.agriID)", "value": NaN}]"#, #"[{"agri_id": "\#(device.agriID)", "value": Infinity}]"#,
                     #"[{"agri_id": "\#(device.agriID)", "value": -Infinity}]"#, "[", #"[{"agri_id": "x", "value": 1},]"#, "", "\u{FF}"] {
            let response = try raw(body)
            #expect(response.status == 400 && response.code == "MALFORMED_JSON", "\(body): \(response.status) \(response.text)")
        }
        let wrongType = try raw("[]", contentType: "text/plain")
        #expect(wrongType.status == 415 && wrongType.code == "UNSUPPORTED_MEDIA_TYPE")
        // A body above the server's limit (10 MiB) is 413 too.
        let huge = try DeviceAPI.rawStatus(port: server.port, """
            POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n\
            Content-Length: \(11 * 1024 * 1024)\r\n\r\n
            """)
        #expect(huge == 413)
        // Unknown, foreign and malformed device pks.
        let fresh = server.client(token: token)
        let unknown = try fresh.post("/api/v2/projects/\(project)/devices/999999999/data/", .array([]))
        #expect(unknown.status == 404 && unknown.code == "DEVICE_NOT_FOUND")
        for pkText in ["abc", "0", "-1", "1.5", "99999999999999999999999"] {
            let response = try fresh.post("/api/v2/projects/\(project)/devices/\(pkText)/data/", .array([]))
            #expect(response.status == 404, "\(pkText): \(response.status)")
            #expect(try fresh.get("/api/v2/projects/\(project)/devices/\(pkText)/").status == 404)
        }
        let (otherProject, otherDevices) = try DeviceAPI.boundProject(server, fresh)
        let foreignDevice = try fresh.post("/api/v2/projects/\(project)/devices/\(otherDevices[0].1)/data/", .array([]))
        #expect(foreignDevice.status == 404 && foreignDevice.code == "DEVICE_NOT_FOUND")
        #expect(try fresh.get("/api/v2/projects/\(otherProject)/devices/\(pk)/").code == "DEVICE_NOT_FOUND")
        let (_, otherOrgToken) = try DeviceAPI.organization(server)
        let otherOrg = server.client(token: otherOrgToken)
        let foreignProject = try DeviceAPI.project(otherOrg)
        let other = try fresh.post("/api/v2/projects/\(foreignProject)/devices/\(pk)/data/", .array([]))
        #expect(other.status == 404 && other.code == "PROJECT_NOT_FOUND")
        // Nothing was stored by any of it, and the server is still healthy.
        #expect(try fresh.get(path).json == .array([]))
        #expect(try fresh.get("/healthz").status == 200)
        let errors = server.log.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }.filter {
            ($0["status"]?.int64Value ?? 0) >= 500 && ($0["path"]?.stringValue?.contains(project) ?? false)
        }
        #expect(errors.isEmpty, "\(errors)")
    }
}
