import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

@Suite struct DeviceProvisioningAPITests {
    @Test func provisionPrintsKeysAndLeavesDevicesUnassigned() throws {
        let server = try Shared.get()
        let rows = [DeviceAPI.newRow(capabilities: "SUPPORTS_REBOOT;SUPPORTS_SERIAL"), DeviceAPI.newRow()]
        let result = try DeviceAPI.runProvision(server.databasePath, DeviceAPI.csv(rows))
        #expect(result.exitCode == 0, "\(result.stderr)")
        let issued = try JSONParser.parse(Array(result.stdout.utf8)).arrayValue ?? []
        #expect(issued.map { $0["device_id"]?.stringValue } == rows.map(\.deviceID))
        #expect(issued.allSatisfy { Set($0.objectValue?.keys ?? []) == ["device_id", "device_key"] && ($0["device_key"]?.stringValue?.count ?? 0) > 20 })
        // Unassigned: in no organization's list.
        let all = try server.client().get("/api/v2/devices/?search=\(rows[0].deviceID)")
        #expect(all.status == 200 && all.json == .array([]))
        // Plain output: one line per device with its key.
        let plain = try DeviceAPI.runProvision(server.databasePath, DeviceAPI.csv([DeviceAPI.newRow()]), json: false)
        #expect(plain.exitCode == 0 && plain.stdout.split(separator: "\n").count == 1)
    }

    @Test func aDuplicateDeviceIDIsNamedAndNothingOfTheFileIsApplied() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let existing = try DeviceAPI.provision(server)[0]
        // Already provisioned.
        let fresh = DeviceAPI.newRow()
        let again = try DeviceAPI.runProvision(server.databasePath, DeviceAPI.csv([
            fresh, (existing.deviceID, "AB12", "d-\(RandomID.make(length: 10))", "DTU", ""),
        ]))
        #expect(again.exitCode == 1)
        #expect(again.stderr.contains(existing.deviceID))
        // Twice in one file.
        let twice = DeviceAPI.newRow()
        let other = DeviceAPI.newRow()
        let duplicate = try DeviceAPI.runProvision(server.databasePath, DeviceAPI.csv([
            other, twice, (twice.deviceID, "CD34", "d-\(RandomID.make(length: 10))", "DTU", ""),
        ]))
        #expect(duplicate.exitCode == 1)
        #expect(duplicate.stderr.contains(twice.deviceID))
        #expect(duplicate.stdout.isEmpty)
        // Nothing of either file exists: binding the other rows answers 404.
        let project = try DeviceAPI.project(client)
        for row in [fresh, other, twice] {
            let bind = try client.post("/api/v2/projects/\(project)/devices/bind/", .object([
                "device_id": .string(row.deviceID), "safe_code": .string(row.safeCode),
            ]))
            #expect(bind.status == 404 && bind.code == "DEVICE_NOT_FOUND")
        }
        // Bad files: usage-level problems are failures with a message, never a crash.
        let badHeader = try DeviceAPI.runProvision(server.databasePath, "id,code\n1,2\n")
        #expect(badHeader.exitCode == 1 && badHeader.stderr.contains("header"))
        let missing = try runProgram("admin-cli", ["--db", server.databasePath, "devices", "provision", "/nonexistent/devices.csv"])
        #expect(missing.exitCode != 0)
    }
}

