// Fuzz target `factor-import`: the factor import document (`POST …/import-factors/`'s file part, JSON) through
// FactorDocument.read, and the sensor-module catalog (`admin-cli modules import`) through SensorModule.catalog.
// Invariants: never a crash; every accepted factor is valid and re-based onto the device's prefix, agri_ids unique;
// an export of the accepted factors, written and parsed, imports onto another device as the same factors.

func fuzzFactorImport(_ input: [UInt8]) {
    guard let document = try? JSONParser.parse(input) else { return }
    let prefix = "d-2000-wxyz"
    let read: [FactorSpec]?
    do {
        read = try FactorDocument.read(document, prefix: prefix, maxFactors: 500)
    } catch {
        fuzzCheck(error.status == 400, "status \(error.status)")
        for key in error.fields.keys { fuzzCheck(key.unicodeScalars.count <= 100, "a problem name of \(key.unicodeScalars.count) scalars") }
        read = nil
    }
    if let specs = read {
        fuzzCheck(specs.count <= 500, "\(specs.count) factors")
        fuzzCheck(Set(specs.map(\.agriID)).count == specs.count, "duplicate agri_id accepted")
        for spec in specs { factorFuzzCheck(spec, prefix: prefix) }
        let exported = FactorDocument.export(deviceID: "dev-1", agriID: prefix, model: "M1", factors: specs, exportedAt: "2024-02-16T08:00:00Z")
        let other = "e-9"
        do {
            let again = try FactorDocument.read(JSONParser.parse(JSONWriter.bytes(exported)), prefix: other, maxFactors: 500)
            let rebased = specs.map { spec -> FactorSpec in
                var spec = spec
                spec.agriID = other + spec.agriID.dropFirst(prefix.count)
                return spec
            }
            fuzzCheck(again == rebased, "export → import changed the factors: \(rebased) → \(again)")
        } catch {
            fuzzCheck(false, "an export of accepted factors is rejected: \(error)")
        }
    }
    if let modules = try? FactorTemplate.catalog(document) {
        fuzzCheck(!modules.isEmpty, "an empty catalog accepted")
        for module in modules {
            fuzzCheck((1...100).contains(module.name.count) && (1...64).contains(module.model.count), "module name/model")
            for template in module.factors {
                fuzzCheck((1...64).contains(template.name.unicodeScalars.count) && !FactorSpec.reservedNames.contains(template.name), "name")
                fuzzCheck(template.unit.unicodeScalars.count <= 16, "unit")
                fuzzCheck(template.functionCode == 3 || template.functionCode == 4, "function_code")
                fuzzCheck((0...65_535).contains(template.register), "register")
                fuzzCheck(FactorSpec.dataTypes.contains(template.dataType) && FactorSpec.byteOrders.contains(template.byteOrder), "type/order")
                fuzzCheck((0...6).contains(template.decimals), "decimals")
            }
        }
    }
}

func factorFuzzCheck(_ spec: FactorSpec, prefix: String) {
    fuzzCheck(spec.agriID.hasPrefix(prefix) && spec.agriID != prefix, "agri_id \(spec.agriID) not under \(prefix)")
    fuzzCheck(spec.agriID.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }, "agri_id \(spec.agriID)")
    fuzzCheck((1...128).contains(spec.agriID.unicodeScalars.count), "agri_id length")
    fuzzCheck((1...64).contains(spec.name.unicodeScalars.count) && !FactorSpec.reservedNames.contains(spec.name), "name \(spec.name)")
    fuzzCheck(spec.unit.unicodeScalars.count <= 16, "unit")
    fuzzCheck((1...247).contains(spec.slaveID), "slave_id")
    fuzzCheck(spec.functionCode == 3 || spec.functionCode == 4, "function_code")
    fuzzCheck((0...65_535).contains(spec.register), "register")
    fuzzCheck(FactorSpec.dataTypes.contains(spec.dataType) && FactorSpec.byteOrders.contains(spec.byteOrder), "type/order")
    fuzzCheck((0...6).contains(spec.decimals), "decimals")
    fuzzCheck((-1_000_000...1_000_000).contains(spec.sort), "sort")
    fuzzCheck(spec.scale.isFinite && spec.offset.isFinite, "scale/offset")
    if let low = spec.thresholdMin, let high = spec.thresholdMax { fuzzCheck(low <= high, "thresholds \(low) > \(high)") }
}
