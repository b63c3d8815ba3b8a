import Core

/// The factor export document (`GET …/export-factors/`) and the reading of an imported one (`POST …/import-factors/`),
/// with no database: the service resolves the device and writes; this checks the document (and is fuzzed on its own,
/// Tests/Fuzz/factor-import).
public enum FactorDocument {
    /// The document's format name and version (import accepts this version).
    public static let format = "iot-platform.factors"
    public static let version = 1

    /// The document of a device's factors; agri_ids keep the device prefix (`device.agri_id`), which import re-bases.
    public static func export(deviceID: String, agriID: String, model: String, factors: [FactorSpec], exportedAt: String) -> JSON {
        .object([
            "format": .string(format),
            "version": .int(version),
            "exported_at": .string(exportedAt),
            "device": .object(["device_id": .string(deviceID), "agri_id": .string(agriID), "model": .string(model)]),
            "factors": .array(factors.map { .object($0.fields) }),
        ])
    }

    /// Reads an import document onto a device whose agri_id is `prefix`, all or nothing: each factor's agri_id is
    /// re-based from the document's prefix onto `prefix`, then validated as a create; every problem is named.
    public static func read(_ document: JSON, prefix: String, maxFactors: Int) throws(APIError) -> [FactorSpec] {
        guard case .object(let root) = document else { throw APIError.validation(field: "file", "must hold a JSON object") }
        guard root["format"]?.stringValue == format, root["version"]?.int64Value == Int64(version) else {
            throw APIError.validation(field: "file", "must be a \(format) document of version \(version)")
        }
        guard let sourcePrefix = root["device"]?["agri_id"]?.stringValue, !sourcePrefix.isEmpty else {
            throw APIError.validation(field: "file", "device.agri_id (the source prefix) is missing")
        }
        guard case .array(let items)? = root["factors"], items.count <= maxFactors else {
            throw APIError.validation(field: "file", "factors must be an array of at most \(maxFactors)")
        }
        var specs: [FactorSpec] = []
        var problems: [String: String] = [:]
        var seen = Set<String>()
        for (index, item) in items.enumerated() {
            guard case .object(var object) = item, let agriID = object["agri_id"]?.stringValue, agriID.hasPrefix(sourcePrefix) else {
                problems["factors[\(index)].agri_id"] = "must start with the document's prefix \(sourcePrefix)"
                continue
            }
            object["agri_id"] = .string(prefix + agriID.dropFirst(sourcePrefix.count))
            do {
                let spec = try FactorSpec.read(.object(object), base: nil, prefix: prefix)
                if !seen.insert(spec.agriID).inserted { problems["factors[\(index)].agri_id"] = "duplicate \(spec.agriID)" }
                specs.append(spec)
            } catch {
                for (key, message) in error.fields { problems["factors[\(index)].\(key)"] = message }
            }
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return specs
    }
}
