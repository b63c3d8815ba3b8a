@testable import Devices
import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Synchronization
import Testing
import TestSupport

@Suite struct DeviceProvisioningTests {
    @Test func provisionedDevicesAreUnassignedAndInNoList() throws {
        let fixture = try PlatformFixture()
        let issued = try fixture.provision(3, capabilities: ["SUPPORTS_REBOOT"])
        #expect(Set(issued.map(\.key)).count == 3)
        #expect(issued.allSatisfy { $0.key.hasPrefix("dk_") && $0.key.count > 20 })
        for user in ["alice", "gina"] { #expect(try fixture.devices.list(caller: fixture.caller(user), search: nil, projectID: nil).isEmpty) }
        let stored = try fixture.db.read { try DeviceStore(db: $0).device(deviceID: issued[0].deviceID) }
        #expect(stored?.projectPK == nil && stored?.organizationID == nil && stored?.bindTime == nil)
        #expect(stored?.capabilities == ["SUPPORTS_REBOOT"] && stored?.allow == true)
        // Secrets are stored only hashed.
        let raw = try fixture.db.read { try $0.queryOne("SELECT safe_code_hash, device_key_hash FROM devices WHERE device_id = ?", [issued[0].deviceID]) }
        #expect(raw?.string(0) != issued[0].safeCode && raw?.string(1) != issued[0].key)
        #expect(raw?.string(1) == Secrets.sha256Hex(issued[0].key))
    }

    @Test func reprovisioningNamesTheDeviceAndAppliesNothing() throws {
        let fixture = try PlatformFixture()
        let existing = try fixture.provision(1)[0]
        let batch = [ProvisionedDevice(deviceID: "new-device-1", safeCode: "AB12", agriID: "d-new-1", model: "m", capabilities: []),
                     ProvisionedDevice(deviceID: existing.deviceID, safeCode: "AB12", agriID: "d-new-2", model: "m", capabilities: [])]
        let error = apiError { _ = try fixture.devices.provision(batch) }
        #expect(error?.status == 409)
        #expect(error?.detail.contains(existing.deviceID) == true)
        #expect(try fixture.db.read { try DeviceStore(db: $0).device(deviceID: "new-device-1") } == nil)
    }

    @Test func agriIDsMayNotNestWithExistingOnesNorWithinTheFile() throws {
        let fixture = try PlatformFixture()
        _ = try fixture.devices.provision([ProvisionedDevice(deviceID: "a1", safeCode: "AB12", agriID: "d-1000-abcd", model: "m", capabilities: [])])
        for nested in ["d-1000-abcd", "d-1000-abcd-01", "d-1000"] {
            let error = apiError {
                _ = try fixture.devices.provision([ProvisionedDevice(deviceID: "b-\(nested)", safeCode: "AB12", agriID: nested, model: "m",
                                                                     capabilities: [])])
            }
            #expect(error?.code == "AGRI_ID_EXISTS", "\(nested)")
        }
        // Two rows of one file that nest with each other: one device's telemetry would pass the other's prefix check.
        let file = [ProvisionedDevice(deviceID: "c1", safeCode: "AB12", agriID: "d-2000", model: "m", capabilities: []),
                    ProvisionedDevice(deviceID: "c2", safeCode: "AB12", agriID: "d-2000-01", model: "m", capabilities: [])]
        let error = apiError { _ = try fixture.devices.provision(file) }
        #expect(error?.status == 409 || error?.status == 400)
        #expect(error?.detail.contains("d-2000") == true)
        #expect(try fixture.db.read { try DeviceStore(db: $0).device(deviceID: "c1") } == nil)
    }

    @Test func csvIsValidatedAsAWhole() throws {
        let good = try ProvisionedDevice.parseCSV("""
            device_id,safe_code,agri_id,model,capabilities
            868686000123456,8K2P,d-1000-abcd,DTU-100,SUPPORTS_REBOOT;SUPPORTS_SERIAL
            868686000123457,9X3Q,d-1000-abce,DTU-100,

            """)
        #expect(good.count == 2)
        #expect(good[0].capabilities == ["SUPPORTS_REBOOT", "SUPPORTS_SERIAL"] && good[1].capabilities == [])
        func problem(_ text: String) -> (any PlatformError)? { apiError { _ = try ProvisionedDevice.parseCSV(text) } }
        let duplicate = problem("""
            device_id,safe_code,agri_id,model,capabilities
            868686000123456,8K2P,d-1000-abcd,DTU-100,
            868686000123456,9X3Q,d-1000-abce,DTU-100,
            """)
        #expect(duplicate?.code == "VALIDATION_ERROR")
        #expect(duplicate?.fields.values.contains { $0.contains("868686000123456") } == true)
        #expect(problem("id,code\n1,2")?.fields["file"] != nil)
        #expect(problem("device_id,safe_code,agri_id,model,capabilities\n")?.fields["file"] != nil)
        #expect(problem("device_id,safe_code,agri_id,model,capabilities\nx,TOOLONG,d-1000,m,\n")?.fields["line 2"] != nil)
        #expect(problem("device_id,safe_code,agri_id,model,capabilities\nx,AB12,D-UPPER,m,\n")?.fields["line 2"] != nil)
        #expect(problem("device_id,safe_code,agri_id,model,capabilities\nx,AB12,d-1000,m\n")?.fields["line 2"] != nil)
    }
}

@Suite struct DeviceBindTests {
    @Test func bindJoinsTheProjectAndOrganization() throws {
        let fixture = try PlatformFixture()
        let device = try fixture.provision(1)[0]
        let bob = try fixture.caller("bob")
        let view = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: device.safeCode.lowercased(), caller: bob)
        #expect(view.project?.projectID == "alpha" && view.device.bindTime == Timestamp.format(fixture.clock.now()))
        #expect(view.online == false && view.hasThresholds == false)
        #expect(try fixture.devices.list(caller: bob, search: nil, projectID: nil).map(\.device.id) == [view.device.id])
        #expect(try fixture.devices.list(caller: fixture.caller("gina"), search: nil, projectID: nil).isEmpty)
    }

