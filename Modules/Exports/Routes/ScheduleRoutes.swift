import Auth
import Core
import HTTP
import Platform

extension ExportsModule {
    /// `/api/v2/projects/{project_id}/data-download-schedules/`: CRUD of recurring exports.
    func registerScheduleRoutes(_ api: RouteGroup, _ exports: ExportService, _ bearer: Authenticator<Caller>) {
        let schedules = api.group("/projects/:project_id/data-download-schedules")
        let scheduleID: @Sendable (Request) throws -> Int64 = { request in
            try request.parameters.requireInt("schedule_id") { ExportError.scheduleNotFound(id: Int64($0) ?? 0) }
        }
        let clock = exports.clock
        schedules.get("/", summary: "Recurring data-download schedules of the project", responses: [.ok(.array(ExportSchemas.schedule))], auth: bearer) { request, caller in
            let now = clock.unixSeconds()
            let list = try exports.schedules(projectID: request.parameters.require("project_id"), caller: caller)
            return .json(JSON.array(list.map { $0.json(now: now) }))
        }
        let createSummary = "Create a schedule {name?, device_id?, factors?, format?, period, hour?, weekday?, enabled?}"
        schedules.post("/", summary: createSummary, body: .json(ExportSchemas.scheduleInput), responses: [.created(ExportSchemas.schedule)],
                       auth: bearer) { request, caller in
            let projectID = try request.parameters.require("project_id")
            let input = try Self.scheduleInput(request.json(), creating: true)
            let schedule = try exports.createSchedule(projectID: projectID, caller: caller, input)
            return .created(schedule.json(now: clock.unixSeconds()),
                            location: "/api/v2/projects/\(projectID)/data-download-schedules/\(schedule.id)/")
        }
        schedules.get("/:schedule_id/", summary: "One schedule", responses: [.ok(ExportSchemas.schedule)], auth: bearer) { request, caller in
            .json(try exports.schedule(projectID: request.parameters.require("project_id"), id: scheduleID(request), caller: caller)
                .json(now: clock.unixSeconds()))
        }
        for method in [HTTPMethod.put, .patch] {
            schedules.on(method, "/:schedule_id/", summary: "Change a schedule (the given fields)", body: .json(ExportSchemas.scheduleInput.partial),
                         responses: [.ok(ExportSchemas.schedule)], auth: bearer) { request, caller in
                let input = try Self.scheduleInput(request.json(), creating: false)
                return .json(try exports.updateSchedule(projectID: request.parameters.require("project_id"), id: scheduleID(request), caller: caller,
                                                        input).json(now: clock.unixSeconds()))
            }
        }
        schedules.delete("/:schedule_id/", summary: "Delete a schedule (its tasks stay)", responses: [.noContent], auth: bearer) { request, caller in
            try exports.deleteSchedule(projectID: request.parameters.require("project_id"), id: scheduleID(request), caller: caller)
            return .noContent
        }
    }

    static func scheduleInput(_ body: JSON, creating: Bool) throws -> ScheduleInput {
        var reader = try FieldReader(body, schema: ExportSchemas.scheduleInput,
                                     ignored: ["id", "last_run_at", "next_run_at", "created_at", "updated_at"])
        var input = ScheduleInput()
        input.name = reader.string("name", nullable: false)
        if reader.has("device_id") {
            input.devicePK = .some(reader.object["device_id"]?.isNull == true ? nil : reader.int("device_id"))
        }
        input.factors = reader.object["factors"]?.isNull == true ? [] : reader.stringArray("factors")
        if let text = reader.string("format") {
            if let value = ExportFormat(rawValue: text) { input.format = value } else { reader.fail("format", "must be csv, xlsx or ndjson") }
        }
        if let text = reader.string("period", required: creating) {
            if let value = ExportSchedule.Period(rawValue: text) { input.period = value } else { reader.fail("period", "must be daily or weekly") }
        }
        input.hour = reader.int("hour")
        input.weekday = reader.int("weekday")
        input.enabled = reader.bool("enabled")
        (input.interval, input.aggregates, input.offset) = aggregationFields(&reader)
        try reader.finish()
        return input
    }
}
