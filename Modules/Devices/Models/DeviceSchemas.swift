import Core

/// The declarations the Devices routes parse and answer with; the OpenAPI document renders these same values.
public enum DeviceSchemas {
    /// A device as every Devices route answers it (never its safe_code).
    public static let device = Schema.object([
        .required("id", .integer(from: 1)),
        .required("device_id", .string()),
        .required("device_name", .string()),
        .required("info", .string()),
        .required("allow", .boolean),
        .required("agri_id", .string()),
        .required("model", .string()),
        .required("capabilities", .array(.string())),
        .required("create_time", .dateTime),
        .required("bind_time", Schema.dateTime.orNull),
        .required("connect_time", Schema.dateTime.orNull),
        .required("online", .boolean),
        .required("mqtt_connected_since", Schema.dateTime.orNull),
        .required("has_thresholds", .boolean),
        .required("project", Schema.object([.required("project_id", .string()), .required("name", .string())]).orNull),
    ]).named("Device")

    /// `POST …/devices/bind/`.
    public static let bind = Schema.object([
        .required("device_id", .string(1...64)),
        .required("safe_code", .string(1...64)),
    ]).named("DeviceBind")

    /// `PATCH`/`PUT …/devices/{device_pk}/` (the device record's read-only fields may be sent back and are ignored;
    /// `project` is refused: set-project moves a device).
    public static let update = Schema.object([
        .optional("device_name", .string(0...100)),
        .optional("info", .string(0...500)),
        .optional("allow", .boolean),
    ]).named("DeviceUpdate")

    /// `POST …/devices/{device_pk}/set-project/`.
    public static let setProject = Schema.object([.required("project_id", .string(1...64))]).named("DeviceSetProject")

    /// A telemetry body: points `{agri_id, value, t?}` (t: Unix seconds, default now); at most `telemetry.max_points`.
    public static let telemetry = Schema.array(Schema.object([
        .required("agri_id", Schema.string(1...128).described("1..128 bytes; points outside the device's prefix are dropped")),
        .required("value", .number()),
        .optional("t", Schema.integer(0...TelemetryPayload.maxTime).orNull),
        .optional("the_type", Schema.any.described("Enrichment echoed back; ignored")),
        .optional("project_id", Schema.any.described("Enrichment echoed back; ignored")),
        .optional("org_id", Schema.any.described("Enrichment echoed back; ignored")),
    ]).named("TelemetryPoint"))

    /// The answer of a telemetry POST (202, after commit).
    public static let ingestResult = Schema.object([
        .required("accepted", .integer(from: 0)),
        .required("dropped", .integer(from: 0)),
    ]).named("IngestResult")

    /// The latest value of each series: `{agri_id, <factor name or "value">: number, t}`.
    public static let latest = Schema.array(Schema.object([
        .required("agri_id", .string()),
        .required("t", .integer()),
    ], additional: .matching(.number())).named("LatestValue"))

    /// A page of a series' history (cursor-paginated).
    public static let history = Schema.object([
        .required("agri_id", Schema.string().orNull),
        .required("start", .integer()),
        .required("end", .integer()),
        .required("results", .array(.object([.required("agri_id", .string()), .required("value", .number()), .required("t", .integer())]))),
        .required("next", Schema.string().orNull),
    ]).named("TelemetryHistory")

    /// A series in buckets (`?interval=&agg=&tz=`): `count` always, then the aggregates asked for.
    public static let aggregation = Schema.object([
        .required("agri_id", .string()),
        .required("start", .integer()),
        .required("end", .integer()),
        .required("interval", .integer(1...Int64(AggregationRequest.maxInterval))),
        .required("tz", .string()),
        .required("agg", .array(.oneOf(AggregationRequest.Aggregate.allCases.map(\.rawValue)))),
        .required("results", .array(.object([
            .required("t", .integer()), .required("count", .integer(from: 1)),
            .optional("min", .number()), .optional("max", .number()), .optional("avg", .number()), .optional("sum", .number()),
            .optional("first", .number()), .optional("last", .number()),
        ]))),
    ]).named("TelemetryAggregation")

    /// Any answer of `GET …/data/`.
    public static let data = Schema.oneOf([latest, history, aggregation])

    static let commandStatus = Schema.oneOf(["pending", "delivered", "acked", "failed", "expired"])

    /// A queued control command as users see it.
    public static let command = Schema.object([
        .required("id", .integer(from: 1)),
        .required("kind", .oneOf(["reboot", "set-serial", "set-tcp"])),
        .required("command", .string()),
        .required("status", commandStatus),
        .required("output", Schema.string().orNull),
        .required("created_by", .string()),
        .required("created_at", .dateTime),
        .required("expires_at", .dateTime),
        .required("delivered_at", Schema.dateTime.orNull),
        .required("delivered_via", Schema.oneOf(["http", "mqtt"]).orNull),
        .required("finished_at", Schema.dateTime.orNull),
    ]).named("DeviceCommand")

    /// The answer of a control route: 202 with the commands queued.
    public static let queued = Schema.object([
        .required("detail", .oneOf(["queued"])),
        .required("commands", .array(command)),
    ]).named("CommandsQueued")

    /// `POST …/reboot/`: no body or `{}`.
    public static let reboot = Schema.object([]).named("Reboot")

    /// `POST …/set-serial/`.
    public static let setSerial = Schema.object([
        .required("baud_rate", .oneOf(integers: ControlAction.baudRates)),
        .required("data_bits", .oneOf(integers: [7, 8])),
        .required("stop_bits", .oneOf(integers: [1, 2])),
        .required("parity", .oneOf(["NONE", "ODD", "EVEN"])),
    ]).named("SetSerial")

    /// `POST …/set-tcp/`.
    public static let setTCP = Schema.object([
        .required("host", Schema.string(1...253).described("A hostname or a dotted IPv4 address")),
        .required("port", .integer(1...65_535)),
    ]).named("SetTCP")

    /// `GET /api/v2/gateway/`.
    public static let hello = Schema.object([
        .required("device_id", .string()),
        .required("agri_id", .string()),
        .required("bound", .boolean),
        .required("allow", .boolean),
    ]).named("GatewayHello")

    /// A command as its device receives it.
    public static let gatewayCommand = Schema.object([
        .required("id", .integer(from: 1)),
        .required("kind", .string()),
        .required("command", .string()),
        .required("created_at", .dateTime),
        .required("expires_at", .dateTime),
    ]).named("GatewayCommand")

    /// `GET /api/v2/gateway/commands/`.
    public static let gatewayCommands = Schema.object([.required("commands", .array(gatewayCommand))]).named("GatewayCommands")

    /// `POST /api/v2/gateway/commands/{command_id}/ack/`: no body or `{}` = done; `{ok: false, error}` = failed.
    public static let ack = Schema.object([
        .optional("ok", .boolean),
        .optional("output", Schema.string(0...4096).orNull),
        .optional("error", Schema.string(0...4096).orNull),
    ]).named("CommandAck")
}