    @Test func unknownIDAndWrongCodeAreTheSameAnswer() throws {
        let fixture = try PlatformFixture()
        let device = try fixture.provision(1)[0]
        let alice = try fixture.caller("alice")
        let unknown = apiError { _ = try fixture.devices.bind(projectID: "alpha", deviceID: "no-such-device", safeCode: "AB12", caller: alice) }
        let wrong = apiError { _ = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: "ZZ99", caller: alice) }
        #expect(unknown?.status == 404 && unknown?.code == "DEVICE_NOT_FOUND")
        #expect(unknown?.code == wrong?.code && unknown?.detail == wrong?.detail && unknown?.status == wrong?.status)
    }

    @Test func boundElsewhereIs409AndRebindingToTheSameProjectIsIdempotent() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha")
        let alice = try fixture.caller("alice")
        let again = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: device.safeCode, caller: alice)
        #expect(again.device.id == pk && again.project?.projectID == "alpha")
        let other = apiError { _ = try fixture.devices.bind(projectID: "beta", deviceID: device.deviceID, safeCode: device.safeCode, caller: alice) }
        #expect(other?.status == 409 && other?.code == "DEVICE_ALREADY_BOUND")
        let otherOrg = apiError {
            _ = try fixture.devices.bind(projectID: "gamma", deviceID: device.deviceID, safeCode: device.safeCode, caller: fixture.caller("gina"))
        }
        #expect(otherOrg?.status == 409)
    }

    @Test func bindNeedsAManagerInScope() throws {
        let fixture = try PlatformFixture()
        let device = try fixture.provision(1)[0]
        #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: device.safeCode,
                                                      caller: fixture.caller("carol")) } == 403)
        #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: device.deviceID, safeCode: device.safeCode,
                                                      caller: fixture.caller("bob", TokenRequest(projects: ["beta"]))) } == 403)
        let foreign = apiError { _ = try fixture.devices.bind(projectID: "gamma", deviceID: device.deviceID, safeCode: device.safeCode,
                                                              caller: fixture.caller("alice")) }
        #expect(foreign?.status == 404 && foreign?.code == "PROJECT_NOT_FOUND")
    }

    @Test func wrongCodesAreLimitedPerDeviceAndPerToken() throws {
        let fixture = try PlatformFixture(config: ["devices.bind_max_failures": "3", "devices.bind_window": "600"])
        let devices = try fixture.provision(2)
        let first = try fixture.caller("alice")
        for _ in 0..<3 { #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: devices[0].deviceID, safeCode: "ZZ99", caller: first) } == 404) }
        // Per device: even another token with the right code waits.
        let limited = apiError {
            _ = try fixture.devices.bind(projectID: "alpha", deviceID: devices[0].deviceID, safeCode: devices[0].safeCode, caller: fixture.caller("bob"))
        }
        #expect(limited?.status == 429 && limited?.code == "RATE_LIMITED")
        #expect(Int(limited?.headers.first { $0.0 == "Retry-After" }?.1 ?? "") ?? 0 > 0)
        // Per token: the same token is blocked on another device too.
        #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: devices[1].deviceID, safeCode: devices[1].safeCode, caller: first) } == 429)
        // An unrelated token binds the other device.
        #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: devices[1].deviceID, safeCode: devices[1].safeCode,
                                                      caller: fixture.caller("bob")) } == 200)
        // After the window, the device binds again.
        fixture.clock.advance(by: 601)
        #expect(status { _ = try fixture.devices.bind(projectID: "alpha", deviceID: devices[0].deviceID, safeCode: devices[0].safeCode, caller: first) } == 200)
    }
}