@Suite struct DeviceBindAPITests {
    @Test func unknownIDAndWrongCodeAnswerIdentically() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let project = try DeviceAPI.project(client)
        let device = try DeviceAPI.provision(server)[0]
        let unknown = try client.post("/api/v2/projects/\(project)/devices/bind/", .object([
            "device_id": .string("e2e-no-such-\(RandomID.make(length: 8))"), "safe_code": .string(device.safeCode),
        ]))
        let wrongCode = try client.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(device, code: "ZZ99"))
        #expect(unknown.status == 404 && wrongCode.status == 404)
        #expect(unknown.code == "DEVICE_NOT_FOUND")
        #expect(unknown.code == wrongCode.code && unknown.json["detail"] == wrongCode.json["detail"])
        #expect(unknown.json["fields"] == wrongCode.json["fields"])
        // The right code (in any letter case) binds it.
        let bound = try client.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(device, code: device.safeCode.lowercased()))
        #expect(bound.status == 200)
        #expect(bound.json["device_id"] == .string(device.deviceID))
        #expect(bound.json["project"]?["project_id"] == .string(project))
        #expect(bound.json["bind_time"]?.stringValue != nil)
    }

    @Test func boundElsewhereIs409AndRebindIsIdempotent() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (first, device, pk) = try DeviceAPI.boundDevice(server, client)
        let second = try DeviceAPI.project(client)
        let again = try client.post("/api/v2/projects/\(first)/devices/bind/", DeviceAPI.bindBody(device))
        #expect(again.status == 200 && again.json["id"]?.int64Value == pk)
        let elsewhere = try client.post("/api/v2/projects/\(second)/devices/bind/", DeviceAPI.bindBody(device))
        #expect(elsewhere.status == 409 && elsewhere.code == "DEVICE_ALREADY_BOUND")
        let (_, otherToken) = try DeviceAPI.organization(server)
        let otherClient = server.client(token: otherToken)
        let otherProject = try DeviceAPI.project(otherClient)
        let otherOrg = try otherClient.post("/api/v2/projects/\(otherProject)/devices/bind/", DeviceAPI.bindBody(device))
        #expect(otherOrg.status == 409 && otherOrg.code == "DEVICE_ALREADY_BOUND")
        // Still where it was.
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(first)/devices/")) == [pk])
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(second)/devices/")) == [])
        // Bad bodies.
        let missing = try client.post("/api/v2/projects/\(first)/devices/bind/", .object(["device_id": .string(device.deviceID)]))
        #expect(missing.status == 400 && missing.json["fields"]?["safe_code"] != nil)
        let extra = try client.post("/api/v2/projects/\(first)/devices/bind/", .object([
            "device_id": .string(device.deviceID), "safe_code": .string(device.safeCode), "project": .number(1),
        ]))
        #expect(extra.status == 400 && extra.json["fields"]?["project"] != nil)
    }

    @Test func wrongCodesAreRateLimitedPerDeviceAndPerToken() throws {
        let server = try Shared.get()
        let (_, firstToken) = try Shared.user(server, role: "manager")
        let (_, secondToken) = try Shared.user(server, role: "manager")
        let (_, thirdToken) = try Shared.user(server, role: "manager")
        let first = server.client(token: firstToken)
        let project = try DeviceAPI.project(first)
        let devices = try DeviceAPI.provision(server, count: 2)
        for _ in 0..<5 {
            let wrong = try first.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(devices[0], code: "ZZ99"))
            #expect(wrong.status == 404)
        }
        // Per token: the token that failed five times waits, even for another device with its right code.
        let tokenLimited = try first.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(devices[1]))
        #expect(tokenLimited.status == 429 && tokenLimited.code == "RATE_LIMITED")
        #expect(Int(tokenLimited.header("Retry-After") ?? "") ?? 0 > 0)
        // Per device: another token waits too for that device, even with the right code.
        let second = server.client(token: secondToken)
        let deviceLimited = try second.post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(devices[0]))
        #expect(deviceLimited.status == 429 && deviceLimited.code == "RATE_LIMITED")
        #expect(Int(deviceLimited.header("Retry-After") ?? "") ?? 0 > 0)
        // A third token binds the other device: the limits are narrow.
        #expect(try server.client(token: thirdToken).post("/api/v2/projects/\(project)/devices/bind/", DeviceAPI.bindBody(devices[1])).status == 200)
    }

}

