import Auth
import Core
import Devices
import Foundation
import HTTP
import Platform

extension ExportsModule {
    /// `/api/v2/projects/{project_id}/data-download-tasks/` and `…-schedules/` (DESIGN §5.5), and the pre-signed
    /// `/api/v2/downloads/{token}`. PUT and PATCH of a task are not registered, so the router answers 405 with `Allow`.
    public func registerRoutes(on api: RouteGroup) {
        let exports = service
        let bearer = auth.bearer
        let tasks = api.group("/projects/:project_id/data-download-tasks")
        let taskID: @Sendable (Request) throws -> Int64 = { request in
            try request.parameters.requireInt("task_id") { ExportError.taskNotFound(id: Int64($0) ?? 0) }
        }

        tasks.get("/", summary: "Data-download tasks, newest first (paginated; ?status=)",
                  query: QueryParameter.pagination + [QueryParameter("status", .oneOf(ExportTask.Status.allCases.map(\.rawValue)))],
                  responses: [.ok(.page(of: ExportSchemas.task))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            var status: ExportTask.Status?
            if let text = request.query["status"], !text.isEmpty {
                guard let value = ExportTask.Status(rawValue: text) else {
                    let names = ExportTask.Status.allCases.map(\.rawValue).joined(separator: ", ")
                    throw APIError.validation(field: "status", "must be one of \(names)")
                }
                status = value
            }
            let (project, result) = try exports.tasks(projectID: request.parameters.require("project_id"), caller: caller, status: status,
                                                      page: page)
            return .page(PageResult(count: result.count, items: result.items.map { $0.json(projectID: project.projectID) }), of: page, for: request)
        }
        let createSummary = "Create a data-download task {name?, device_id?, factors?, start_time, end_time?, format?}"
        tasks.post("/", summary: createSummary, body: .json(ExportSchemas.taskRequest), responses: [.created(ExportSchemas.task)], auth: bearer) { request, caller in
            let input = try Self.exportRequest(request.json())
            let (project, task) = try exports.create(projectID: request.parameters.require("project_id"), caller: caller, input)
            return .created(task.json(projectID: project.projectID), location: ExportTask.path(projectID: project.projectID, id: task.id))
        }
        tasks.get("/:task_id/", summary: "One data-download task", responses: [.ok(ExportSchemas.task)], auth: bearer) { request, caller in
            let (project, task) = try exports.task(projectID: request.parameters.require("project_id"), id: taskID(request), caller: caller)
            return .json(task.json(projectID: project.projectID))
        }
        tasks.delete("/:task_id/", summary: "Delete a task and its file (a running one is cancelled first)", responses: [.noContent], auth: bearer) { request, caller in
            try exports.delete(projectID: request.parameters.require("project_id"), id: taskID(request), caller: caller)
            return .noContent
        }
        let cancelSummary = "Cancel a pending or running task (400 INVALID_TASK_STATE otherwise)"
        tasks.post("/:task_id/cancel/", summary: cancelSummary, responses: [.ok(ExportSchemas.task)], auth: bearer) { request, caller in
            let (project, task) = try exports.cancel(projectID: request.parameters.require("project_id"), id: taskID(request), caller: caller)
            return .json(task.json(projectID: project.projectID))
        }
        let downloadSummary = "302 to a pre-signed download URL valid 15 min (?redirect=false: 200 {url, expires_at})"
        tasks.on(.get, "/:task_id/download/", summary: downloadSummary, query: [QueryParameter("redirect", .oneOf(["true", "false"]))],
                 responses: [.ok(ExportSchemas.downloadLink), ResponseDoc(status: 302, description: "Location: the pre-signed URL",
                                                                          schema: ExportSchemas.downloadLink)],
                 auth: bearer, blocking: true) { request, caller in
            let link = try exports.downloadLink(projectID: request.parameters.require("project_id"), id: taskID(request), caller: caller)
            let body = JSON.object(["url": .string(link.url), "expires_at": .string(Timestamp.format(unixSeconds: link.expiresAt))])
            if request.query["redirect"]?.lowercased() == "false" { return .json(body) }
            var response = Response.json(body, status: 302)
            response.headers.add("Location", link.url)
            return response
        }

        let streamSummary = "Stream an export's file through a pre-signed link (HEAD, a single Range → 206)"
        let file = "The export file (text/csv, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet or application/x-ndjson)"
        api.on(.get, "/downloads/:token", summary: streamSummary,
               responses: [.content(200, "*/*", file), .content(206, "*/*", "The requested byte range of the file")],
               auth: .anonymous, blocking: true) { request in
            let (task, path) = try exports.resolveDownload(token: request.parameters.require("token"))
            guard var file = FileBody(path: path) else { throw ExportError.gone(id: task.id, status: "missing its file") }
            var status = 200
            var headers: [(String, String)] = [("Accept-Ranges", "bytes"),
                                               ("Content-Disposition", Self.contentDisposition(task.downloadName)),
                                               ("Cache-Control", "private, no-store")]
            if let header = request.headers["Range"], let range = try Self.byteRange(header, size: file.size) {
                file.select(range)
                status = 206
                headers.append(("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(file.size)"))
            }
            var response = Response.file(file, contentType: task.format.contentType, status: status)
            for (name, value) in headers { response.headers.add(name, value) }
            return response
        }

        registerScheduleRoutes(api, exports, bearer)
    }

    // MARK: - Input

    static func exportRequest(_ body: JSON) throws -> ExportRequest {
        var reader = try FieldReader(body, schema: ExportSchemas.taskRequest, ignored: ["id", "status", "progress", "create_time"])
        let name = reader.string("name")
        let devicePK = reader.object["device_id"]?.isNull == true ? nil : reader.int("device_id")
        let factors = reader.object["factors"]?.isNull == true ? nil : reader.stringArray("factors")
        let start = time(&reader, "start_time", required: true)
        let end = reader.object["end_time"]?.isNull == true ? nil : time(&reader, "end_time", required: false)
        var format = ExportFormat.csv
        if let text = reader.string("format") {
            if let value = ExportFormat(rawValue: text) { format = value } else { reader.fail("format", "must be csv, xlsx or ndjson") }
        }
        if let start, let end, end <= start { reader.fail("end_time", "must be after start_time") }
        let fields = aggregationFields(&reader)
        var aggregation: AggregationRequest?
        if case .some(.some(let interval)) = fields.interval {
            aggregation = AggregationRequest(interval: interval, offset: fields.offset ?? 0, aggregates: fields.aggregates ?? [.count])
        } else if fields.aggregates != nil || fields.offset != nil, reader.problems["interval"] == nil {
            reader.fail("interval", AggregationRequest.Problem.intervalRequired)
        }
        try reader.finish()
        return ExportRequest(name: name, devicePK: devicePK, factors: factors ?? [], startTime: start!, endTime: end, format: format,
                             aggregation: aggregation)
    }

    /// `interval`, `agg` and `tz` of a task or schedule body, each nil when absent (or null, for `agg` and `tz`), with
    /// the aggregation API's rules and words (DESIGN §5.2): `interval` `Ns`/`Nm`/`Nh`/`Nd` or seconds (a string or a
    /// number), 1 s … 366 d, `.some(nil)` when null; `agg` a list or a comma-separated string of aggregate names
    /// (`count` first, no repeats); `tz` a fixed offset.
    static func aggregationFields(_ reader: inout FieldReader) -> (interval: Int64??, aggregates: [AggregationRequest.Aggregate]?, offset: Int64?) {
        var interval: Int64??
        switch reader.object["interval"] {
        case nil: interval = nil
        case .null?: interval = .some(nil)
        case .string(let text)?:
            if let seconds = AggregationRequest.parseInterval(text) { interval = seconds } else { reader.fail("interval", AggregationRequest.Problem.interval) }
        case .number(let number)? where number == number.rounded() && number >= 1 && number <= Double(AggregationRequest.maxInterval):
            interval = Int64(number)
        default: reader.fail("interval", AggregationRequest.Problem.interval)
        }
        var aggregates: [AggregationRequest.Aggregate]?
        switch reader.object["agg"] {
        case nil, .null?: break
        case .string(let text)?:
            if text.isEmpty {
                aggregates = [.count]
            } else if let parsed = AggregationRequest.parseAggregates(text.split(separator: ",", omittingEmptySubsequences: false)) {
                aggregates = parsed
            } else {
                reader.fail("agg", AggregationRequest.Problem.agg)
            }
        case .array(let items)? where items.count <= 7 && items.allSatisfy({ $0.stringValue != nil }):
            if let parsed = AggregationRequest.parseAggregates(items.compactMap(\.stringValue)) { aggregates = parsed } else {
                reader.fail("agg", AggregationRequest.Problem.agg)
            }
        default: reader.fail("agg", AggregationRequest.Problem.agg)
        }
        var offset: Int64?
        switch reader.object["tz"] {
        case nil, .null?: break
        case .string(let text)?:
            if let seconds = AggregationRequest.parseOffset(text) { offset = seconds } else { reader.fail("tz", AggregationRequest.Problem.tz) }
        default: reader.fail("tz", AggregationRequest.Problem.tz)
        }
        return (interval, aggregates, offset)
    }

    /// Unix seconds (a number or a numeric string) or RFC 3339.
    static func time(_ reader: inout FieldReader, _ key: String, required: Bool) -> Int64? {
        guard let value = reader.object[key] else {
            if required { reader.fail(key, "is required") }
            return nil
        }
        let seconds: Double?
        switch value {
        case .number(let number): seconds = number
        case .string(let text): seconds = Timestamp.parseFilter(text)
        default: seconds = nil
        }
        guard let seconds, seconds.isFinite, seconds >= 0, seconds < 1e11 else {
            reader.fail(key, "must be Unix seconds or an RFC 3339 time")
            return nil
        }
        return Int64(seconds.rounded(.down))
    }

    /// The one range of `bytes=a-b`, `bytes=a-` or `bytes=-n` within `size`; nil for no usable header (several ranges,
    /// another unit, malformed: the whole file is sent); 416 when it lies outside the file.
    static func byteRange(_ header: String, size: Int64) throws -> ClosedRange<Int64>? {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes=") else { return nil }
        let spec = text.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let suffix = Int64(last), suffix >= 0 else { return nil }
            guard suffix > 0, size > 0 else { throw ExportError.rangeNotSatisfiable(size: size) }
            return max(0, size - suffix)...(size - 1)
        }
        guard let start = Int64(first), start >= 0 else { return nil }
        var end = size - 1
        if !last.isEmpty {
            guard let value = Int64(last), value >= start else { return nil }
            end = min(value, size - 1)
        }
        guard start < size else { throw ExportError.rangeNotSatisfiable(size: size) }
        return start...end
    }

