import Auth
import Core
import HTTP
import Platform

extension DevicesModule {
    public func registerRoutes(on api: RouteGroup) {
        let devices = service
        let bearer = service.auth.bearer
        api.get("/devices/", summary: "All devices of the organization the token sees (flat; ?search=&project_id=)",
                query: [QueryParameter("search", .string(0...200)), QueryParameter("project_id", .string(0...64))],
                responses: [.ok(.array(DeviceSchemas.device))], auth: bearer) { request, caller in
            // Empty filters are no filters (`?search=&project_id=` as the seed writes it).
            let projectID = request.query["project_id"].flatMap { $0.isEmpty ? nil : $0 }
            let views = try devices.list(caller: caller, search: request.query["search"], projectID: projectID)
            return .json(JSON.array(views.map(\.json)))
        }
        let project = api.group("/projects/:project_id/devices")
        project.get("/", summary: "Devices of a project (paginated, ?search=)",
                    query: QueryParameter.pagination + [QueryParameter("search", .string(0...200))],
                    responses: [.ok(.page(of: DeviceSchemas.device))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            let result = try devices.list(projectID: request.parameters.require("project_id"), caller: caller, search: request.query["search"],
                                          page: page)
            return .page(result, of: page, for: request)
        }
        project.post("/bind/", summary: "Bind a provisioned device by device_id + safe_code", body: .json(DeviceSchemas.bind),
                     responses: [.ok(DeviceSchemas.device)], auth: bearer) { request, caller in
            var reader = try FieldReader(request.json(), schema: DeviceSchemas.bind)
            let deviceID = reader.string("device_id")
            let safeCode = reader.string("safe_code")
            try reader.finish()
            let view = try devices.bind(projectID: request.parameters.require("project_id"), deviceID: deviceID!, safeCode: safeCode!,
                                        caller: caller)
            return .json(view)
        }
        project.get("/:device_pk/", summary: "Device detail", responses: [.ok(DeviceSchemas.device)], auth: bearer) { request, caller in
            return .json(try devices.detail(projectID: request.parameters.require("project_id"), pk: Self.devicePK(request), caller: caller))
        }
        let update: @Sendable (Request, Caller) throws -> Response = { request, caller in
            var reader = try FieldReader(request.json(), schema: DeviceSchemas.update, ignored: Self.readOnlyFields.union(["project"]))
            if reader.has("project") { reader.fail("project", "cannot be changed here; use POST …/set-project/ {\"project_id\"}") }
            let name = reader.string("device_name")
            let info = reader.string("info")
            let allow = reader.bool("allow")
            try reader.finish()
            return .json(try devices.update(projectID: request.parameters.require("project_id"), pk: Self.devicePK(request), caller: caller,
                                            deviceName: name, info: info, allow: allow))
        }
        project.patch("/:device_pk/", summary: "Update device_name, info, allow (partial)", body: .json(DeviceSchemas.update),
                      responses: [.ok(DeviceSchemas.device)], auth: bearer, use: update)
        project.put("/:device_pk/", summary: "Same as PATCH (seed 001 lists PUT/PATCH); partial", body: .json(DeviceSchemas.update),
                    responses: [.ok(DeviceSchemas.device)], auth: bearer, use: update)
        project.post("/:device_pk/unbind/", summary: "Unbind: the device returns to the unassigned pool", responses: [.noContent], auth: bearer) { request, caller in
            try devices.unbind(projectID: request.parameters.require("project_id"), pk: Self.devicePK(request), caller: caller)
            return .noContent
        }
        project.post("/:device_pk/set-project/", summary: "Move the device to another project of the organization",
                     body: .json(DeviceSchemas.setProject), responses: [.ok(DeviceSchemas.device)], auth: bearer) { request, caller in
            var reader = try FieldReader(request.json(), schema: DeviceSchemas.setProject)
            let target = reader.string("project_id")
            try reader.finish()
            return .json(try devices.setProject(projectID: request.parameters.require("project_id"), pk: Self.devicePK(request),
                                                targetProjectID: target!, caller: caller))
        }
        // Runs on the event loop and holds no thread while the group commit runs: the answer is deferred to the commit. (On
        // PostgreSQL a check that must read the database makes it run again on a worker: `EventLoopThread`.)
        project.on(.post, "/:device_pk/data/", summary: "Push telemetry: [{agri_id, value, t?}] → 202 {accepted, dropped} after commit",
                   body: .json(DeviceSchemas.telemetry), responses: [.accepted(DeviceSchemas.ingestResult)], auth: bearer,
                   blocking: false) { request, caller in
            let pending = DeferredResponse()
            try devices.ingest(projectID: request.parameters.require("project_id"), pk: Self.devicePK(request), caller: caller,
                               document: request.jsonBody()) { result in
                // Called by the group committer: the answer is rendered on the event loop that sends it.
                pending.complete(lazily: { result.map { .json($0, status: 202) } })
            }
            return .deferred(pending)
        }
        project.on(.get, "/:device_pk/data/", summary: "Latest value per agri_id; with ?agri_id=&start=&end= the history",
                   query: Self.historyQuery, responses: [.ok(DeviceSchemas.data)], auth: bearer, blocking: true) { request, caller in
            let projectID = try request.parameters.require("project_id")
            let pk = try Self.devicePK(request)
            let query = request.query
            let wantsHistory = ["agri_id", "start", "end", "cursor", "limit", "interval", "agg", "tz"].contains { query[$0] != nil }
            guard wantsHistory else { return .json(JSON.array(try devices.latest(projectID: projectID, pk: pk, caller: caller))) }
            var problems: [String: String] = [:]
            func time(_ name: String, default value: Int64) -> Int64 {
                guard let text = query[name] else { return value }
                guard let seconds = Timestamp.parseFilter(text), seconds >= 0, seconds < 1e11 else {
                    problems[name] = "must be Unix seconds or an RFC 3339 time"
                    return value
                }
                // t is whole seconds: t >= 10.5 ⇔ t >= 11 and t < 20.5 ⇔ t < 21, so both bounds round up.
                return Int64(seconds.rounded(.up))
            }
            let start = time("start", default: 0)
            let end = time("end", default: Int64(1e11))
            var limit = 1000
            if let text = query["limit"] {
                if let value = Int(text), (1...10_000).contains(value) { limit = value } else { problems["limit"] = "must be an integer 1..10000" }
            }
            if let agriID = query["agri_id"], agriID.isEmpty || agriID.utf8.count > 128 { problems["agri_id"] = "must be 1..128 bytes" }
            if problems.isEmpty, end <= start { problems["end"] = "must be after start" }
            if query["interval"] != nil || query["agg"] != nil || query["tz"] != nil {
                return .json(try Self.aggregation(request, devices, caller, projectID: projectID, pk: pk, start: start, end: end, problems: problems))
            }
            if !problems.isEmpty { throw APIError.validation(problems) }
            let page = try devices.history(projectID: projectID, pk: pk, caller: caller, agriID: query["agri_id"], start: start, end: end,
                                           cursor: query["cursor"], limit: limit)
            var body = JSONObject()
            body.append("agri_id", .optional(query["agri_id"]))
            body.append("start", .int64(start))
            body.append("end", .int64(end))
            body.append("results", .array(page.points.map {
                .object(["agri_id": .string($0.agriID), "value": .number($0.value), "t": .int64($0.t)])
            }))
            body.append("next", page.nextCursor.map { .string(request.link(replacing: "cursor", with: $0)) } ?? .null)
            return .json(body)
        }
        registerGatewayAndCommandRoutes(on: api)
    }

    /// `GET …/data/?agri_id=&start=&end=&interval=&agg=&tz=` (DESIGN §5.2 "Aggregation"): validates, then answers the
    /// buckets. `agri_id`, `start` and `interval` are required; `end` defaults to now; more than 10 000 buckets → 400
    /// naming `interval`.
    static func aggregation(_ request: Request, _ devices: DeviceService, _ caller: Caller, projectID: String, pk: Int64, start: Int64,
                            end: Int64, problems: [String: String]) throws -> JSON {
        let query = request.query
        var problems = problems
        if query["agri_id"] == nil { problems["agri_id"] = "is required with interval" }
        if query["start"] == nil { problems["start"] = "is required with interval" }
        var end = end
        if query["end"] == nil {
            end = devices.clock.unixSeconds() + 1
            if end <= start, problems["start"] == nil { problems["start"] = "must be before now" }
        }
        var interval: Int64 = 0
        if let text = query["interval"] {
            if let value = AggregationRequest.parseInterval(text) { interval = value } else { problems["interval"] = AggregationRequest.Problem.interval }
        } else {
            problems["interval"] = AggregationRequest.Problem.intervalRequired
        }
        var offset: Int64 = 0
        if let text = query["tz"] {
            if let value = AggregationRequest.parseOffset(text) { offset = value } else { problems["tz"] = AggregationRequest.Problem.tz }
        }
        var aggregates: [AggregationRequest.Aggregate] = [.count]
        if let text = query["agg"], !text.isEmpty {
            if let parsed = AggregationRequest.parseAggregates(text.split(separator: ",", omittingEmptySubsequences: false)) {
                aggregates = parsed
            } else {
                problems["agg"] = AggregationRequest.Problem.agg
            }
        }
        let aggregation = AggregationRequest(interval: max(1, interval), offset: offset, aggregates: aggregates)
        if problems.isEmpty, aggregation.exceedsBucketLimit(start: start, end: end) { problems["interval"] = AggregationRequest.Problem.tooManyBuckets }
        if !problems.isEmpty { throw APIError.validation(problems) }
        let agriID = query["agri_id"] ?? ""
        let buckets = try devices.aggregate(projectID: projectID, pk: pk, caller: caller, agriID: agriID, start: start, end: end,
                                            request: aggregation)
        var body = JSONObject()
        body.append("agri_id", .string(agriID))
        body.append("start", .int64(start))
        body.append("end", .int64(end))
        body.append("interval", .int64(interval))
        body.append("tz", .string(AggregationRequest.formatOffset(offset)))
        body.append("agg", .array(aggregates.map { .string($0.rawValue) }))
        body.append("results", .array(buckets.map { $0.json(aggregates) }))
        return .object(body)
    }

    /// Query parameters of `GET …/data/`: any of them asks for history instead of the latest values.
    static let historyQuery = [
        QueryParameter("agri_id", .string(1...128), "One series (1..128 bytes)"),
        QueryParameter("start", .string(1...64), "Unix seconds or RFC 3339, inclusive"),
        QueryParameter("end", .string(1...64), "Unix seconds or RFC 3339, exclusive"),
        QueryParameter("cursor", .string(1...200), "From a previous page's next link"),
        QueryParameter("limit", .integer(1...10_000)),
        QueryParameter("interval", .string(1...16), "Aggregation bucket: Ns, Nm, Nh, Nd or seconds (1 s … 366 d); needs agri_id and start"),
        QueryParameter("agg", .string(1...64), "Aggregates, comma-separated: count, min, max, avg, sum, first, last (count always)"),
        QueryParameter("tz", .string(1...8), "Fixed offset the buckets align to, e.g. +08:00 (default +00:00)"),
    ]

    /// Fields of the device record a PATCH may carry back unchanged; they are ignored.
    static let readOnlyFields: Set<String> = ["id", "device_id", "agri_id", "model", "capabilities", "create_time", "bind_time",
                                              "connect_time", "online", "has_thresholds", "project_id", "organization_id"]

    static func devicePK(_ request: Request) throws -> Int64 {
        try request.parameters.requireInt("device_pk", notFound: DeviceError.malformedPK)
    }
}