@Suite struct DeviceUnbindAndMoveAPITests {
    @Test func unbindReturnsTheDeviceToTheUnassignedPool() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let posted = try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([("\(device.agriID)-01", 7.5, nil)]))
        #expect(posted.status == 202)
        #expect(try client.get("/api/v2/projects/\(project)/devices/\(pk)/data/").json.arrayValue?.count == 1)
        #expect(try client.patch("/api/v2/projects/\(project)/devices/\(pk)/", .object([
            "device_name": .string("Acme freezer"), "info": .string("Plant 3"), "allow": .bool(false),
        ])).status == 200)
        let unbound = try client.post("/api/v2/projects/\(project)/devices/\(pk)/unbind/", .object([:]))
        #expect(unbound.status == 204 && unbound.body.isEmpty)
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(project)/devices/")) == [])
        #expect(!DeviceAPI.ids(try client.get("/api/v2/devices/")).contains(pk))
        #expect(try client.get("/api/v2/projects/\(project)/devices/\(pk)/").code == "DEVICE_NOT_FOUND")
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/unbind/", .object([:])).status == 404)
        // Another organization binds it and sees none of the earlier values.
        let (_, otherToken) = try DeviceAPI.organization(server)
        let other = server.client(token: otherToken)
        let otherProject = try DeviceAPI.project(other)
        #expect(try DeviceAPI.bind(other, otherProject, device) == pk)
        let latest = try other.get("/api/v2/projects/\(otherProject)/devices/\(pk)/data/")
        #expect(latest.status == 200 && latest.json == .array([]))
        let history = try other.get("/api/v2/projects/\(otherProject)/devices/\(pk)/data/?start=0")
        #expect(history.status == 200 && history.json["results"] == .array([]))
        #expect(DeviceAPI.ids(try other.get("/api/v2/devices/")) == [pk])
        let detail = try other.get("/api/v2/projects/\(otherProject)/devices/\(pk)/")
        #expect(detail.json["project"]?["project_id"] == .string(otherProject))
        // Nor the earlier owner's name and notes; it starts allowed, as provisioned.
        #expect(detail.json["device_name"] == .string("") && detail.json["info"] == .string("") && detail.json["allow"] == .bool(true))
    }

    @Test func setProjectStaysInsideTheOrganizationAndTheTokensScope() throws {
        let server = try Shared.get()
        let (_, token) = try Shared.user(server, role: "manager")
        let client = server.client(token: token)
        let (source, devices) = try DeviceAPI.boundProject(server, client)
        let pk = devices[0].1
        let target = try DeviceAPI.project(client)
        // Warm the cached lists first; the move must show at once.
        _ = try client.get("/api/v2/projects/\(source)/devices/")
        _ = try client.get("/api/v2/projects/\(target)/devices/")
        let moved = try client.post("/api/v2/projects/\(source)/devices/\(pk)/set-project/", .object(["project_id": .string(target)]))
        #expect(moved.status == 200 && moved.json["project"]?["project_id"] == .string(target))
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(source)/devices/")) == [])
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(target)/devices/")) == [pk])
        #expect(DeviceAPI.ids(try client.get("/api/v2/devices/?project_id=\(target)")) == [pk])
        // Target in another organization → 404 PROJECT_NOT_FOUND.
        let (_, otherToken) = try DeviceAPI.organization(server)
        let foreign = try DeviceAPI.project(server.client(token: otherToken))
        let toForeign = try client.post("/api/v2/projects/\(target)/devices/\(pk)/set-project/", .object(["project_id": .string(foreign)]))
        #expect(toForeign.status == 404 && toForeign.code == "PROJECT_NOT_FOUND")
        // Target outside a scoped token's projects → 403.
        let scoped = server.client(token: try DeviceAPI.scopedToken(client, role: "manager", projects: [target]))
        let outside = try scoped.post("/api/v2/projects/\(target)/devices/\(pk)/set-project/", .object(["project_id": .string(source)]))
        #expect(outside.status == 403 && outside.code == "FORBIDDEN")
        // Unknown target, missing body field, unknown field.
        #expect(try client.post("/api/v2/projects/\(target)/devices/\(pk)/set-project/", .object(["project_id": .string("p-none-\(RandomID.make(length: 6))")])).code == "PROJECT_NOT_FOUND")
        let noField = try client.post("/api/v2/projects/\(target)/devices/\(pk)/set-project/", .object([:]))
        #expect(noField.status == 400 && noField.json["fields"]?["project_id"] != nil)
        let unknown = try client.post("/api/v2/projects/\(target)/devices/\(pk)/set-project/", .object(["project_id": .string(source), "x": .number(1)]))
        #expect(unknown.status == 400 && unknown.json["fields"]?["x"] != nil)
        // Nothing moved by the refusals.
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(target)/devices/")) == [pk])
    }
}

