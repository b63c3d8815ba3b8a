@testable import Devices
@testable import Factors
import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Testing

/// `FactorService` over a composed platform: CRUD, export/import, catalog, add-module, what Devices shows,
/// and the reactions to other modules' events.
@Suite struct FactorServiceTests {
    // MARK: - CRUD

    @Test func crudAndConflicts() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        let created = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice,
                                                 body: PlatformFixture.body("\(device.agriID)-01", [("unit", .string("°C"))]))
        #expect(created.devicePK == pk && created.spec.unit == "°C")
        #expect(created.json["device"] == .int64(pk))
        #expect(created.json["id"] == .int64(created.id))
        #expect(try fixture.factors.list(projectID: "alpha", devicePK: pk, caller: alice).map(\.id) == [created.id])
        #expect(try fixture.factors.factor(projectID: "alpha", devicePK: pk, id: created.id, caller: alice) == created)
        // The same agri_id again → 409 AGRI_ID_EXISTS, also through an update of another factor.
        let again = apiError { _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice,
                                                              body: PlatformFixture.body("\(device.agriID)-01")) }
        #expect(again?.status == 409 && again?.code == "AGRI_ID_EXISTS")
        let second = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice,
                                                body: PlatformFixture.body("\(device.agriID)-02", name: "humidity", register: 1))
        let clash = apiError { _ = try fixture.factors.update(projectID: "alpha", devicePK: pk, id: second.id, caller: alice,
                                                              body: .object(["agri_id": .string("\(device.agriID)-01")])) }
        #expect(clash?.code == "AGRI_ID_EXISTS")
        // Updating a factor to its own agri_id is fine.
        fixture.clock.advance(by: 5)
        let renamed = try fixture.factors.update(projectID: "alpha", devicePK: pk, id: second.id, caller: alice,
                                                 body: .object(["agri_id": .string("\(device.agriID)-02"), "name": .string("rh")]))
        #expect(renamed.spec.name == "rh" && renamed.updatedAt > renamed.createdAt)
        // Another device's prefix is refused.
        let (other, otherPK) = try fixture.bound()
        let foreign = apiError { _ = try fixture.factors.create(projectID: "alpha", devicePK: otherPK, caller: alice,
                                                                body: PlatformFixture.body("\(device.agriID)-03")) }
        #expect(foreign?.code == "VALIDATION_ERROR" && foreign?.fields["agri_id"] != nil)
        // A factor is only reachable under its own device.
        let wrongDevice = apiError { _ = try fixture.factors.factor(projectID: "alpha", devicePK: otherPK, id: created.id, caller: alice) }
        #expect(wrongDevice?.status == 404 && wrongDevice?.code == "FACTOR_NOT_FOUND")
        #expect(apiError { try fixture.factors.delete(projectID: "alpha", devicePK: otherPK, id: created.id, caller: alice) }?.status == 404)
        try fixture.factors.delete(projectID: "alpha", devicePK: pk, id: created.id, caller: alice)
        #expect(apiError { _ = try fixture.factors.factor(projectID: "alpha", devicePK: pk, id: created.id, caller: alice) }?.code == "FACTOR_NOT_FOUND")
        // The freed agri_id can be used again.
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        _ = other
    }

    @Test func scopeChecks() throws {
        let fixture = try PlatformFixture()
        let (device, pk) = try fixture.bound()
        let carol = try fixture.caller("carol")
        let body = PlatformFixture.body("\(device.agriID)-01")
        #expect(apiError { _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: carol, body: body) }?.status == 403)
        #expect(try fixture.factors.list(projectID: "alpha", devicePK: pk, caller: carol).isEmpty)
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["beta"]))
        #expect(apiError { _ = try fixture.factors.list(projectID: "alpha", devicePK: pk, caller: scoped) }?.status == 403)
        let gina = try fixture.caller("gina")
        let foreign = apiError { _ = try fixture.factors.list(projectID: "alpha", devicePK: pk, caller: gina) }
        #expect(foreign?.status == 404 && foreign?.code == "PROJECT_NOT_FOUND")
        // The device must be in the project of the URL.
        let alice = try fixture.caller("alice")
        let elsewhere = apiError { _ = try fixture.factors.list(projectID: "beta", devicePK: pk, caller: alice) }
        #expect(elsewhere?.status == 404 && elsewhere?.code == "DEVICE_NOT_FOUND")
        #expect(apiError { _ = try fixture.factors.addModule(projectID: "alpha", devicePK: pk, caller: carol, moduleID: 1, slaveID: 1) }?.status == 403)
    }

    @Test func devicesShowThresholdsAndFactorNames() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        // Read the list first, so a cached answer would show.
        func listed() throws -> Bool? {
            try fixture.devices.list(projectID: "alpha", caller: alice, search: nil, page: PageRequest()).items.first { $0.device.id == pk }?.hasThresholds
        }
        func flat() throws -> Bool? {
            try fixture.devices.list(caller: alice, search: nil, projectID: nil).first { $0.device.id == pk }?.hasThresholds
        }
        #expect(try listed() == false && flat() == false)
        #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).hasThresholds == false)
        let plain = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).hasThresholds == false)
        _ = try fixture.factors.update(projectID: "alpha", devicePK: pk, id: plain.id, caller: alice, body: .object(["threshold_max": .int(30)]))
        #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).hasThresholds == true)
        #expect(try listed() == true && flat() == true)
        _ = try fixture.factors.update(projectID: "alpha", devicePK: pk, id: plain.id, caller: alice, body: .object(["threshold_max": .null]))
        #expect(try fixture.devices.detail(projectID: "alpha", pk: pk, caller: alice).hasThresholds == false)
        #expect(try listed() == false && flat() == false)
        // The latest-value read names the value after the factor when one exists.
        _ = try fixture.devices.ingest(projectID: "alpha", pk: pk, caller: alice,
                                       body: .array([.object(["agri_id": .string("\(device.agriID)-01"), "value": .number(24.1), "t": .int(1000)]),
                                                     .object(["agri_id": .string("\(device.agriID)-09"), "value": .number(3), "t": .int(1000)])]))
        let latest = try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice)
        #expect(latest.contains(.object(["agri_id": .string("\(device.agriID)-01"), "temp": .number(24.1), "t": .int(1000)])))
        #expect(latest.contains(.object(["agri_id": .string("\(device.agriID)-09"), "value": .number(3), "t": .int(1000)])))
        #expect(try fixture.factors.factorNames(devicePK: pk) == ["\(device.agriID)-01": "temp"])
        // A rename shows at once.
        _ = try fixture.factors.update(projectID: "alpha", devicePK: pk, id: plain.id, caller: alice, body: .object(["name": .string("air")]))
        #expect(try fixture.devices.latest(projectID: "alpha", pk: pk, caller: alice).contains {
            $0["agri_id"] == .string("\(device.agriID)-01") && $0["air"] == .number(24.1)
        })
    }

    // MARK: - Export / import

    @Test func exportThenImportRebasesOntoAnotherDevice() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (a, pkA) = try fixture.bound()
        let (b, pkB) = try fixture.bound(to: "beta")
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pkA, caller: alice,
                                       body: PlatformFixture.body("\(a.agriID)-01", [("threshold_max", .int(30)), ("sort", .int(2))]))
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pkA, caller: alice,
                                       body: PlatformFixture.body("\(a.agriID)-sub-02", name: "rh", register: 1, [("sort", .int(1))]))
        let (filename, document) = try fixture.factors.export(projectID: "alpha", devicePK: pkA, caller: alice)
        #expect(filename == "factors-\(a.deviceID).json")
        #expect(document["format"] == .string("iot-platform.factors") && document["version"] == .int(1))
        #expect(document["device"]?["agri_id"] == .string(a.agriID))
        #expect(document["factors"]?.arrayValue?.count == 2)
        let (imported, cleared) = try fixture.factors.importFactors(projectID: "beta", devicePK: pkB, caller: alice, document: document,
                                                                    clearExisting: false)
        #expect(cleared == 0)
        #expect(Set(imported.map(\.spec.agriID)) == ["\(b.agriID)-01", "\(b.agriID)-sub-02"])
        let onB = try fixture.factors.list(projectID: "beta", devicePK: pkB, caller: alice)
        #expect(onB.map(\.spec.name) == ["rh", "temp"])   // by sort
        #expect(onB.first { $0.spec.name == "temp" }?.spec.thresholdMax == 30)
        #expect(try fixture.devices.detail(projectID: "beta", pk: pkB, caller: alice).hasThresholds)
        // Importing again conflicts, and nothing changes (all or nothing).
        let before = try fixture.rows(devicePK: pkB)
        let conflict = apiError { _ = try fixture.factors.importFactors(projectID: "beta", devicePK: pkB, caller: alice, document: document,
                                                                        clearExisting: false) }
        #expect(conflict?.code == "AGRI_ID_EXISTS")
        #expect(try fixture.rows(devicePK: pkB).map(\.0) == before.map(\.0))
        // clear_existing replaces them.
        let (again, clearedNow) = try fixture.factors.importFactors(projectID: "beta", devicePK: pkB, caller: alice, document: document,
                                                                    clearExisting: true)
        #expect(clearedNow == 2 && again.count == 2)
        #expect(try fixture.rows(devicePK: pkB).count == 2)
        // Source unchanged.
        #expect(try fixture.rows(devicePK: pkA).map(\.0) == ["\(a.agriID)-01", "\(a.agriID)-sub-02"])
    }

    @Test func importIsAllOrNothingOnAPartialConflict() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (a, pkA) = try fixture.bound()
        let (b, pkB) = try fixture.bound()
        for (suffix, name) in [("01", "temp"), ("02", "rh"), ("03", "co2")] {
            _ = try fixture.factors.create(projectID: "alpha", devicePK: pkA, caller: alice, body: PlatformFixture.body("\(a.agriID)-\(suffix)", name: name))
        }
        // Device B already has -02: the two others must not be created either.
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pkB, caller: alice, body: PlatformFixture.body("\(b.agriID)-02", name: "keep"))
        let (_, document) = try fixture.factors.export(projectID: "alpha", devicePK: pkA, caller: alice)
        #expect(apiError { _ = try fixture.factors.importFactors(projectID: "alpha", devicePK: pkB, caller: alice, document: document,
                                                                 clearExisting: false) }?.status == 409)
        #expect(try fixture.rows(devicePK: pkB).map(\.0) == ["\(b.agriID)-02"])
        // With clear_existing but an invalid item: the clear is rolled back too.
        guard case .object(var root) = document, case .array(var items)? = root["factors"], case .object(var item) = items[2] else {
            Issue.record("unexpected document shape")
            return
        }
        item["slave_id"] = .int(999)
        items[2] = .object(item)
        root["factors"] = .array(items)
        let invalid = apiError { _ = try fixture.factors.importFactors(projectID: "alpha", devicePK: pkB, caller: alice, document: .object(root),
                                                                       clearExisting: true) }
        #expect(invalid?.code == "VALIDATION_ERROR" && invalid?.fields["factors[2].slave_id"] != nil)
        #expect(try fixture.rows(devicePK: pkB).map(\.0) == ["\(b.agriID)-02"])
    }

    @Test func importRejectsForeignDocuments() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        func attempt(_ document: JSON) -> (any PlatformError)? {
            apiError { _ = try fixture.factors.importFactors(projectID: "alpha", devicePK: pk, caller: alice, document: document, clearExisting: false) }
        }
        let factor: JSON = .object(["agri_id": .string("d-src-01"), "name": .string("t1"), "register": .int(0)])
        #expect(attempt(.array([]))?.code == "VALIDATION_ERROR")
        #expect(attempt(.object(["format": .string("other"), "version": .int(1)]))?.code == "VALIDATION_ERROR")
        #expect(attempt(.object(["format": .string("iot-platform.factors"), "version": .int(2)]))?.code == "VALIDATION_ERROR")
        #expect(attempt(.object(["format": .string("iot-platform.factors"), "version": .int(1), "factors": .array([factor])]))?.code == "VALIDATION_ERROR")
        let wrongPrefix = attempt(.object(["format": .string("iot-platform.factors"), "version": .int(1),
                                           "device": .object(["agri_id": .string("d-other")]), "factors": .array([factor])]))
        #expect(wrongPrefix?.fields["factors[0].agri_id"] != nil)
        let duplicate = attempt(.object(["format": .string("iot-platform.factors"), "version": .int(1),
                                         "device": .object(["agri_id": .string("d-src")]), "factors": .array([factor, factor])]))
        #expect(duplicate?.fields["factors[1].agri_id"] != nil)
        let unknown = attempt(.object(["format": .string("iot-platform.factors"), "version": .int(1), "device": .object(["agri_id": .string("d-src")]),
                                       "factors": .array([.object(["agri_id": .string("d-src-01"), "name": .string("t1"), "register": .int(0),
                                                                   "bogus": .int(1)])])]))
        #expect(unknown?.fields["factors[0].bogus"] != nil)
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        let ok = try fixture.factors.importFactors(projectID: "alpha", devicePK: pk, caller: alice, document: .object([
            "format": .string("iot-platform.factors"), "version": .int(1), "device": .object(["agri_id": .string("d-src")]), "factors": .array([factor]),
        ]), clearExisting: false)
        #expect(ok.imported.map(\.spec.agriID) == ["\(device.agriID)-01"])
    }

    // MARK: - Catalog and add-module

    @Test func catalogImportReplacesAModelKeepingItsID() throws {
        let fixture = try PlatformFixture()
        let first = try fixture.factors.importCatalog(PlatformFixture.shippedCatalog())
        #expect(first.added == 3 && first.replaced == 0)
        let modules = try fixture.factors.modules()
        #expect(modules.map(\.model) == ["THM-30", "SOIL-4IN1", "EM-1P"])
        let thm = try #require(modules.first)
        #expect(try fixture.factors.module(id: thm.id) == thm)
        let replacement: JSON = .object(["modules": .array([.object([
            "name": .string("THM probe v2"), "model": .string("THM-30"),
            "factors": .array([.object(["name": .string("temp"), "register": .int(10)])]),
        ])])])
        let second = try fixture.factors.importCatalog(replacement)
        #expect(second.added == 0 && second.replaced == 1)
        let replaced = try fixture.factors.module(id: thm.id)
        #expect(replaced.name == "THM probe v2" && replaced.factors.map(\.register) == [10])
        #expect(try fixture.factors.modules().count == 3)
        let missing = apiError { _ = try fixture.factors.module(id: 9999) }
        #expect(missing?.status == 404 && missing?.code == "MODULE_NOT_FOUND")
        // A bad file changes nothing.
        #expect(apiError { _ = try fixture.factors.importCatalog(.object(["modules": .array([.int(1)])])) }?.code == "VALIDATION_ERROR")
        #expect(try fixture.factors.modules().count == 3)
    }

    @Test func addModuleUsesTheNextFreeSuffixes() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        _ = try fixture.factors.importCatalog(PlatformFixture.shippedCatalog())
        let modules = try fixture.factors.modules()
        let thm = try #require(modules.first { $0.model == "THM-30" })
        let soil = try #require(modules.first { $0.model == "SOIL-4IN1" })
        let (device, pk) = try fixture.bound()
        // -02 is taken by hand: the module takes -01 and -03.
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-02", name: "manual"))
        let created = try fixture.factors.addModule(projectID: "alpha", devicePK: pk, caller: alice, moduleID: thm.id, slaveID: 5)
        #expect(created.map(\.spec.agriID) == ["\(device.agriID)-01", "\(device.agriID)-03"])
        #expect(created.map(\.spec.name) == ["temp", "humidity"])
        #expect(created.allSatisfy { $0.spec.slaveID == 5 && $0.spec.functionCode == 4 })
        #expect(created[0].spec.register == 1 && created[0].spec.scale == 0.1 && created[0].spec.decimals == 1 && created[0].spec.unit == "°C")
        let more = try fixture.factors.addModule(projectID: "alpha", devicePK: pk, caller: alice, moduleID: soil.id, slaveID: 6)
        #expect(more.map(\.spec.agriID) == (4...7).map { "\(device.agriID)-0\($0)" })
        #expect(try fixture.factors.list(projectID: "alpha", devicePK: pk, caller: alice).count == 7)
        let missing = apiError { _ = try fixture.factors.addModule(projectID: "alpha", devicePK: pk, caller: alice, moduleID: 999, slaveID: 1) }
        #expect(missing?.code == "MODULE_NOT_FOUND")
    }

    // MARK: - Reactions

    @Test func unbindDeletesTheDevicesFactors() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        let (other, otherPK) = try fixture.bound()
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        _ = try fixture.factors.create(projectID: "alpha", devicePK: otherPK, caller: alice, body: PlatformFixture.body("\(other.agriID)-01"))
        try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: alice)
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        #expect(try fixture.rows(devicePK: otherPK).count == 1)
        // Bound again (here to another org), it starts with no factors.
        _ = try fixture.devices.bind(projectID: "gamma", deviceID: device.deviceID, safeCode: device.safeCode, caller: fixture.caller("gina"))
        #expect(try fixture.factors.list(projectID: "gamma", devicePK: pk, caller: fixture.caller("gina")).isEmpty)
    }

    @Test func projectTrashAndPurgeDeleteFactors() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(to: "beta")
        _ = try fixture.factors.create(projectID: "beta", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        try fixture.projects.delete("beta", hard: false, by: alice)
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        // Hard delete of a project with bound devices.
        let (second, secondPK) = try fixture.bound(to: "alpha")
        _ = try fixture.factors.create(projectID: "alpha", devicePK: secondPK, caller: alice, body: PlatformFixture.body("\(second.agriID)-01"))
        try fixture.projects.delete("alpha", hard: true, by: alice)
        #expect(try fixture.rows(devicePK: secondPK).isEmpty)
    }

    @Test func setProjectAndTransferMoveFactors() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let gina = try fixture.caller("gina")
        let (device, pk) = try fixture.bound(to: "alpha")
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice,
                                       body: PlatformFixture.body("\(device.agriID)-01", [("threshold_min", .int(1))]))
        let alphaPK = try fixture.projects.resolve("alpha", for: alice, access: .read).pk
        let beta = try fixture.projects.resolve("beta", for: alice, access: .read)
        #expect(try fixture.rows(devicePK: pk).map(\.1) == [alphaPK])
        _ = try fixture.devices.setProject(projectID: "alpha", pk: pk, targetProjectID: "beta", caller: alice)
        #expect(try fixture.rows(devicePK: pk).map(\.1) == [beta.pk])
        #expect(try fixture.factors.list(projectID: "beta", devicePK: pk, caller: alice).count == 1)
        #expect(apiError { _ = try fixture.factors.list(projectID: "alpha", devicePK: pk, caller: alice) }?.code == "DEVICE_NOT_FOUND")
        // The project moves to globex with its device and the device's factors.
        _ = try fixture.projects.transfer("beta", toOrganization: "globex", by: alice)
        let globex = try #require(try fixture.auth.organization(slug: "globex"))
        #expect(try fixture.rows(devicePK: pk).map(\.2) == [globex.id])
        let moved = try fixture.factors.list(projectID: "beta", devicePK: pk, caller: gina)
        #expect(moved.map(\.spec.agriID) == ["\(device.agriID)-01"])
        #expect(try fixture.devices.detail(projectID: "beta", pk: pk, caller: gina).hasThresholds)
        #expect(apiError { _ = try fixture.factors.list(projectID: "beta", devicePK: pk, caller: alice) }?.status == 404)
    }

    // MARK: - Command queue (Devices), over the manual clock

    @Test func commandsNeedTheDeviceOnlineAndExpire() throws {
        let fixture = try PlatformFixture(config: ["devices.command_ttl": "60s", "devices.offline_after": "600s"])
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(capabilities: ["SUPPORTS_REBOOT"])
        let (plain, plainPK) = try fixture.bound()
        func status(_ body: () throws -> Void) -> Int { apiError(body)?.status ?? 200 }
        // Never connected: offline.
        let offline = apiError { _ = try fixture.devices.queue(.reboot, projectID: "alpha", pk: pk, caller: alice) }
        #expect(offline?.status == 503 && offline?.code == "DEVICE_OFFLINE")
        let gateway = try #require(try fixture.devices.authenticateDevice(deviceID: device.deviceID, key: device.key))
        #expect(try fixture.devices.deliverCommands(to: gateway).isEmpty)   // contact: now online
        let queued = try fixture.devices.queue(.setSerial(baudRate: 9600, dataBits: 8, stopBits: 1, parity: "NONE"), projectID: "alpha", pk: pk, caller: alice)
        #expect(queued.map(\.command) == ["NAT@AT+UART1=9600,8,1,NONE,NFC", "NAT@AT+Z"])
        #expect(queued.allSatisfy { $0.status == .pending && $0.createdBy == "alice" })
        // No reboot capability → 422 even when online.
        let plainGateway = try #require(try fixture.devices.authenticateDevice(deviceID: plain.deviceID, key: plain.key))
        _ = try fixture.devices.deliverCommands(to: plainGateway)
        let incapable = apiError { _ = try fixture.devices.queue(.reboot, projectID: "alpha", pk: plainPK, caller: alice) }
        #expect(incapable?.status == 422 && incapable?.code == "INVALID_COMMAND")
        #expect(status { _ = try fixture.devices.queue(.setTCP(host: "x.io", port: 1), projectID: "alpha", pk: plainPK, caller: alice) } == 200)
        // Past the TTL, undelivered commands expire and are not delivered.
        fixture.clock.advance(by: 61)
        #expect(try fixture.devices.deliverCommands(to: gateway).isEmpty)
        let history = try fixture.devices.commands(projectID: "alpha", pk: pk, caller: alice, page: PageRequest())
        #expect(history.items.map(\.status) == [.expired, .expired])
        // Offline again after the threshold.
        fixture.clock.advance(by: 601)
        #expect(apiError { _ = try fixture.devices.queue(.reboot, projectID: "alpha", pk: pk, caller: alice) }?.code == "DEVICE_OFFLINE")
    }
}

