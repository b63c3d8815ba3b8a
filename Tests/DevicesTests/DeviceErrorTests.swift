import Core
import Devices
import Testing

/// `DeviceError` answers with the codes and statuses of DESIGN §4 and seed 001.
@Suite struct DeviceErrorTests {
    @Test(arguments: [
        (DeviceError.notFound(pk: 42, projectID: "cold-chain-east"), 404, "DEVICE_NOT_FOUND"),
        (.malformedPK("abc"), 404, "DEVICE_NOT_FOUND"),
        (.bindMismatch, 404, "DEVICE_NOT_FOUND"),
        (.leftProject(pk: 1, projectID: "p"), 404, "DEVICE_NOT_FOUND"),
        (.alreadyProvisioned(deviceIDs: ["a"]), 409, "DEVICE_EXISTS"),
        (.agriIDsTaken(["d-1"]), 409, "AGRI_ID_EXISTS"),
        (.alreadyBound(deviceID: "dev-1"), 409, "DEVICE_ALREADY_BOUND"),
        (.notBound(deviceID: "dev-1"), 409, "DEVICE_NOT_BOUND"),
        (.invalidCommand(fields: ["port": "must be 1..65535"]), 422, "INVALID_COMMAND"),
        (.unsupportedCommand(pk: 1, capability: "SUPPORTS_REBOOT"), 422, "INVALID_COMMAND"),
        (.offline(pk: 1, offlineAfter: 600), 503, "DEVICE_OFFLINE"),
        (.commandNotFound(id: 7), 404, "COMMAND_NOT_FOUND"),
        (.malformedCommandID("x"), 404, "COMMAND_NOT_FOUND"),
        (.invalidCommandState(id: 7, status: .acked), 409, "INVALID_COMMAND_STATE"),
        (.commandFailed(pk: 1, reason: "modem timeout"), 500, "DEVICE_COMMAND_FAILED"),
    ])
    func statusAndCode(_ error: DeviceError, _ status: Int, _ code: String) {
        #expect(error.status == status)
        #expect(error.code == code)
        #expect(!error.detail.isEmpty)
    }

    @Test func deliberateServerErrorsExposeTheirDetail() {
        #expect(DeviceError.commandFailed(pk: 1, reason: "modem timeout").exposesDetail)
        #expect(DeviceError.offline(pk: 1, offlineAfter: 600).exposesDetail)
        #expect(DeviceError.alreadyBound(deviceID: "dev-1").exposesDetail)
    }

    @Test func detailsCarryTheirValues() {
        #expect(DeviceError.notFound(pk: 42, projectID: "cold-chain-east").detail == "Device 42 is not in project cold-chain-east")
        #expect(DeviceError.offline(pk: 3, offlineAfter: 600).detail
            == "Device 3 has not been in contact for more than 600 s; commands need it online")
        #expect(DeviceError.invalidCommandState(id: 7, status: .acked).detail == "Command 7 is already acked")
        let many = DeviceError.alreadyProvisioned(deviceIDs: (1...12).map { "d\($0)" }).detail
        #expect(many == "Already provisioned: d1, d2, d3, d4, d5, d6, d7, d8, d9, d10; nothing was applied")
    }

    @Test func invalidCommandNamesItsFields() {
        let error = DeviceError.invalidCommand(fields: ["port": "must be 1..65535", "host": "must be a hostname or an IPv4 address"])
        #expect(error.fields["port"] == "must be 1..65535")
        #expect(error.detail == "Invalid command parameters: host, port")
        #expect(DeviceError.bindMismatch.fields.isEmpty)
    }
}