@Suite struct DeviceListAPITests {
    @Test func orgListIsFlatAndSearchable() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (projectA, inA) = try DeviceAPI.boundProject(server, client, count: 2)
        let (projectB, inB) = try DeviceAPI.boundProject(server, client)
        let marker = RandomID.make(length: 10)
        let named = inA[1].1
        let informed = inB[0].1
        #expect(try client.patch("/api/v2/projects/\(projectA)/devices/\(named)/", .object(["device_name": .string("Cold-Room \(marker.uppercased())")])).status == 200)
        #expect(try client.patch("/api/v2/projects/\(projectB)/devices/\(informed)/", .object(["info": .string("Walk-in \(marker) FREEZER")])).status == 200)
        let flat = try client.get("/api/v2/devices/")
        #expect(flat.status == 200 && flat.json.arrayValue != nil)
        #expect(Set(DeviceAPI.ids(flat)).isSuperset(of: [inA[0].1, named, informed]))
        #expect(DeviceAPI.ids(try client.get("/api/v2/devices/?search=\(marker)")) == [named, informed])
        #expect(DeviceAPI.ids(try client.get("/api/v2/devices/?search=cold-room%20\(marker)")) == [named])
        #expect(DeviceAPI.ids(try client.get("/api/v2/devices/?search=\(marker)&project_id=\(projectB)")) == [informed])
        #expect(DeviceAPI.ids(try client.get("/api/v2/devices/?search=\(inA[0].0.deviceID.uppercased())")) == [inA[0].1])
        #expect(DeviceAPI.ids(try client.get("/api/v2/devices/?project_id=\(projectA)")) == [inA[0].1, named])
        // Empty filters are no filters (the seed's `?search=&project_id=`).
        let empty = try client.get("/api/v2/devices/?search=&project_id=")
        #expect(empty.status == 200)
        #expect(Set(DeviceAPI.ids(empty)).isSuperset(of: [inA[0].1, named, informed]))
        let unknownProject = try client.get("/api/v2/devices/?project_id=p-none-\(RandomID.make(length: 6))")
        #expect(unknownProject.status == 404 && unknownProject.code == "PROJECT_NOT_FOUND")
    }

    @Test func projectListIsPaginatedAndSearchable() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, devices) = try DeviceAPI.boundProject(server, client, count: 5)
        let pks = devices.map(\.1)
        let first = try client.get("/api/v2/projects/\(project)/devices/?page=1&page_size=2")
        #expect(first.status == 200)
        #expect(first.json["count"] == .number(5))
        #expect(DeviceAPI.ids(first) == Array(pks[0..<2]))
        #expect(first.json["previous"] == .null)
        let next = try #require(first.json["next"]?.stringValue)
        let second = try client.get(DeviceAPI.path(ofLink: next))
        #expect(DeviceAPI.ids(second) == Array(pks[2..<4]))
        #expect(second.json["previous"]?.stringValue != nil)
        let last = try client.get("/api/v2/projects/\(project)/devices/?page=3&page_size=2")
        #expect(DeviceAPI.ids(last) == [pks[4]] && last.json["next"] == .null)
        let defaults = try client.get("/api/v2/projects/\(project)/devices/")
        #expect(DeviceAPI.ids(defaults) == pks && defaults.json["next"] == .null)
        let search = try client.get("/api/v2/projects/\(project)/devices/?search=\(devices[3].0.deviceID)")
        #expect(search.json["count"] == .number(1) && DeviceAPI.ids(search) == [pks[3]])
        #expect(try client.get("/api/v2/projects/\(project)/devices/?page=0").code == "VALIDATION_ERROR")
        #expect(try client.get("/api/v2/projects/\(project)/devices/?page_size=x").status == 400)
    }

    @Test func detailShowsEveryField() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let project = try DeviceAPI.project(client, name: "Cold Chain East")
        let device = try DeviceAPI.provision(server, capabilities: "SUPPORTS_REBOOT")[0]
        let pk = try DeviceAPI.bind(client, project, device)
        let detail = try client.get("/api/v2/projects/\(project)/devices/\(pk)/")
        #expect(detail.status == 200)
        let json = detail.json
        #expect(Set(json.objectValue?.keys ?? []) == ["id", "device_id", "device_name", "info", "allow", "agri_id", "model", "capabilities",
                                                      "create_time", "bind_time", "connect_time", "online", "mqtt_connected_since", "has_thresholds",
                                                      "project"])
        #expect(json["id"]?.int64Value == pk && json["device_id"] == .string(device.deviceID) && json["agri_id"] == .string(device.agriID))
        #expect(json["model"] == .string("DTU-E2E") && json["capabilities"] == .array([.string("SUPPORTS_REBOOT")]))
        #expect(json["allow"] == .bool(true) && json["device_name"] == .string("") && json["info"] == .string(""))
        #expect(json["has_thresholds"] == .bool(false) && json["online"] == .bool(false) && json["connect_time"] == .null)
        #expect(json["project"] == .object(["project_id": .string(project), "name": .string("Cold Chain East")]))
        for field in ["create_time", "bind_time"] {
            let text = json[field]?.stringValue ?? ""
            #expect(Timestamp.parse(text) != nil && text.hasSuffix("Z"), "\(field): \(text)")
        }
        // After telemetry: online, connect_time set.
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(device.agriID, 1, nil)])).status == 202)
        let after = try client.get("/api/v2/projects/\(project)/devices/\(pk)/")
        #expect(after.json["online"] == .bool(true) && after.json["connect_time"]?.stringValue != nil)
        // The same object appears in both lists.
        let inList = try client.get("/api/v2/devices/?project_id=\(project)").json.arrayValue?.first
        #expect(inList == after.json)
        #expect(try client.get("/api/v2/projects/\(project)/devices/").json["results"]?.arrayValue?.first == after.json)
    }

    @Test func patchChangesMetadataAndIsReadBackAtOnce() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, devices) = try DeviceAPI.boundProject(server, client)
        let pk = devices[0].1
        let path = "/api/v2/projects/\(project)/devices/\(pk)/"
        // Warm the caches.
        _ = try client.get("/api/v2/devices/")
        _ = try client.get("/api/v2/projects/\(project)/devices/")
        let patched = try client.patch(path, .object(["device_name": .string("Node #1"), "info": .string("Greenhouse #3 gateway"), "allow": .bool(false)]))
        #expect(patched.status == 200 && patched.json["device_name"] == .string("Node #1") && patched.json["allow"] == .bool(false))
        let fromOrg = try client.get("/api/v2/devices/").json.arrayValue?.first { $0["id"]?.int64Value == pk }
        #expect(fromOrg?["device_name"] == .string("Node #1") && fromOrg?["info"] == .string("Greenhouse #3 gateway"))
        let fromProject = try client.get("/api/v2/projects/\(project)/devices/").json["results"]?.arrayValue?.first
        #expect(fromProject?["allow"] == .bool(false))
        #expect(try client.get(path).json["info"] == .string("Greenhouse #3 gateway"))
        // Partial: only what is sent changes; read-only fields echoed back are ignored.
        let partial = try client.patch(path, .object(["allow": .bool(true), "id": .number(1), "device_id": .string("x"), "project_id": .string("x")]))
        #expect(partial.status == 200 && partial.json["device_name"] == .string("Node #1") && partial.json["allow"] == .bool(true))
        #expect(partial.json["id"]?.int64Value == pk)
        // project → 400 naming it (use set-project).
        let project400 = try client.patch(path, .object(["project": .number(1)]))
        #expect(project400.status == 400 && project400.code == "VALIDATION_ERROR" && project400.json["fields"]?["project"] != nil)
        let unknown = try client.patch(path, .object(["colour": .string("red")]))
        #expect(unknown.status == 400 && unknown.json["fields"]?["colour"] != nil)
        let wrongType = try client.patch(path, .object(["allow": .string("yes"), "info": .number(3)]))
        #expect(wrongType.status == 400 && wrongType.json["fields"]?["allow"] != nil && wrongType.json["fields"]?["info"] != nil)
        #expect(try client.get(path).json["allow"] == .bool(true))
    }
}