    /// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266, RFC 8187), of the task name's
    /// `safeFileName`.
    static func contentDisposition(_ taskName: String) -> String {
        let name = safeFileName(taskName)
        let fallback = String(String.UnicodeScalarView(name.unicodeScalars.map { scalar -> Unicode.Scalar in
            scalar.isASCII && scalar.value >= 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "\\" ? scalar : "_"
        }))
        var encoded = ""
        for byte in name.utf8 {
            let safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || "!#$&+-.^_`|~".utf8.contains(byte)
            encoded += safe ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }

    /// A base name a browser saves as is: path separators, control characters (C0, DEL, C1) and bidirectional
    /// formatting characters become `_`, leading dots and spaces go (no hidden or relative name), at most 200
    /// characters; `export` when nothing is left.
    static func safeFileName(_ name: String) -> String {
        let replaced = String(String.UnicodeScalarView(name.unicodeScalars.map { scalar -> Unicode.Scalar in
            switch scalar.value {
            case 0x00...0x1F, 0x7F...0x9F, 0x2F, 0x5C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFEFF: "_"
            default: scalar
            }
        }))
        let trimmed = replaced.drop { $0 == "." || $0 == " " || $0 == "_" }
        let kept = String(trimmed.prefix(200))
        return kept.isEmpty ? "export" : kept
    }
}
