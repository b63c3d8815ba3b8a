import Auth
import Core
import HTTP
import Platform

extension AlertsModule {
    /// Every route of seed 003 under `/api/v2/projects/{project_id}/alert/` (DESIGN §5.4), plus webhook receivers.
    public func registerRoutes(on api: RouteGroup) {
        let alerts = service
        let bearer = auth.bearer
        let base = api.group("/projects/:project_id/alert")

        base.on(.get, "/config/", summary: "The project's alert switches (created on first read)", responses: [.ok(AlertSchemas.config)],
                auth: bearer, blocking: true) { request, caller in
            let (project, config) = try alerts.config(projectID: request.parameters.require("project_id"), caller: caller)
            return .json(config.json(projectID: project.projectID))
        }
        base.patch("/config/", summary: "Change alert switches, cooldown, offline detection, locale (partial)",
                   body: .json(AlertSchemas.configChange), responses: [.ok(AlertSchemas.config)], auth: bearer) { request, caller in
            let projectID = try Self.writableProject(request, caller, alerts)
            let change = try Self.configChange(request.json())
            let (project, config) = try alerts.updateConfig(projectID: projectID, caller: caller, change)
            return .json(config.json(projectID: project.projectID))
        }

        for channel in AlertChannel.allCases { registerReceiverRoutes(base, channel, alerts, bearer) }
        registerLevelRoutes(base, alerts, bearer)
        registerItemRoutes(base, alerts, bearer)
    }

    private func registerReceiverRoutes(_ base: RouteGroup, _ channel: AlertChannel, _ alerts: AlertService, _ bearer: Authenticator<Caller>) {
        let group = base.group("/\(channel.rawValue)-notifications")
        let label = channel == .sms ? "SMS" : channel == .email ? "e-mail" : "webhook"
        let receiverID: @Sendable (Request) throws -> Int64 = { request in
            try request.parameters.requireInt("receiver_id") { AlertError.receiverNotFound(id: Int64($0) ?? 0) }
        }
        group.get("/", summary: "The project's \(label) receivers", responses: [.ok(.array(AlertSchemas.receiver(channel)))], auth: bearer) { request, caller in
            .json(JSON.array(try alerts.receivers(projectID: request.parameters.require("project_id"), channel: channel, caller: caller).map(\.json)))
        }
        group.post("/", summary: "Add a \(label) receiver to the project", body: .json(AlertSchemas.receiverInput(channel)),
                   responses: [.created(AlertSchemas.receiver(channel))], auth: bearer) { request, caller in
            let projectID = try Self.writableProject(request, caller, alerts)
            let input = try Self.receiverInput(request.json(), channel: channel, requireTarget: true, policy: alerts.webhookPolicy)
            let receiver = try alerts.createReceiver(projectID: projectID, channel: channel, caller: caller, input)
            return .created(receiver.json, location: "/api/v2/projects/\(projectID)/alert/\(channel.rawValue)-notifications/\(receiver.id)/")
        }
        group.get("/:receiver_id/", summary: "One \(label) receiver", responses: [.ok(AlertSchemas.receiver(channel))], auth: bearer) { request, caller in
            .json(try alerts.receiver(projectID: request.parameters.require("project_id"), channel: channel, id: receiverID(request),
                                      caller: caller).json)
        }
        for (method, full) in [(HTTPMethod.put, true), (HTTPMethod.patch, false)] {
            let summary = full ? "Replace a \(label) receiver (the address is required)" : "Change a \(label) receiver (partial)"
            let input = AlertSchemas.receiverInput(channel)
            group.on(method, "/:receiver_id/", summary: summary, body: .json(full ? input : input.partial),
                     responses: [.ok(AlertSchemas.receiver(channel))], auth: bearer) { request, caller in
                let projectID = try Self.writableProject(request, caller, alerts)
                let input = try Self.receiverInput(request.json(), channel: channel, requireTarget: full, policy: alerts.webhookPolicy)
                return .json(try alerts.updateReceiver(projectID: projectID, channel: channel, id: receiverID(request), caller: caller, input).json)
            }
        }
        group.delete("/:receiver_id/", summary: "Remove a \(label) receiver", responses: [.noContent], auth: bearer) { request, caller in
            try alerts.deleteReceiver(projectID: request.parameters.require("project_id"), channel: channel, id: receiverID(request), caller: caller)
            return .noContent
        }
    }