@Suite struct DeviceProjectReactionAPITests {
    @Test func trashingAProjectUnbindsItsDevices() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, devices) = try DeviceAPI.boundProject(server, client, count: 2)
        _ = try client.get("/api/v2/devices/")
        #expect(try client.delete("/api/v2/projects/\(project)/").status == 204)
        let all = DeviceAPI.ids(try client.get("/api/v2/devices/"))
        #expect(devices.allSatisfy { !all.contains($0.1) })
        // Restored projects keep their devices unbound; the devices can be bound anywhere.
        #expect(try client.post("/api/v2/projects/\(project)/restore/", .object([:])).status == 200)
        #expect(DeviceAPI.ids(try client.get("/api/v2/projects/\(project)/devices/")) == [])
        let next = try DeviceAPI.project(client)
        #expect(try DeviceAPI.bind(client, next, devices[0].0) == devices[0].1)
    }

    @Test func transferMovesTheDevicesToTheOtherOrganization() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(device.agriID, 1, 1_700_000_000)])).status == 202)
        let (slug, otherToken) = try DeviceAPI.organization(server)
        let other = server.client(token: otherToken)
        _ = try other.get("/api/v2/devices/")
        _ = try client.get("/api/v2/devices/")
        let moved = try client.post("/api/v2/projects/\(project)/transfer/", .object(["target_org_slug": .string(slug)]))
        #expect(moved.status == 200, "\(moved.text)")
        #expect(DeviceAPI.ids(try other.get("/api/v2/devices/")) == [pk])
        #expect(!DeviceAPI.ids(try client.get("/api/v2/devices/")).contains(pk))
        #expect(try client.get("/api/v2/projects/\(project)/devices/\(pk)/").code == "PROJECT_NOT_FOUND")
        let detail = try other.get("/api/v2/projects/\(project)/devices/\(pk)/")
        #expect(detail.status == 200 && detail.json["project"]?["project_id"] == .string(project))
        // Its history went along.
        let history = try other.get("/api/v2/projects/\(project)/devices/\(pk)/data/?start=0")
        #expect(history.json["results"]?.arrayValue?.count == 1)
    }

    @Test func hardDeleteRemovesTheTelemetry() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let t: Int64 = 1_700_000_000
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(device.agriID, 1, t)])).status == 202)
        #expect(try client.request("DELETE", "/api/v2/projects/\(project)/?hard=true").status == 204)
        #expect(try client.get("/api/v2/projects/\(project)/").status == 404)
        // Bound elsewhere (same organization), the device shows no trace of the purged project's points.
        let next = try DeviceAPI.project(client)
        #expect(try DeviceAPI.bind(client, next, device) == pk)
        let history = try client.get("/api/v2/projects/\(next)/devices/\(pk)/data/?start=0")
        #expect(history.status == 200 && history.json["results"] == .array([]))
    }

    @Test func projectCountsReflectBoundAndOnlineDevices() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let name = "Counts \(RandomID.make(length: 10))"
        let project = try DeviceAPI.project(client, name: name)
        let devices = try DeviceAPI.provision(server, count: 3).map { ($0, try DeviceAPI.bind(client, project, $0)) }
        func counts() throws -> (JSON?, JSON?) {
            let json = try client.get("/api/v2/projects/\(project)/").json
            return (json["device_count"], json["offline_device_count"])
        }
        #expect(try counts() == (.number(3), .number(3)))
        let (device, pk) = devices[0]
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(pk)/data/", DeviceAPI.points([(device.agriID, 1, nil)])).status == 202)
        #expect(try counts() == (.number(3), .number(2)))
        let listed = try client.get("/api/v2/projects/?search=\(name.replacingOccurrences(of: " ", with: "%20"))").json["results"]?.arrayValue?.first { $0["project_id"] == .string(project) }
        #expect(listed?["device_count"] == .number(3) && listed?["offline_device_count"] == .number(2))
        #expect(try client.post("/api/v2/projects/\(project)/devices/\(devices[1].1)/unbind/", .object([:])).status == 204)
        #expect(try counts() == (.number(2), .number(1)))
    }
}

