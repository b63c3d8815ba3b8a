@testable import Devices
@testable import Factors
import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Projects
import Synchronization
import Testing

/// Writes checked against a device that leaves its project between the scope check and the write
/// (`DeviceService.ensureDevice` inside the transaction), and binding clearing what a racing write left.
@Suite struct FactorRaceTests {
    final class Failure: Sendable {
        let text = Mutex<String?>(nil)
    }

    /// Runs `request` while another thread holds the writer with `change` applied but not committed: the
    /// request's scope check (a read) still sees the device where it was, and its write waits for the change
    /// to commit. Returns what the request threw.
    func racing(_ fixture: PlatformFixture, hold: Double = 0.5, change: @escaping @Sendable (Database) throws -> Void,
                request: () throws -> Void) -> (any PlatformError)? {
        let applied = DispatchSemaphore(value: 0)
        let committed = DispatchSemaphore(value: 0)
        let failure = Failure()
        let db = fixture.db
        Thread {
            do {
                try db.write { tx in
                    try change(tx)
                    applied.signal()
                    Thread.sleep(forTimeInterval: hold)
                }
            } catch {
                failure.text.withLock { $0 = "\(error)" }
                applied.signal()
            }
            committed.signal()
        }.start()
        applied.wait()
        let error = apiError(request)
        committed.wait()
        #expect(failure.text.withLock { $0 } == nil)
        return error
    }

    /// Unbinds device `pk` inside the holding transaction (what `DeviceService.unbind` does in its own).
    func unbind(_ fixture: PlatformFixture, _ pk: Int64) throws -> @Sendable (Database) throws -> Void {
        { tx in
            let device = try #require(try fixture.devices.device(pk: pk, in: tx))
            try fixture.devices.unbind(device, tx)
        }
    }

    @Test func createLosesToARacingUnbind() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        let error = racing(fixture, change: try unbind(fixture, pk)) {
            _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        }
        #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND")
        #expect(try fixture.rows(devicePK: pk).isEmpty)
    }

    @Test func createLosesToARacingMove() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        let beta = try fixture.projects.resolve("beta", for: alice, access: .write)
        let move: @Sendable (Database) throws -> Void = { tx in
            try DeviceStore(db: tx).move(pk: pk, toProjectPK: beta.pk)
            try fixture.bus.publish(DeviceMoved(devicePK: pk, fromProjectPK: 0, toProjectPK: beta.pk, organizationID: beta.organizationID), in: tx)
        }
        let error = racing(fixture, change: move) {
            _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        }
        #expect(error?.code == "DEVICE_NOT_FOUND")
        // No factor recorded under the project the device left.
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        #expect(try fixture.factors.list(projectID: "beta", devicePK: pk, caller: alice).isEmpty)
    }

    @Test func addModuleLosesToARacingUnbind() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        _ = try fixture.factors.importCatalog(PlatformFixture.shippedCatalog())
        let module = try #require(try fixture.factors.modules().first)
        let (_, pk) = try fixture.bound()
        let error = racing(fixture, change: try unbind(fixture, pk)) {
            _ = try fixture.factors.addModule(projectID: "alpha", devicePK: pk, caller: alice, moduleID: module.id, slaveID: 1)
        }
        #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND")
        #expect(try fixture.rows(devicePK: pk).isEmpty)
    }

    @Test func importLosesToARacingUnbind() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (source, sourcePK) = try fixture.bound()
        _ = try fixture.factors.create(projectID: "alpha", devicePK: sourcePK, caller: alice, body: PlatformFixture.body("\(source.agriID)-01"))
        let document = try fixture.factors.export(projectID: "alpha", devicePK: sourcePK, caller: alice).document
        let (_, pk) = try fixture.bound()
        let error = racing(fixture, change: try unbind(fixture, pk)) {
            _ = try fixture.factors.importFactors(projectID: "alpha", devicePK: pk, caller: alice, document: document, clearExisting: false)
        }
        #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND")
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        #expect(try fixture.rows(devicePK: sourcePK).count == 1)
    }

    @Test func queuingACommandLosesToARacingUnbind() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (device, pk) = try fixture.bound()
        let gateway = try #require(try fixture.devices.authenticateDevice(deviceID: device.deviceID, key: device.key))
        _ = try fixture.devices.deliverCommands(to: gateway)   // contact: online
        let error = racing(fixture, change: try unbind(fixture, pk)) {
            _ = try fixture.devices.queue(.setTCP(host: "x.io", port: 1), projectID: "alpha", pk: pk, caller: alice)
        }
        #expect(error?.status == 404 && error?.code == "DEVICE_NOT_FOUND")
        #expect(try fixture.db.read { try $0.queryOne("SELECT COUNT(*) FROM device_commands WHERE device_pk = ?", [pk])?.int(0) } == 0)
    }

    @Test func ensureDeviceFailsOnAStaleProjectOnceTheDeviceLeftIt() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let (_, pk) = try fixture.bound()
        let (_, otherPK) = try fixture.bound()
        let alpha = try fixture.projects.resolve("alpha", for: alice, access: .write)
        let beta = try fixture.projects.resolve("beta", for: alice, access: .write)
        let ensure = { (pk: Int64, project: ProjectRef) in try fixture.db.write { tx in try fixture.devices.ensureDevice(pk, in: project, tx: tx) } }
        try ensure(pk, alpha)
        try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: alice)
        let unbound = apiError { try ensure(pk, alpha) }
        #expect(unbound?.status == 404 && unbound?.code == "DEVICE_NOT_FOUND")
        _ = try fixture.devices.setProject(projectID: "alpha", pk: otherPK, targetProjectID: "beta", caller: alice)
        #expect(apiError { try ensure(otherPK, alpha) }?.code == "DEVICE_NOT_FOUND")
        try ensure(otherPK, beta)
    }

    @Test func bindingClearsFactorsARacingWriteLeftOnTheDevice() throws {
        let fixture = try PlatformFixture()
        let alice = try fixture.caller("alice")
        let gina = try fixture.caller("gina")
        let (device, pk) = try fixture.bound()
        _ = try fixture.factors.create(projectID: "alpha", devicePK: pk, caller: alice, body: PlatformFixture.body("\(device.agriID)-01"))
        try fixture.devices.unbind(projectID: "alpha", pk: pk, caller: alice)
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        // What a write of the previous owner that committed after the unbind would have left behind.
        let alpha = try fixture.projects.resolve("alpha", for: alice, access: .write)
        let spec = try FactorSpec.read(PlatformFixture.body("\(device.agriID)-07", name: "leftover", [("threshold_max", .int(50))]),
                                       base: nil, prefix: device.agriID)
        _ = try fixture.db.write { tx in
            try FactorStore(db: tx).insert(spec, devicePK: pk, projectPK: alpha.pk, organizationID: alpha.organizationID, at: "2026-01-01T00:00:00Z")
        }
        #expect(try fixture.rows(devicePK: pk).count == 1)
        // The next owner binds it and starts without channels (nor thresholds).
        let bound = try fixture.devices.bind(projectID: "gamma", deviceID: device.deviceID, safeCode: device.safeCode, caller: gina)
        #expect(!bound.hasThresholds)
        #expect(try fixture.factors.list(projectID: "gamma", devicePK: pk, caller: gina).isEmpty)
        #expect(try fixture.rows(devicePK: pk).isEmpty)
        // Its agri_id is free again for the new owner.
        _ = try fixture.factors.create(projectID: "gamma", devicePK: pk, caller: gina, body: PlatformFixture.body("\(device.agriID)-07"))
    }
}