    private func registerLevelRoutes(_ base: RouteGroup, _ alerts: AlertService, _ bearer: Authenticator<Caller>) {
        let levels = base.group("/levels")
        let levelID: @Sendable (Request) throws -> Int64 = { request in
            try request.parameters.requireInt("level_id") { AlertError.levelNotFound(id: Int64($0) ?? 0) }
        }
        levels.on(.get, "/", summary: "Alert levels of the project (one default per type to start with)",
                  responses: [.ok(.array(AlertSchemas.level))], auth: bearer, blocking: true) { request, caller in
            .json(JSON.array(try alerts.levels(projectID: request.parameters.require("project_id"), caller: caller).map(\.json)))
        }
        levels.post("/", summary: "Add an alert level {name, the_type, severity}", body: .json(AlertSchemas.levelInput),
                    responses: [.created(AlertSchemas.level)], auth: bearer) { request, caller in
            let projectID = try Self.writableProject(request, caller, alerts)
            let (name, theType, severity) = try Self.levelFields(request.json(), creating: true)
            let level = try alerts.createLevel(projectID: projectID, caller: caller, name: name!, theType: theType ?? "threshold",
                                               severity: severity ?? "warning")
            return .created(level, location: "/api/v2/projects/\(projectID)/alert/levels/\(level.id)/")
        }
        levels.get("/:level_id/", summary: "One alert level", responses: [.ok(AlertSchemas.level)], auth: bearer) { request, caller in
            .json(try alerts.level(projectID: request.parameters.require("project_id"), id: levelID(request), caller: caller))
        }
        for method in [HTTPMethod.put, .patch] {
            levels.on(method, "/:level_id/", summary: "Change an alert level (partial)", body: .json(AlertSchemas.levelInput.partial),
                      responses: [.ok(AlertSchemas.level)], auth: bearer) { request, caller in
                let projectID = try Self.writableProject(request, caller, alerts)
                let (name, theType, severity) = try Self.levelFields(request.json(), creating: false)
                return .json(try alerts.updateLevel(projectID: projectID, id: levelID(request), caller: caller, name: name, theType: theType,
                                                    severity: severity))
            }
        }
        levels.delete("/:level_id/", summary: "Delete an alert level (409 LEVEL_IN_USE when alerts refer to it)", responses: [.noContent],
                      auth: bearer) { request, caller in
            try alerts.deleteLevel(projectID: request.parameters.require("project_id"), id: levelID(request), caller: caller)
            return .noContent
        }
    }