@Suite struct DeviceTelemetryAPITests {
    @Test func postAcceptsDropsAndDefaultsT() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let before = Int64(Date().timeIntervalSince1970)
        let posted = try client.post(path, .array([
            .object(["agri_id": .string("\(device.agriID)-01"), "value": .number(24.3), "t": .number(1_708_070_400)]),
            .object(["agri_id": .string("\(device.agriID)-02"), "value": .number(68.2)]),
            .object(["agri_id": .string("d-1000-abcd-01"), "value": .number(1)]),
        ]))
        #expect(posted.status == 202)
        #expect(posted.json == .object(["accepted": .number(2), "dropped": .number(1)]))
        let latest = try client.get(path)
        #expect(latest.status == 200)
        let values = latest.json.arrayValue ?? []
        #expect(values.count == 2)
        #expect(values.first == .object(["agri_id": .string("\(device.agriID)-01"), "value": .number(24.3), "t": .number(1_708_070_400)]))
        let defaulted = values.last?["t"]?.int64Value ?? 0
        #expect(defaulted >= before && defaulted <= Int64(Date().timeIntervalSince1970) + 1)
        // Newer values replace older ones at once; an older t does not.
        #expect(try client.post(path, DeviceAPI.points([("\(device.agriID)-01", 25, 1_708_070_500), ("\(device.agriID)-01", 1, 1_000)])).status == 202)
        #expect(try client.get(path).json.arrayValue?.first?["value"] == .number(25))
        // An empty array is a valid (empty) request.
        #expect(try client.post(path, .array([])).json == .object(["accepted": .number(0), "dropped": .number(0)]))
        let detail = try client.get("/api/v2/projects/\(project)/devices/\(pk)/")
        #expect(detail.json["online"] == .bool(true))
    }

    @Test func disallowedDevicesAndTooManyPointsAreRefused() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let tooMany = DeviceAPI.points((0...10_000).map { ("\(device.agriID)-01", 1, Int64($0)) })
        let large = try client.post(path, tooMany)
        #expect(large.status == 413 && large.code == "PAYLOAD_TOO_LARGE")
        let atLimit = DeviceAPI.points((0..<10_000).map { ("\(device.agriID)-01", Double($0), Int64(1_600_000_000 + $0)) })
        let accepted = try client.post(path, atLimit)
        #expect(accepted.status == 202 && accepted.json["accepted"] == .number(10_000))
        #expect(try client.patch("/api/v2/projects/\(project)/devices/\(pk)/", .object(["allow": .bool(false)])).status == 200)
        let refused = try client.post(path, DeviceAPI.points([(device.agriID, 1, nil)]))
        #expect(refused.status == 403 && refused.code == "FORBIDDEN")
    }

    @Test func historyHonoursTheRangeAndPagesWithACursor() throws {
        let server = try Shared.get()
        let client = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, client)
        let path = "/api/v2/projects/\(project)/devices/\(pk)/data/"
        let base: Int64 = 1_704_708_000   // 2024-01-08T10:00:00Z
        var items: [(String, Double, Int64?)] = []
        for i in Int64(0)..<60 {
            items.append(("\(device.agriID)-01", Double(i), base + i))
            items.append(("\(device.agriID)-02", Double(-i), base + i))
        }
        #expect(try client.post(path, DeviceAPI.points(items)).status == 202)
        // Unix seconds: start inclusive, end exclusive.
        let range = try client.get("\(path)?agri_id=\(device.agriID)-01&start=\(base + 10)&end=\(base + 20)")
        #expect(range.status == 200)
        let ts = range.json["results"]?.arrayValue?.compactMap { $0["t"]?.int64Value } ?? []
        #expect(ts == Array((base + 10)..<(base + 20)))
        #expect(range.json["next"] == .null)
        #expect(range.json["results"]?.arrayValue?.first == .object(["agri_id": .string("\(device.agriID)-01"), "value": .number(10), "t": .number(Double(base + 10))]))
        // RFC 3339 bounds name the same instants.
        let rfc = try client.get("\(path)?agri_id=\(device.agriID)-01&start=2024-01-08T10:00:10Z&end=2024-01-08T10:00:20Z")
        #expect(rfc.json["results"]?.arrayValue?.compactMap { $0["t"]?.int64Value } == ts)
        // Fractional bounds: start inclusive and end exclusive still hold.
        let fractional = try client.get("\(path)?agri_id=\(device.agriID)-01&start=\(base + 10).5&end=\(base + 20).5")
        #expect(fractional.json["results"]?.arrayValue?.compactMap { $0["t"]?.int64Value } == Array((base + 11)...(base + 20)))
        // Paging over both channels with a cursor: every point once.
        var seen: [String] = []
        var next: String? = "\(path)?start=\(base)&end=\(base + 60)&limit=7"
        var pages = 0
        while let link = next, pages < 50 {
            let page = try client.get(DeviceAPI.path(ofLink: link))
            #expect(page.status == 200)
            for point in page.json["results"]?.arrayValue ?? [] {
                seen.append("\(point["agri_id"]?.stringValue ?? "")@\(point["t"]?.int64Value ?? 0)")
            }
            next = page.json["next"]?.stringValue
            pages += 1
        }
        #expect(seen.count == 120 && Set(seen).count == 120 && pages == 18)
        // Bad history queries are 400s.
        for query in ["start=soon", "end=0&start=10", "limit=0", "limit=x", "cursor=bogus", "agri_id=", "start=1e5"] {
            let bad = try client.get("\(path)?\(query)")
            #expect(bad.status == 400 && bad.code == "VALIDATION_ERROR", "\(query): \(bad.status) \(bad.text)")
        }
    }

}

