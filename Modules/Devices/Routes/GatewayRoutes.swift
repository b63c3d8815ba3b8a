import Auth
import Core
import HTTP
import Platform

extension DevicesModule {
    /// The device gateway API (authenticated as a device with HTTP Basic) and the control routes.
    func registerGatewayAndCommandRoutes(on api: RouteGroup) {
        let devices = service
        let bearer = service.auth.bearer
        let deviceBasic = service.deviceBasic
        let gateway = api.group("/gateway", tag: "gateway")
        gateway.get("/", summary: "Device connectivity check (HTTP Basic device_id:device_key)", responses: [.ok(DeviceSchemas.hello)],
                    auth: deviceBasic) { request, device in
            return .json(try devices.hello(device))
        }
        gateway.on(.get, "/commands/", summary: "Pending commands of the calling device, in order; marks them delivered",
                   responses: [.ok(DeviceSchemas.gatewayCommands)], auth: deviceBasic, blocking: true) { request, device in
            let commands = try devices.deliverCommands(to: device)
            return .json(JSON.object(["commands": .array(commands.map(\.gatewayJSON))]))
        }
        let ackSummary = "Report a command's outcome: no body or {} = done; {ok: false, error} = failed"
        gateway.post("/commands/:command_id/ack/", summary: ackSummary, body: .json(DeviceSchemas.ack, required: false),
                     responses: [.ok(DeviceSchemas.command)], auth: deviceBasic) { request, device in
            let id = try request.parameters.requireInt("command_id", notFound: DeviceError.malformedCommandID)
            // Another device's (or no) command is 404 before the body is looked at (DESIGN §5.2).
            try devices.requireCommand(id, of: device)
            var reader = try FieldReader(request.jsonOrEmpty(), schema: DeviceSchemas.ack)
            let ok = reader.bool("ok") ?? true
            let output = reader.string("output")
            let error = reader.string("error")
            try reader.finish()
            return .json(try devices.acknowledge(commandID: id, ok: ok, output: ok ? output : (error ?? output), by: device))
        }
        // On the pool (the device's authentication and a refusal write), but no pool thread waits for the commit.
        gateway.post("/data/", summary: "Telemetry as the device itself → 202 {accepted, dropped}", body: .json(DeviceSchemas.telemetry),
                     responses: [.accepted(DeviceSchemas.ingestResult)], auth: deviceBasic) { request, device in
            let pending = DeferredResponse()
            try devices.ingest(asDevice: device, document: request.jsonBody()) { result in
                pending.complete(lazily: { result.map { .json($0, status: 202) } })
            }
            return .deferred(pending)
        }

        let device = api.group("/projects/:project_id/devices/:device_pk")
        func control(_ path: String, _ summary: String, _ schema: Schema, _ action: @escaping @Sendable (JSON) throws -> ControlAction) {
            let offline = ResponseDoc(status: 503, description: "DEVICE_OFFLINE: the device has not been seen recently", schema: .error)
            device.post(path, summary: summary, body: .json(schema, required: schema.properties.isEmpty ? false : true),
                        responses: [.accepted(DeviceSchemas.queued), offline], auth: bearer) { request, caller in
                let projectID = try request.parameters.require("project_id")
                let pk = try request.parameters.requireInt("device_pk", notFound: DeviceError.malformedPK)
                // Scope first: a caller who may not act on the device learns nothing from validation errors.
                _ = try devices.resolveDevice(projectID: projectID, pk: pk, caller: caller, access: .write)
                let queued = try devices.queue(action(request.jsonOrEmpty()), projectID: projectID, pk: pk, caller: caller)
                return .json(JSONObject(["detail": .string("queued"), "commands": .array(queued.map(\.json))]), status: 202)
            }
        }
        control("/reboot/", "Queue a reboot (needs SUPPORTS_REBOOT and the device online)", DeviceSchemas.reboot) { body in try ControlAction.reboot(body) }
        control("/set-serial/", "Queue NAT@AT+UART1=… then a reboot {baud_rate, data_bits, stop_bits, parity}", DeviceSchemas.setSerial) { body in
            try ControlAction.setSerial(body)
        }
        control("/set-tcp/", "Queue NAT@AT+SOCK1A=TCPC,host,port {host, port}", DeviceSchemas.setTCP) { body in try ControlAction.setTCP(body) }
        device.get("/commands/", summary: "The device's command history (newest first, paginated)", query: QueryParameter.pagination,
                   responses: [.ok(.page(of: DeviceSchemas.command))], auth: bearer) { request, caller in
            let page = try request.pageRequest()
            let result = try devices.commands(projectID: request.parameters.require("project_id"),
                                              pk: request.parameters.requireInt("device_pk", notFound: DeviceError.malformedPK),
                                              caller: caller, page: page)
            return .page(result, of: page, for: request)
        }
    }
}
