// api-server: parse config → open the database → compose modules → migrate → serve.
import Composition
import Core
import Foundation
import Platform

let usage = """
    usage: api-server [--db PATH|URL] [--host 127.0.0.1] [--port 8080] [--mqtt-port 1883] [--config FILE] [--demo]
                      [--tls-certificate CERT.pem --tls-private-key KEY.pem] [--mqtt-tls-port 8883]
      Migrates the database, then serves the REST API (and MQTT for devices, mqtt.*) until SIGTERM/SIGINT.
      With a certificate and key (server.tls.*) it serves HTTPS and MQTT over TLS; SIGHUP reloads them.
      On a database with no organization it creates org `default` with owner `admin`
      and prints a one-time owner token as `admin token: <token>`.
      --demo also seeds org `demo` (login demo / demo-password) with projects, devices,
      factors and a day of telemetry, once.
    """

do {
    let options = try ProgramOptions.parse(Array(CommandLine.arguments.dropFirst()),
                                           extra: ["host": "server.host", "port": "server.port", "mqtt-port": "mqtt.port", "mqtt-tls-port": "mqtt.tls_port",
                                                   "tls-certificate": "server.tls.certificate", "tls-private-key": "server.tls.private_key"],
                                           booleans: ["demo": "server.demo"])
    if options.help {
        print(usage)
        exit(0)
    }
    if let extra = options.rest.first { throw UsageError("unexpected argument \(extra)") }
    _ = try ServerRunner.configuration(from: options.config)
    let context = try PlatformContext.open(config: options.config)
    let composition = Composition(context: context)
    let auth = composition.auth
    let platform = Platform(context: context, modules: composition.modules)
    try platform.validateConfiguration()
    try platform.migrate()
    if let token = try auth.service.bootstrapIfEmpty() { ServerRunner.printLine("admin token: \(token)") }
    if options.config.bool(KernelKeys.serverDemo) {
        let folder = (context.db.path as NSString).deletingLastPathComponent
        let keys = (folder.isEmpty ? "." : folder) + "/demo-device-keys.tsv"
        for line in try composition.seedDemo(clock: context.clock, keysPath: keys) { ServerRunner.printLine(line) }
    }
    try ServerRunner.run(platform)
    exit(0)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("api-server: \(error.message)\n\(usage)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("api-server: \(error)\n".utf8))
    exit(1)
}