@Suite struct DeviceAuthorizationAPITests {
    /// Every device route, as (method, path, body) for a device `pk` in `project`.
    static func routes(_ project: String, _ pk: Int64, _ device: DeviceAPI.Device, target: String) -> [(String, String, JSON?)] {
        let base = "/api/v2/projects/\(project)/devices"
        return [
            ("GET", "\(base)/", nil),
            ("GET", "\(base)/\(pk)/", nil),
            ("GET", "\(base)/\(pk)/data/", nil),
            ("GET", "\(base)/\(pk)/data/?start=0", nil),
            ("PATCH", "\(base)/\(pk)/", .object(["info": .string("x")])),
            ("POST", "\(base)/bind/", DeviceAPI.bindBody(device)),
            ("POST", "\(base)/\(pk)/data/", DeviceAPI.points([(device.agriID, 1, nil)])),
            ("POST", "\(base)/\(pk)/set-project/", .object(["project_id": .string(target)])),
            ("POST", "\(base)/\(pk)/unbind/", .object([:])),
        ]
    }

    @Test func viewersReadButDoNotWrite() throws {
        let server = try Shared.get()
        let (_, managerToken) = try Shared.user(server, role: "manager")
        let (_, viewerToken) = try Shared.user(server, role: "viewer")
        let manager = server.client(token: managerToken)
        let viewer = server.client(token: viewerToken)
        let (project, device, pk) = try DeviceAPI.boundDevice(server, manager)
        let target = try DeviceAPI.project(manager)
        for (method, path, body) in Self.routes(project, pk, device, target: target) {
            let response = try viewer.request(method, path, json: body)
            if method == "GET" {
                #expect(response.status == 200, "\(method) \(path): \(response.status)")
            } else {
                #expect(response.status == 403 && response.code == "FORBIDDEN", "\(method) \(path): \(response.status)")
            }
        }
        #expect(DeviceAPI.ids(try viewer.get("/api/v2/devices/")).contains(pk))
        // Nothing changed.
        let detail = try manager.get("/api/v2/projects/\(project)/devices/\(pk)/")
        #expect(detail.json["info"] == .string("") && detail.json["project"]?["project_id"] == .string(project))
    }

