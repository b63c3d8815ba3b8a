// Fuzz target `csv`: the CSV reader and the device provisioning file (`admin-cli devices provision FILE.csv`).
// Invariants: never a crash; rows written back with CSV.line parse to the same rows; an accepted provisioning file
// holds only valid, unique devices, and those devices written back as a file parse to the same devices.

func fuzzCSV(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    if let rows = try? CSV.parse(text) {
        for row in rows { fuzzCheck(!row.isEmpty, "an empty row") }
        let written = rows.map(CSV.line).joined()
        do {
            let again = try CSV.parse(written)
            fuzzCheck(again == rows, "round trip changed the rows: \(rows) → \(again)")
        } catch {
            fuzzCheck(false, "written rows do not parse (\(error)): \(written.debugDescription)")
        }
    }

    let devices: [ProvisionedDevice]
    do {
        devices = try ProvisionedDevice.parseCSV(text)
    } catch {
        fuzzCheck(error.status == 400 && !error.fields.isEmpty, "provisioning failed with \(error)")
        return
    }
    fuzzCheck(!devices.isEmpty, "an accepted file without devices")
    fuzzCheck(Set(devices.map(\.deviceID)).count == devices.count, "duplicate device_id accepted")
    fuzzCheck(Set(devices.map(\.agriID)).count == devices.count, "duplicate agri_id accepted")
    for device in devices {
        fuzzCheck(device.problem == nil, "an invalid device accepted: \(device)")
        fuzzCheck(device.model.trimmingCharacters(in: .whitespaces) == device.model, "model not trimmed")
    }
    let file = CSV.line(ProvisionedDevice.header)
        + devices.map { CSV.line([$0.deviceID, $0.safeCode, $0.agriID, $0.model, $0.capabilities.joined(separator: ";")]) }.joined()
    do {
        let again = try ProvisionedDevice.parseCSV(file)
        fuzzCheck(again == devices, "round trip changed the devices: \(devices) → \(again)")
    } catch {
        fuzzCheck(false, "written devices are rejected (\(error)): \(file.debugDescription)")
    }
}