    private func registerItemRoutes(_ base: RouteGroup, _ alerts: AlertService, _ bearer: Authenticator<Caller>) {
        let items = base.group("/items")
        let itemID: @Sendable (Request) throws -> Int64 = { request in
            try request.parameters.requireInt("alert_pk") { AlertError.itemNotFound(id: Int64($0) ?? 0) }
        }
        items.get("/", summary: "Alerts, newest first (paginated; ?status=&the_type=&device=&start=&end=)", query: Self.itemQueryParameters,
                  responses: [.ok(.page(of: AlertSchemas.item))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            let result = try alerts.items(projectID: request.parameters.require("project_id"), caller: caller, query: Self.itemQuery(request),
                                          page: page)
            return .page(result, of: page, for: request)
        }
        items.post("/", summary: "Open a manual alert {device, level?, description}", body: .json(AlertSchemas.manualItem),
                   responses: [.created(AlertSchemas.item)], auth: bearer) { request, caller in
            let projectID = try Self.writableProject(request, caller, alerts)
            var reader = try FieldReader(request.json(), schema: AlertSchemas.manualItem)
            let device = reader.int("device")
            let level = reader.int("level")
            let description = reader.string("description")
            try reader.finish()
            let item = try alerts.createManual(projectID: projectID, caller: caller, devicePK: device!, levelID: level, description: description!)
            return .created(item, location: "/api/v2/projects/\(projectID)/alert/items/\(item["id"]?.int64Value ?? 0)/")
        }
        items.get("/current/", summary: "Every active alert (unpaginated)", responses: [.ok(.array(AlertSchemas.item))], auth: bearer) { request, caller in
            .json(JSON.array(try alerts.currentItems(projectID: request.parameters.require("project_id"), caller: caller)))
        }
        items.post("/trigger-test/", summary: "A synthetic alert on the first device, notified like a real one",
                   responses: [.created(AlertSchemas.item)], auth: bearer) { request, caller in
            let projectID = try request.parameters.require("project_id")
            let item = try alerts.triggerTest(projectID: projectID, caller: caller)
            return .created(item, location: "/api/v2/projects/\(projectID)/alert/items/\(item["id"]?.int64Value ?? 0)/")
        }
        items.get("/:alert_pk/", summary: "One alert with the delivery state of its notifications", responses: [.ok(AlertSchemas.item)],
                  auth: bearer) { request, caller in
            .json(try alerts.item(projectID: request.parameters.require("project_id"), id: itemID(request), caller: caller))
        }
        items.patch("/:alert_pk/", summary: "Change an alert's description (the only writable field)", body: .json(AlertSchemas.itemChange),
                    responses: [.ok(AlertSchemas.item)], auth: bearer) { request, caller in
            let projectID = try Self.writableProject(request, caller, alerts)
            var reader = try FieldReader(request.json(), schema: AlertSchemas.itemChange, ignored: Self.readOnlyFields)
            let description = reader.string("description")
            try reader.finish()
            return .json(try alerts.updateDescription(projectID: projectID, id: itemID(request), caller: caller, description: description!))
        }
        items.delete("/:alert_pk/", summary: "Delete an alert that is not active", responses: [.noContent], auth: bearer) { request, caller in
            try alerts.deleteItem(projectID: request.parameters.require("project_id"), id: itemID(request), caller: caller)
            return .noContent
        }
        items.post("/:alert_pk/cancel/", summary: "Cancel an active alert (400 INVALID_ALERT_STATE otherwise)", responses: [.ok(AlertSchemas.item)],
                   auth: bearer) { request, caller in
            .json(try alerts.cancel(projectID: request.parameters.require("project_id"), id: itemID(request), caller: caller))
        }
    }

    // MARK: - Input

    /// The `project_id` of a write, once the caller is known to be allowed to write it: scope first, then the body,
    /// so a viewer, a token of another project or another organization learns nothing from validation.
    static func writableProject(_ request: Request, _ caller: Caller, _ alerts: AlertService) throws -> String {
        let projectID = try request.parameters.require("project_id")
        try alerts.authorizeWrite(projectID: projectID, caller: caller)
        return projectID
    }

    /// Fields a client may send back from what it read (DESIGN §4: `id`, `project_id`, `organization_id` are ignored).
    static let readOnlyFields: Set<String> = ["id", "project", "project_id", "organization_id", "created_at", "updated_at"]


    static func configChange(_ body: JSON) throws -> AlertService.ConfigChange {
        var reader = try FieldReader(body, schema: AlertSchemas.configChange, ignored: readOnlyFields)
        var change = AlertService.ConfigChange()
        change.enabled = reader.bool("enabled")
        change.cooldownMinutes = reader.int("cooldown_minutes")
        change.smsEnabled = reader.bool("sms_enabled")
        change.emailEnabled = reader.bool("email_enabled")
        change.webhookEnabled = reader.bool("webhook_enabled")
        change.offlineAlertsEnabled = reader.bool("offline_alerts_enabled")
        change.offlineAfterMinutes = reader.int("offline_after_minutes")
        if let locale = reader.string("locale") {
            if AlertConfig.locales.contains(locale) { change.locale = locale } else { reader.fail("locale", "must be zh-CN or en") }
        }
        try reader.finish()
        return change
    }

    static func receiverInput(_ body: JSON, channel: AlertChannel, requireTarget: Bool, policy: OutboundAddressPolicy) throws
        -> AlertService.ReceiverInput {
        var reader = try FieldReader(body, schema: AlertSchemas.receiverInput(channel), ignored: readOnlyFields.union(["has_secret"]))
        var input = AlertService.ReceiverInput()
        if let target = reader.string(channel.targetField, required: requireTarget) {
            if let problem = ReceiverAddress.problem(target, channel: channel, policy: policy) { reader.fail(channel.targetField, problem) } else { input.target = target }
        }
        input.name = reader.string("name")
        input.enabled = reader.bool("enabled")
        if channel == .webhook { input.secret = reader.string("secret") }
        try reader.finish()
        return input
    }

    static func levelFields(_ body: JSON, creating: Bool) throws -> (String?, String?, String?) {
        var reader = try FieldReader(body, schema: AlertSchemas.levelInput, ignored: readOnlyFields)
        let name = reader.string("name", required: creating)
        var theType = reader.string("the_type")
        if let value = theType, !AlertLevel.types.contains(value) {
            reader.fail("the_type", "must be one of \(AlertLevel.types.joined(separator: ", "))")
            theType = nil
        }
        var severity = reader.string("severity")
        if let value = severity, !AlertLevel.severities.contains(value) {
            reader.fail("severity", "must be one of \(AlertLevel.severities.joined(separator: ", "))")
            severity = nil
        }
        try reader.finish()
        return (name, theType, severity)
    }

    /// Query parameters of the alert list.
    static let itemQueryParameters = QueryParameter.pagination + [
        QueryParameter("status", .oneOf(AlertItem.Status.allCases.map(\.rawValue))),
        QueryParameter("the_type", .oneOf(AlertLevel.types)),
        QueryParameter("device", .integer(from: 1)),
        QueryParameter("start", .string(1...64), "RFC 3339 or Unix seconds, inclusive"),
        QueryParameter("end", .string(1...64), "RFC 3339 or Unix seconds, exclusive"),
    ]

    static func itemQuery(_ request: Request) throws -> AlertService.ItemQuery {
        var query = AlertService.ItemQuery()
        var problems: [String: String] = [:]
        if let text = request.query["status"], !text.isEmpty {
            if let status = AlertItem.Status(rawValue: text) { query.status = status } else { problems["status"] = "must be active, cancelled or resolved" }
        }
        if let text = request.query["the_type"], !text.isEmpty {
            if AlertLevel.types.contains(text) { query.theType = text } else { problems["the_type"] = "must be one of \(AlertLevel.types.joined(separator: ", "))" }
        }
        if let text = request.query["device"], !text.isEmpty {
            if let pk = Int64(text), pk > 0 { query.devicePK = pk } else { problems["device"] = "must be a device id" }
        }
        for name in ["start", "end"] {
            guard let text = request.query[name], !text.isEmpty else { continue }
            guard let seconds = Timestamp.parseFilter(text), seconds.magnitude < 1e11 else {
                problems[name] = "must be RFC 3339 or Unix seconds"
                continue
            }
            // Rounded up: `created_at` has whole seconds, so `>= ceil(start)` and `< ceil(end)` are `>= start` and `< end`.
            let formatted = Timestamp.format(unixSeconds: Int64(seconds.rounded(.up)))
            if name == "start" { query.start = formatted } else { query.end = formatted }
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return query
    }
}