@Suite struct DeviceUnbindAndMoveTests {
    @Test func unbindReturnsTheDeviceToThePoolAndForgetsItsLatestValues() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha")
        let alice = try fixture.caller("alice")
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([("\(device.agriID)-01", 21.5, nil)]))
        #expect(try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice).count == 1)
        _ = try fixture.devices.update(projectID: "alpha", pk: pk, caller: alice, deviceName: "Acme freezer", info: "Plant 3, aisle 9", allow: false)
        try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: alice)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).isEmpty)
        #expect(status { _ = try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice) } == 404)
        let stored = try fixture.db.read { try DeviceStore(db: $0).device(pk: pk) }
        #expect(stored?.projectPK == nil && stored?.organizationID == nil && stored?.bindTime == nil)
        // The next owner (another organization) binds it and sees none of the old values.
        let gina = try fixture.caller("gina")
        let rebound = try fixture.devices.bind(projectID: "gamma", deviceID: device.deviceID, safeCode: device.safeCode, caller: gina)
        #expect(rebound.device.deviceName == "" && rebound.device.info == "" && rebound.device.allow)
        #expect(try fixture.devices.latest(projectID: "gamma", pk: pk, caller: gina).isEmpty)
        #expect(try fixture.devices.history(projectID: "gamma", pk: pk, caller: gina, agriID: nil, start: 0, end: Int64(1e11), cursor: nil,
                                            limit: 100).points.isEmpty)
        #expect(try fixture.devices.list(caller: gina, search: nil, projectID: nil).map(\.device.id) == [pk])
        // Unbinding a device of another project (or twice) is 404.
        #expect(status { try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: alice) } == 404)
    }

    @Test func setProjectMovesWithinTheOrganizationAndTheTokensScope() throws {
        let fixture = try PlatformFixture()
        let (_, pk) = try fixture.bound(to: "alpha")
        let alice = try fixture.caller("alice")
        #expect(try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).count == 1)
        let moved = try fixture.devices.setProject(projectID: "alpha", pk: pk, targetProjectID: "beta", caller: alice)
        #expect(moved.project?.projectID == "beta")
        #expect(try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).count == 0)
        #expect(try fixture.devices.list(projectID: "beta", caller: alice, search: nil, page: PageRequest()).items.map(\.device.id) == [pk])
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: "beta").map(\.device.id) == [pk])
        let foreign = apiError { _ = try fixture.devices.setProject(projectID: "beta", pk: pk, targetProjectID: "gamma", caller: alice) }
        #expect(foreign?.status == 404 && foreign?.code == "PROJECT_NOT_FOUND")
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["beta"]))
        #expect(status { _ = try fixture.devices.setProject(projectID: "beta", pk: pk, targetProjectID: "alpha", caller: scoped) } == 403)
        #expect(status { _ = try fixture.devices.setProject(projectID: "beta", pk: pk, targetProjectID: "alpha", caller: fixture.caller("carol")) } == 403)
        // Nothing moved by the refused attempts.
        #expect(try fixture.devices.detail(projectID: "beta", pk: pk, caller: alice).project?.projectID == "beta")
    }
}

