import Core

/// One row of a manufacturing file (`admin-cli devices provision FILE.csv`).
public struct ProvisionedDevice: Sendable, Equatable {
    public let deviceID: String
    public let safeCode: String
    public let agriID: String
    public let model: String
    public let capabilities: [String]

    public init(deviceID: String, safeCode: String, agriID: String, model: String, capabilities: [String]) {
        self.deviceID = deviceID
        self.safeCode = safeCode
        self.agriID = agriID
        self.model = model
        self.capabilities = capabilities
    }

    static let header = ["device_id", "safe_code", "agri_id", "model", "capabilities"]

    /// Parses and validates a whole CSV file; any problem names its line and nothing is returned.
    public static func parseCSV(_ text: String) throws(APIError) -> [ProvisionedDevice] {
        let rows: [[String]]
        do { rows = try CSV.parse(text) } catch { throw APIError.validation(field: "file", "malformed CSV: \(error.description)") }
        guard let first = rows.first else { throw APIError.validation(field: "file", "empty file") }
        let header = first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard header == Self.header else {
            throw APIError.validation(field: "file", "header must be \(Self.header.joined(separator: ","))")
        }
        var devices: [ProvisionedDevice] = []
        var seen: [String: Int] = [:]
        var agriSeen: [String: Int] = [:]
        for (offset, row) in rows.dropFirst().enumerated() {
            let line = offset + 2
            if row.count == 1, row[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard row.count == 5 else { throw APIError.validation(field: "line \(line)", "expected 5 fields, got \(row.count)") }
            let fields = row.map { $0.trimmingCharacters(in: .whitespaces) }
            let device = ProvisionedDevice(deviceID: fields[0], safeCode: fields[1], agriID: fields[2], model: fields[3],
                                           capabilities: fields[4].split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                                               .filter { !$0.isEmpty })
            if let problem = device.problem { throw APIError.validation(field: "line \(line)", problem) }
            if let earlier = seen[device.deviceID] {
                throw APIError.validation(field: "line \(line)", "duplicate device_id \(device.deviceID) (also on line \(earlier))")
            }
            if let earlier = agriSeen[device.agriID] {
                throw APIError.validation(field: "line \(line)", "duplicate agri_id \(device.agriID) (also on line \(earlier))")
            }
            seen[device.deviceID] = line
            agriSeen[device.agriID] = line
            devices.append(device)
        }
        guard !devices.isEmpty else { throw APIError.validation(field: "file", "no devices in file") }
        return devices
    }

    /// What is wrong with this row, if anything.
    var problem: String? {
        if !Self.matches(deviceID, allowed: Self.idCharacters, length: 1...64) { return "device_id must be 1..64 of A-Z a-z 0-9 _ -" }
        if !Self.matches(safeCode, allowed: Self.alphanumerics, length: 4...4) { return "safe_code of \(deviceID) must be 4 letters or digits" }
        if !Self.matches(agriID, allowed: Self.agriCharacters, length: 3...64) { return "agri_id of \(deviceID) must be 3..64 of a-z 0-9 _ -" }
        if model.count > 64 { return "model of \(deviceID) is longer than 64" }
        for capability in capabilities where !Self.matches(capability, allowed: Self.capabilityCharacters, length: 1...64) {
            return "capability \(capability) of \(deviceID) must be 1..64 of A-Z 0-9 _"
        }
        return nil
    }

    static let alphanumerics = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let idCharacters = alphanumerics.union("_-".utf8)
    static let agriCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789_-".utf8)
    static let capabilityCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_".utf8)

    static func matches(_ text: String, allowed: Set<UInt8>, length: ClosedRange<Int>) -> Bool {
        length.contains(text.utf8.count) && text.utf8.allSatisfy { allowed.contains($0) }
    }
}