@Suite struct CommandHistoryScopeTests {
    @Test func historyShowsOnlyCommandsQueuedInTheProjectOfTheURL() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound(capabilities: ["SUPPORTS_REBOOT"])
        let gateway = try #require(try fixture.devices.authenticateDevice(deviceID: device.deviceID, key: device.key))
        _ = try fixture.devices.deliverCommands(to: gateway)   // contact: online
        _ = try fixture.devices.queue(.reboot, projectID: "alpha", pk: pk, caller: alice)
        #expect(try fixture.devices.commands(projectID: "alpha", pk: pk, caller: alice, page: PageRequest()).count == 1)
        _ = try fixture.devices.setProject(projectID: "alpha", pk: pk, targetProjectID: "beta", caller: alice)
        // A token scoped to beta must not learn what was sent to the device while it was in alpha…
        let betaOnly = try fixture.caller("alice", TokenRequest(projects: ["beta"]))
        #expect(try fixture.devices.commands(projectID: "beta", pk: pk, caller: betaOnly, page: PageRequest()).count == 0)
        // …but the device still receives what is queued for it, wherever it was queued.
        #expect(try fixture.devices.deliverCommands(to: gateway).map(\.command) == ["NAT@AT+Z"])
        _ = try fixture.devices.queue(.reboot, projectID: "beta", pk: pk, caller: alice)
        #expect(try fixture.devices.commands(projectID: "beta", pk: pk, caller: betaOnly, page: PageRequest()).count == 1)
    }
}