@Suite struct DeviceListTests {
    @Test func searchMatchesDeviceIDNameAndInfoCaseInsensitively() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (a, pkA) = try fixture.bound(to: "alpha")
        let (_, pkB) = try fixture.bound(to: "alpha")
        let (_, pkC) = try fixture.bound(to: "beta")
        _ = try fixture.devices.update(projectID: "alpha", pk: pkB, caller: alice, deviceName: "Cold-Room Node", info: nil, allow: nil)
        _ = try fixture.devices.update(projectID: "beta", pk: pkC, caller: alice, deviceName: nil, info: "Walk-in FREEZER", allow: nil)
        func ids(_ search: String?, _ project: String? = nil) throws -> [Int64] {
            try fixture.devices.list(caller: alice, search: search, projectID: project).map(\.device.id)
        }
        #expect(try ids(nil) == [pkA, pkB, pkC])
        #expect(try ids("cold-room") == [pkB])
        #expect(try ids("freezer") == [pkC])
        #expect(try ids(String(a.deviceID.suffix(6))) == [pkA])
        #expect(try ids("%") == [])
        #expect(try ids("") == [pkA, pkB, pkC])
        #expect(try ids(nil, "beta") == [pkC])
        #expect(try ids("COLD", "alpha") == [pkB])
        // A scoped token sees only its projects' devices.
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["beta"]))
        #expect(try fixture.devices.list(caller: scoped, search: nil, projectID: nil).map(\.device.id) == [pkC])
        #expect(status { _ = try fixture.devices.list(caller: scoped, search: nil, projectID: "alpha") } == 403)
        let foreign = apiError { _ = try fixture.devices.list(caller: fixture.caller("gina"), search: nil, projectID: "alpha") }
        #expect(foreign?.status == 404 && foreign?.code == "PROJECT_NOT_FOUND")
    }

    @Test func projectListPagesAndCounts() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        var pks: [Int64] = []
        for _ in 0..<5 { pks.append(try fixture.bound(to: "alpha").pk) }
        let first = try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest(page: 1, pageSize: 2))
        let third = try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest(page: 3, pageSize: 2))
        #expect(first.count == 5 && first.items.map(\.device.id) == Array(pks[0..<2]))
        #expect(third.items.map(\.device.id) == [pks[4]])
    }

    @Test func detailHasEveryFieldAndNoSecrets() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound(to: "alpha", capabilities: ["SUPPORTS_REBOOT"])
        let json = try fixture.devices.detail(projectID: "alpha", pk: pk, caller: fixture.caller("carol")).json
        let keys = Set(json.objectValue?.keys ?? [])
        #expect(keys == ["id", "device_id", "device_name", "info", "allow", "agri_id", "model", "capabilities", "create_time", "bind_time",
                         "connect_time", "online", "mqtt_connected_since", "has_thresholds", "project"])
        #expect(json["project"] == .object(["project_id": .string("alpha"), "name": .string("Project alpha")]))
        #expect(json["capabilities"] == .array([.string("SUPPORTS_REBOOT")]) && json["has_thresholds"] == .bool(false))
        #expect(json["connect_time"] == .null && json["online"] == .bool(false))
        let text = JSONWriter.string(json)
        #expect(!text.contains(device.key) && !text.contains("safe"))
    }

    @Test func updatesAreReadBackAtOnceThroughTheCachedLists() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (_, pk) = try fixture.bound(to: "alpha")
        // Warm both caches.
        _ = try fixture.devices.list(caller: alice, search: nil, projectID: nil)
        _ = try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest())
        _ = try fixture.devices.update(projectID: "alpha", pk: pk, caller: alice, deviceName: "renamed", info: "new info", allow: false)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).first?.device.deviceName == "renamed")
        let page = try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest())
        #expect(page.items.first?.device.info == "new info" && page.items.first?.device.allow == false)
        #expect(status { _ = try fixture.devices.update(projectID: "alpha", pk: pk, caller: fixture.caller("carol"), deviceName: "x", info: nil,
                                                        allow: nil) } == 403)
    }

    @Test func renamingAProjectShowsInTheCachedDeviceLists() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        _ = try fixture.bound(to: "alpha")
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).first?.project?.name == "Project alpha")
        _ = try fixture.projects.update("alpha", ProjectChanges(name: "Renamed"), by: alice)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).first?.project?.name == "Renamed")
        #expect(try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).items.first?.project?.name == "Renamed")
    }
}

