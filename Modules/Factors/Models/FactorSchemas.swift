import Core

/// The declarations the Factors routes parse and answer with; the OpenAPI document renders these same values.
public enum FactorSchemas {
    /// The configurable fields of a factor, as a create reads them (a PATCH reads any subset: `update`).
    static let specProperties: [Schema.Property] = [
        .required("agri_id", Schema.string(1...128, pattern: "^[a-z0-9_-]+$").described("The device's agri_id prefix plus a suffix")),
        .required("name", .string(1...64)),
        .optional("unit", .string(0...16)),
        .optional("slave_id", .integer(1...247)),
        .optional("function_code", .oneOf(integers: [3, 4])),
        .required("register", .integer(0...65_535)),
        .optional("data_type", .oneOf(FactorSpec.dataTypes)),
        .optional("byte_order", .oneOf(FactorSpec.byteOrders)),
        .optional("scale", .number()),
        .optional("offset", .number()),
        .optional("decimals", .integer(0...6)),
        .optional("threshold_min", Schema.number().orNull),
        .optional("threshold_max", Schema.number().orNull),
        .optional("alarm_enabled", .boolean),
        .optional("sort", .integer(-1_000_000...1_000_000)),
    ]

    /// `POST …/factors/` (the factor record's read-only fields may be sent back and are ignored).
    public static let create = Schema.object(specProperties).named("FactorCreate")
    /// `PATCH …/factors/{factor_id}/`.
    public static let update = create.partial.named("FactorUpdate")

    /// The fields of a factor as answered: every configurable one, always present.
    static let fields = specProperties.map { Schema.Property.required($0.name, $0.schema) }

    /// A factor as every Factors route answers it.
    public static let factor = Schema.object([.required("id", .integer(from: 1)), .required("device", .integer(from: 1))] + fields
        + [.required("created_at", .dateTime), .required("updated_at", .dateTime)]).named("Factor")

    /// The export document (`POST …/export-factors/`), which `import-factors` reads back.
    public static let document = Schema.object([
        .required("format", .oneOf([FactorDocument.format])),
        .required("version", .oneOf(integers: [Int64(FactorDocument.version)])),
        .required("exported_at", .dateTime),
        .required("device", .object([.required("device_id", .string()), .required("agri_id", .string()), .required("model", .string())])),
        .required("factors", .array(.object(fields))),
    ]).named("FactorDocument")

    /// The import form.
    public static let importForm = Schema.object([
        .required("file", Schema.binary.described("An export document")),
        .optional("clear_existing", Schema.oneOf(["true", "false", "1", "0", "on", "off", "yes", "no"])),
    ])

    /// The answer of an import.
    public static let imported = Schema.object([
        .required("imported", .integer(from: 0)),
        .required("cleared", .integer(from: 0)),
        .required("factors", .array(factor)),
    ]).named("FactorImport")

    /// `POST …/add-module/`.
    public static let addModule = Schema.object([
        .required("module_id", .integer(from: 1)),
        .required("slave_id", .integer(1...247)),
    ]).named("AddModule")

    /// A sensor module of the catalog with its factor templates.
    public static let module = Schema.object([
        .required("id", .integer(from: 1)),
        .required("name", .string()),
        .required("model", .string()),
        .required("factors", .array(.object([
            .required("name", .string()), .required("unit", .string()), .required("function_code", .integer()),
            .required("register", .integer()), .required("data_type", .string()), .required("byte_order", .string()),
            .required("scale", .number()), .required("offset", .number()), .required("decimals", .integer()), .required("sort", .integer()),
        ]))),
        .required("updated_at", .dateTime),
    ]).named("SensorModule")

    /// `GET /api/v2/gateway/factors/`: the calling device's channel map.
    public static let gatewayFactors = Schema.object([
        .required("agri_id", .string()),
        .required("factors", .array(factor)),
    ]).named("GatewayFactors")
}