    @Test func aScopedTokenSeesOnlyItsProjects() throws {
        let server = try Shared.get()
        let manager = try server.client(asNewUser: "manager")
        let (projectA, inA) = try DeviceAPI.boundProject(server, manager)
        let (projectB, inB) = try DeviceAPI.boundProject(server, manager)
        let scoped = server.client(token: try DeviceAPI.scopedToken(manager, role: "manager", projects: [projectA]))
        let (deviceB, pkB) = inB[0]
        for (method, path, body) in Self.routes(projectB, pkB, deviceB, target: projectA) {
            let response = try scoped.request(method, path, json: body)
            #expect(response.status == 403 && response.code == "FORBIDDEN", "\(method) \(path): \(response.status)")
        }
        #expect(DeviceAPI.ids(try scoped.get("/api/v2/devices/")) == [inA[0].1])
        #expect(try scoped.get("/api/v2/devices/?project_id=\(projectB)").status == 403)
        #expect(DeviceAPI.ids(try scoped.get("/api/v2/devices/?project_id=\(projectA)")) == [inA[0].1])
        // Its own project works for reads and writes.
        #expect(try scoped.get("/api/v2/projects/\(projectA)/devices/\(inA[0].1)/").status == 200)
        #expect(try scoped.post("/api/v2/projects/\(projectA)/devices/\(inA[0].1)/data/", DeviceAPI.points([(inA[0].0.agriID, 1, nil)])).status == 202)
        // B's device is untouched.
        let detail = try manager.get("/api/v2/projects/\(projectB)/devices/\(pkB)/")
        #expect(detail.json["info"] == .string("") && detail.json["connect_time"] == .null)
    }

    @Test func anotherOrganizationGets404Everywhere() throws {
        let server = try Shared.get()
        let manager = try server.client(asNewUser: "manager")
        let (project, device, pk) = try DeviceAPI.boundDevice(server, manager)
        let (_, otherToken) = try DeviceAPI.organization(server)
        let other = server.client(token: otherToken)
        let otherProject = try DeviceAPI.project(other)
        for (method, path, body) in Self.routes(project, pk, device, target: otherProject) {
            let response = try other.request(method, path, json: body)
            #expect(response.status == 404 && response.code == "PROJECT_NOT_FOUND", "\(method) \(path): \(response.status)")
            #expect(!response.text.contains(device.deviceID))
        }
        #expect(!DeviceAPI.ids(try other.get("/api/v2/devices/")).contains(pk))
        #expect(try other.get("/api/v2/devices/?project_id=\(project)").status == 404)
        // The other org's own project does not reach our device either.
        #expect(try other.get("/api/v2/projects/\(otherProject)/devices/\(pk)/").code == "DEVICE_NOT_FOUND")
        // Without a token: 401.
        #expect(try server.client(token: nil).request("GET", "/api/v2/devices/", token: .some(nil)).status == 401)
        #expect(try server.client(token: nil).request("GET", "/api/v2/projects/\(project)/devices/", token: .some(nil)).status == 401)
    }
}
