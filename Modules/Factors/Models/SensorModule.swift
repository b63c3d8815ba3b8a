import Core

/// A sensor module of the catalog (`GET /api/v2/modules/`): a hardware model and its factor templates.
public struct SensorModule: Sendable, Equatable, JSONRepresentable {
    public let id: Int64
    public let name: String
    public let model: String
    public let factors: [FactorTemplate]
    public let updatedAt: String

    public var json: JSON {
        .object(["id": .int64(id), "name": .string(name), "model": .string(model), "factors": .array(factors.map(\.json)),
                 "updated_at": .string(updatedAt)])
    }
}

/// A factor without a device: what `add-module` copies onto a device with a slave id and an agri_id.
public struct FactorTemplate: Sendable, Equatable, JSONRepresentable {
    public let name: String
    public let unit: String
    public let functionCode: Int64
    public let register: Int64
    public let dataType: String
    public let byteOrder: String
    public let scale: Double
    public let offset: Double
    public let decimals: Int64
    public let sort: Int64

    public var json: JSON {
        .object(["name": .string(name), "unit": .string(unit), "function_code": .int64(functionCode), "register": .int64(register),
                 "data_type": .string(dataType), "byte_order": .string(byteOrder), "scale": .number(scale), "offset": .number(offset),
                 "decimals": .int64(decimals), "sort": .int64(sort)])
    }

    /// Reads one template of a catalog file, naming problems under `at`.
    static func read(_ value: JSON, at: String, problems: inout [String: String]) -> FactorTemplate? {
        let fields: Set<String> = ["name", "unit", "function_code", "register", "data_type", "byte_order", "scale", "offset", "decimals", "sort"]
        var reader: FieldReader
        do { reader = try FieldReader(value, allowed: fields) } catch {
            problems[at] = "must be an object"
            return nil
        }
        let name = reader.string("name", required: true, length: 1...64)
        if let name, FactorSpec.reservedNames.contains(name) { reader.fail("name", "must not be \(name)") }
        let unit = reader.string("unit", length: 0...16) ?? ""
        let code = reader.int("function_code") ?? 3
        if code != 3, code != 4 { reader.fail("function_code", "must be 3 or 4") }
        let register = reader.int("register", required: true, range: 0...65_535)
        let type = reader.string("data_type") ?? "int16"
        if !FactorSpec.dataTypes.contains(type) { reader.fail("data_type", "must be one of \(FactorSpec.dataTypes.joined(separator: ", "))") }
        let order = reader.string("byte_order") ?? "ABCD"
        if !FactorSpec.byteOrders.contains(order) { reader.fail("byte_order", "must be one of \(FactorSpec.byteOrders.joined(separator: ", "))") }
        let scale = reader.double("scale") ?? 1
        let offset = reader.double("offset") ?? 0
        let decimals = reader.int("decimals", range: 0...6) ?? 0
        let sort = reader.int("sort") ?? 0
        for (key, message) in reader.problems { problems["\(at).\(key)"] = message }
        guard reader.problems.isEmpty, let name, let register else { return nil }
        return FactorTemplate(name: name, unit: unit, functionCode: code, register: register, dataType: type, byteOrder: order,
                              scale: scale, offset: offset, decimals: decimals, sort: sort)
    }

    /// Parses a catalog file `{"modules": [{"name", "model", "factors": [...]}]}`, naming every problem.
    public static func catalog(_ value: JSON) throws(APIError) -> [(name: String, model: String, factors: [FactorTemplate])] {
        guard case .object(let root) = value, case .array(let modules)? = root["modules"] else {
            throw APIError.validation(field: "modules", "the file must be {\"modules\": [...]}")
        }
        var problems: [String: String] = [:]
        var result: [(String, String, [FactorTemplate])] = []
        var models = Set<String>()
        for (index, module) in modules.enumerated() {
            let at = "modules[\(index)]"
            guard case .object(let object) = module else {
                problems[at] = "must be an object"
                continue
            }
            for key in object.keys where !["name", "model", "factors"].contains(key) { problems["\(at).\(key)"] = "unknown field" }
            guard case .string(let name)? = object["name"], (1...100).contains(name.count) else {
                problems["\(at).name"] = "must be a string of 1..100"
                continue
            }
            guard case .string(let model)? = object["model"], (1...64).contains(model.count) else {
                problems["\(at).model"] = "must be a string of 1..64"
                continue
            }
            if !models.insert(model).inserted { problems["\(at).model"] = "duplicate model \(model)" }
            guard case .array(let factors)? = object["factors"], !factors.isEmpty, factors.count <= 200 else {
                problems["\(at).factors"] = "must be an array of 1..200 factor templates"
                continue
            }
            let templates = factors.enumerated().compactMap { read($1, at: "\(at).factors[\($0)]", problems: &problems) }
            result.append((name, model, templates))
        }
        if modules.isEmpty { problems["modules"] = "must not be empty" }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return result
    }
}