@Suite struct DeviceProjectEventTests {
    @Test func trashingAProjectUnbindsItsDevices() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.devices.list(caller: alice, search: nil, projectID: nil)
        try fixture.projects.delete("alpha", hard: false, by: alice)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).isEmpty)
        _ = try fixture.projects.restore("alpha", by: alice)
        #expect(try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).count == 0)
        _ = try fixture.devices.bind(projectID: "beta", deviceID: device.deviceID, safeCode: device.safeCode, caller: alice)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).map(\.device.id) == [pk])
    }

    @Test func transferMovesDevicesAndTheirTelemetryToTheNewOrganization() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let gina = try fixture.caller("gina")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([("\(device.agriID)-01", 1, 1000)]))
        _ = try fixture.devices.list(caller: gina, search: nil, projectID: nil)
        _ = try fixture.devices.list(caller: alice, search: nil, projectID: nil)
        _ = try fixture.projects.transfer("alpha", toOrganization: "globex", by: alice)
        #expect(try fixture.devices.list(caller: alice, search: nil, projectID: nil).isEmpty)
        #expect(try fixture.devices.list(caller: gina, search: nil, projectID: nil).map(\.device.id) == [pk])
        let history = try fixture.devices.history(projectID: "alpha", pk: pk, caller: gina, agriID: nil, start: 0, end: Int64(1e11), cursor: nil, limit: 10)
        #expect(history.points.map(\.t) == [1000])
        // Telemetry keeps flowing under the new organization.
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: gina, body: PlatformFixture.points([("\(device.agriID)-01", 2, 2000)]))
        let after = try fixture.devices.history(projectID: "alpha", pk: pk, caller: gina, agriID: nil, start: 0, end: Int64(1e11), cursor: nil, limit: 10)
        #expect(after.points.map(\.t) == [1000, 2000])
    }

    @Test func hardDeleteRemovesTheTelemetry() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice,
                                       body: PlatformFixture.points([("\(device.agriID)-01", 1, 1000), ("\(device.agriID)-02", 2, 1000)]))
        func rows() throws -> Int64 {
            try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) ?? -1 }
        }
        #expect(try rows() == 2)
        try fixture.projects.delete("alpha", hard: true, by: alice)
        #expect(try rows() == 0)
        #expect(try fixture.db.read { try $0.queryOne("SELECT COUNT(*) FROM telemetry_series")?.int(0) } == 0)
        // The device is free again and can start a clean history elsewhere.
        _ = try fixture.devices.bind(projectID: "beta", deviceID: device.deviceID, safeCode: device.safeCode, caller: alice)
        _ = try fixture.devices.ingest(projectID: "beta", pk: pk, caller: alice, body: PlatformFixture.points([("\(device.agriID)-01", 3, 3000)]))
        #expect(try fixture.devices.history(projectID: "beta", pk: pk, caller: alice, agriID: nil, start: 0, end: Int64(1e11), cursor: nil,
                                            limit: 10).points.map(\.value) == [3])
    }

    @Test func projectCountsFollowBindingsAndContact() throws {
        let fixture = try PlatformFixture(config: ["devices.offline_after": "600"])
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.bound(to: "alpha")
        func counts() throws -> (JSON?, JSON?) {
            let json = try fixture.projects.project("alpha", for: alice).json
            return (json["device_count"], json["offline_device_count"])
        }
        #expect(try counts() == (.number(2), .number(2)))
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([("\(device.agriID)-01", 1, nil)]))
        #expect(try counts() == (.number(2), .number(1)))
        #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).online)
        fixture.clock.advance(by: 601)
        #expect(try counts() == (.number(2), .number(2)))
        #expect(try !fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).online)
        try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: alice)
        #expect(try counts() == (.number(1), .number(1)))
    }
}

