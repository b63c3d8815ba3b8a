import Auth
import Core
import Devices
import HTTP
import Platform

extension FactorsModule {
    public func registerRoutes(on api: RouteGroup) {
        let factors = service
        let bearer = self.auth.bearer
        let device = api.group("/projects/:project_id/devices/:device_pk")
        device.get("/factors/", summary: "Factors (sensor channels) of a device", responses: [.ok(.array(FactorSchemas.factor))], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            return .json(JSON.array(try factors.list(projectID: projectID, devicePK: pk, caller: caller).map(\.json)))
        }
        device.post("/factors/", summary: "Create a factor (agri_id under the device prefix)", body: .json(FactorSchemas.create),
                    responses: [.created(FactorSchemas.factor)], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            let factor = try factors.create(projectID: projectID, devicePK: pk, caller: caller, body: request.json())
            return .created(factor, location: "/api/v2/projects/\(projectID)/devices/\(pk)/factors/\(factor.id)/")
        }
        device.get("/factors/:factor_id/", summary: "One factor", responses: [.ok(FactorSchemas.factor)], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            let id = try request.parameters.requireInt("factor_id", notFound: FactorError.malformedID)
            return .json(try factors.factor(projectID: projectID, devicePK: pk, id: id, caller: caller))
        }
        device.patch("/factors/:factor_id/", summary: "Update a factor (partial)", body: .json(FactorSchemas.update),
                     responses: [.ok(FactorSchemas.factor)], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            let id = try request.parameters.requireInt("factor_id", notFound: FactorError.malformedID)
            return .json(try factors.update(projectID: projectID, devicePK: pk, id: id, caller: caller, body: request.json()))
        }
        device.delete("/factors/:factor_id/", summary: "Delete a factor", responses: [.noContent], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            let id = try request.parameters.requireInt("factor_id", notFound: FactorError.malformedID)
            try factors.delete(projectID: projectID, devicePK: pk, id: id, caller: caller)
            return .noContent
        }
        device.post("/export-factors/", summary: "Download the device's factors as a versioned JSON document",
                    responses: [.ok(FactorSchemas.document)], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            let (filename, document) = try factors.export(projectID: projectID, devicePK: pk, caller: caller)
            var response = Response.json(document)
            response.headers.add("Content-Disposition", "attachment; filename=\"\(filename)\"")
            return response
        }
        device.post("/import-factors/", summary: "Upload an exported document (multipart: file, clear_existing?); all or nothing",
                    body: .multipart(FactorSchemas.importForm), responses: [.ok(FactorSchemas.imported)], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            // Scope first: a caller who may not write learns nothing from the upload's validation.
            _ = try factors.devices.resolveDevice(projectID: projectID, pk: pk, caller: caller, access: .write)
            let (document, clear) = try Self.importForm(request)
            let (imported, cleared) = try factors.importFactors(projectID: projectID, devicePK: pk, caller: caller, document: document,
                                                                clearExisting: clear)
            return .json(JSONObject(["imported": .int(imported.count), "cleared": .int(cleared), "factors": .array(imported.map(\.json))]))
        }
        device.post("/add-module/", summary: "Create a catalog module's factors on the device {module_id, slave_id}",
                    body: .json(FactorSchemas.addModule), responses: [.created(.array(FactorSchemas.factor))], auth: bearer) { request, caller in
            let (projectID, pk) = try Self.ids(request)
            _ = try factors.devices.resolveDevice(projectID: projectID, pk: pk, caller: caller, access: .write)   // scope first
            var reader = try FieldReader(request.json(), schema: FactorSchemas.addModule)
            let moduleID = reader.int("module_id")
            let slaveID = reader.int("slave_id")
            try reader.finish()
            let created = try factors.addModule(projectID: projectID, devicePK: pk, caller: caller, moduleID: moduleID!, slaveID: slaveID!)
            return .json(JSON.array(created.map(\.json)), status: 201)
        }
        api.get("/modules/", summary: "The sensor-module catalog", responses: [.ok(.array(FactorSchemas.module))], auth: bearer) { request, _ in
            return .json(JSON.array(try factors.modules().map(\.json)))
        }
        api.get("/modules/:module_id/", summary: "One sensor module with its factor templates", responses: [.ok(FactorSchemas.module)], auth: bearer) { request, _ in
            return .json(try factors.module(id: request.parameters.requireInt("module_id", notFound: FactorError.malformedModuleID)))
        }
        registerGatewayRoutes(on: api)
    }

    /// The `project_id` and `device_pk` path parameters.
    static func ids(_ request: Request) throws -> (String, Int64) {
        (try request.parameters.require("project_id"), try request.parameters.requireInt("device_pk", notFound: DeviceError.malformedPK))
    }

    /// Reads the import form: a `file` part holding the JSON document and an optional `clear_existing`.
    static func importForm(_ request: Request) throws -> (JSON, Bool) {
        let media = request.headers["Content-Type"]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard media == "multipart/form-data" else {
            throw APIError.unsupportedMediaType("Content-Type must be multipart/form-data with a file part")
        }
        let parts = try MultipartParser.parse(request.body, contentType: request.headers["Content-Type"], maxPartBytes: 2_097_152)
        var problems: [String: String] = [:]
        var file: MultipartPart?
        var clear = false
        for part in parts {
            switch part.name {
            case "file": file = part
            case "clear_existing":
                switch part.text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() {
                case "true", "1", "on", "yes": clear = true
                case "false", "0", "off", "no", "": clear = false
                default: problems["clear_existing"] = "must be true or false"
                }
            case let name: problems[name ?? "(unnamed part)"] = "unknown field"
            }
        }
        guard let file else {
            problems["file"] = "is required (the exported JSON document)"
            throw APIError.validation(problems)
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        do {
            return (try JSONParser.parse(file.body), clear)
        } catch {
            throw APIError.malformedJSON("The file part is not valid JSON: \(error)")
        }
    }
}

extension FactorsModule {
    /// `GET /api/v2/gateway/factors/`: the calling device's channel map (what a data unit polls over Modbus).
    func registerGatewayRoutes(on api: RouteGroup) {
        let factors = service
        let deviceBasic = service.devices.deviceBasic
        api.group("/gateway", tag: "gateway").get("/factors/", summary: "The calling device's factors (HTTP Basic device_id:device_key)",
                                                    responses: [.ok(FactorSchemas.gatewayFactors)], auth: deviceBasic) { request, device in
            try factors.devices.touch(device)   // any gateway call is contact
            return .json(JSON.object(["agri_id": .string(device.agriID), "factors": .array(try factors.factors(devicePK: device.id).map(\.json))]))
        }
    }
}
