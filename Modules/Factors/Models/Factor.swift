import Core

/// One sensor channel of a device (DESIGN §5.3): where to read it over Modbus and how to scale it.
public struct Factor: Sendable, Equatable, JSONRepresentable {
    public let id: Int64
    public let devicePK: Int64
    public var spec: FactorSpec
    public let createdAt: String
    public var updatedAt: String

    public var json: JSON {
        var object = JSONObject()
        object.append("id", .int64(id))
        object.append("device", .int64(devicePK))
        for entry in spec.fields.entries { object.append(entry.key, entry.value) }
        object.append("created_at", .string(createdAt))
        object.append("updated_at", .string(updatedAt))
        return .object(object)
    }
}

/// The configurable fields of a factor, validated.
public struct FactorSpec: Sendable, Equatable {
    public var agriID: String
    public var name: String
    public var unit: String
    public var slaveID: Int64
    public var functionCode: Int64
    public var register: Int64
    public var dataType: String
    public var byteOrder: String
    public var scale: Double
    public var offset: Double
    public var decimals: Int64
    public var thresholdMin: Double?
    public var thresholdMax: Double?
    public var alarmEnabled: Bool
    public var sort: Int64

    public static let dataTypes = ["int16", "uint16", "int32", "uint32", "float32"]
    public static let byteOrders = ["ABCD", "DCBA", "BADC", "CDAB"]
    /// Keys of a latest-value object (`{"agri_id", <name>, "t"}`) a factor name must not shadow.
    public static let reservedNames: Set<String> = ["agri_id", "t"]
    /// The configurable fields, as `FactorSchemas.create` declares them.
    public static var allFields: Set<String> { Set(FactorSchemas.create.properties.map(\.name)) }
    /// Fields of the factor record a client may send back unchanged; ignored.
    public static let readOnlyFields: Set<String> = ["id", "device", "created_at", "updated_at"]

    public var hasThresholds: Bool { thresholdMin != nil || thresholdMax != nil }

    /// The JSON fields in API order.
    public var fields: JSONObject {
        var object = JSONObject()
        object.append("agri_id", .string(agriID))
        object.append("name", .string(name))
        object.append("unit", .string(unit))
        object.append("slave_id", .int64(slaveID))
        object.append("function_code", .int64(functionCode))
        object.append("register", .int64(register))
        object.append("data_type", .string(dataType))
        object.append("byte_order", .string(byteOrder))
        object.append("scale", .number(scale))
        object.append("offset", .number(offset))
        object.append("decimals", .int64(decimals))
        object.append("threshold_min", .optional(thresholdMin))
        object.append("threshold_max", .optional(thresholdMax))
        object.append("alarm_enabled", .bool(alarmEnabled))
        object.append("sort", .int64(sort))
        return object
    }

    /// Reads a create (`base` nil: required fields enforced, defaults applied) or a partial update of
    /// `base`; every problem is named in one `VALIDATION_ERROR`. `agri_id` is checked against `prefix`.
    public static func read(_ body: JSON, base: FactorSpec?, prefix: String) throws(APIError) -> FactorSpec {
        var reader = try FieldReader(body, schema: FactorSchemas.create, ignored: readOnlyFields)
        let creating = base == nil
        var spec = base ?? FactorSpec(agriID: "", name: "", unit: "", slaveID: 1, functionCode: 3, register: 0, dataType: "int16",
                                      byteOrder: "ABCD", scale: 1, offset: 0, decimals: 0, thresholdMin: nil, thresholdMax: nil,
                                      alarmEnabled: false, sort: 0)
        if let agriID = reader.string("agri_id", required: creating) {
            if !agriID.hasPrefix(prefix) {
                reader.fail("agri_id", "must start with the device's prefix \(prefix)")
            } else if agriID == prefix || !agriID.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }) {
                reader.fail("agri_id", "must be the device prefix plus a suffix, of a-z 0-9 _ -")
            } else {
                spec.agriID = agriID
            }
        }
        if let name = reader.string("name", required: creating) {
            if reservedNames.contains(name) {
                reader.fail("name", "must not be \(name): the latest-value read already uses that key")
            } else {
                spec.name = name
            }
        }
        if let unit = reader.string("unit") { spec.unit = unit }
        if let slaveID = reader.int("slave_id") { spec.slaveID = slaveID }
        if let code = reader.int("function_code") {
            if code == 3 || code == 4 { spec.functionCode = code } else { reader.fail("function_code", "must be 3 or 4") }
        }
        if let register = reader.int("register", required: creating) { spec.register = register }
        if let type = reader.string("data_type") {
            if dataTypes.contains(type) {
                spec.dataType = type
            } else {
                reader.fail("data_type", "must be one of \(dataTypes.joined(separator: ", "))")
            }
        }
        if let order = reader.string("byte_order") {
            if byteOrders.contains(order) {
                spec.byteOrder = order
            } else {
                reader.fail("byte_order", "must be one of \(byteOrders.joined(separator: ", "))")
            }
        }
        if let scale = reader.double("scale") { spec.scale = scale }
        if let offset = reader.double("offset") { spec.offset = offset }
        if let decimals = reader.int("decimals") { spec.decimals = decimals }
        if reader.has("threshold_min") { spec.thresholdMin = reader.double("threshold_min", nullable: true) }
        if reader.has("threshold_max") { spec.thresholdMax = reader.double("threshold_max", nullable: true) }
        if let enabled = reader.bool("alarm_enabled") { spec.alarmEnabled = enabled }
        if let sort = reader.int("sort") { spec.sort = sort }
        if let low = spec.thresholdMin, let high = spec.thresholdMax, low > high {
            reader.fail("threshold_min", "must be ≤ threshold_max")
        }
        try reader.finish()
        return spec
    }
}