@Suite struct DeviceTelemetryTests {
    @Test func ingestCountsDropsDefaultsTAndUpdatesContact() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let now = fixture.clock.unixSeconds()
        let result = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([
            ("\(device.agriID)-01", 24.3, 1_708_070_400), ("\(device.agriID)-02", 68.2, nil), ("d-9999-zzzz-01", 1, nil),
        ]))
        #expect(result == IngestResult(accepted: 2, dropped: 1))
        let view = try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice)
        #expect(view.device.connectTime == now && view.online)
        let latest = try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice)
        #expect(latest == [
            .object(["agri_id": .string("\(device.agriID)-01"), "value": .number(24.3), "t": .int64(1_708_070_400)]),
            .object(["agri_id": .string("\(device.agriID)-02"), "value": .number(68.2), "t": .int64(now)]),
        ])
        // The stored series carry the enrichment.
        let series = try fixture.db.read { try $0.query("SELECT the_type, project_pk, organization_id FROM telemetry_series") }
        #expect(series.count == 2 && series.allSatisfy { $0.string(0) == "DTU-1" })
    }

    @Test func latestKeepsTheNewestValueAndIsNotStaleAfterAWrite() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let agri = "\(device.agriID)-01"
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 1, 2000)]))
        #expect(try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice).first?["value"] == .number(1))
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 2, 1000)]))
        #expect(try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice).first?["value"] == .number(1))
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points([(agri, 3, 3000), (agri, 4, 2500)]))
        #expect(try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice).first?["value"] == .number(3))
    }

    @Test func disallowedDevicesAndOversizedRequestsAreRefused() throws {
        let fixture = try PlatformFixture(config: ["devices.max_points_per_request": "3"])
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let four = PlatformFixture.points((1...4).map { ("\(device.agriID)-01", Double($0), Int64($0)) })
        #expect(apiError { _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: four) }?.status == 413)
        _ = try fixture.devices.update(projectID: "alpha", pk: pk, caller: alice, deviceName: nil, info: nil, allow: false)
        let refused = apiError { _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice,
                                                                body: PlatformFixture.points([("\(device.agriID)-01", 1, 1)])) }
        #expect(refused?.status == 403 && refused?.code == "FORBIDDEN")
        #expect(try fixture.db.read { try $0.queryOne("SELECT COALESCE(SUM(count), 0) FROM \(storedChunks) AS stored")?.int(0) } == 0)
        #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).device.connectTime == nil)
        // A viewer reads but does not write.
        #expect(status { _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: fixture.caller("carol"), body: .array([])) } == 403)
        #expect(status { _ = try fixture.devices.latest(projectID: "alpha", pk: pk, caller: fixture.caller("carol")) } == 200)
    }

    @Test func historyPagesWithACursorWithoutDuplicates() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        var items: [(String, Double, Int64?)] = []
        for t in Int64(100)..<Int64(150) {
            for channel in ["-01", "-02"] { items.append(("\(device.agriID)\(channel)", Double(t), t)) }
        }
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice, body: PlatformFixture.points(items))
        var seen: [HistoryPage.Point] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: nil, start: 110, end: 140, cursor: cursor, limit: 7)
            seen += page.points
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil && pages < 100
        #expect(seen.count == 60)
        #expect(Set(seen.map { "\($0.agriID)@\($0.t)" }).count == 60)
        #expect(seen.map(\.t).min() == 110 && seen.map(\.t).max() == 139)
        #expect(seen.map(\.t) == seen.map(\.t).sorted())
        let one = try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: "\(device.agriID)-02", start: 0, end: 1000,
                                              cursor: nil, limit: 1000)
        #expect(one.points.count == 50 && one.nextCursor == nil && one.points.allSatisfy { $0.agriID == "\(device.agriID)-02" })
        #expect(apiError { _ = try fixture.devices.history(projectID: "alpha", pk: pk, caller: alice, agriID: nil, start: 0, end: 10,
                                                           cursor: "garbage", limit: 10) }?.code == "VALIDATION_ERROR")
    }

    @Test func telemetryOfAnotherProjectsDeviceIs404() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "alpha")
        let error = apiError { _ = try fixture.devices.ingest(projectID: "beta", pk: pk, caller: alice, body: PlatformFixture.points([(device.agriID, 1, 1)])) }
        #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND")
        #expect(apiError { _ = try fixture.devices.latest(projectID: "alpha", pk: 999_999, caller: alice) }?.code == "DEVICE_NOT_FOUND")
    }
}
