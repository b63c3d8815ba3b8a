// api-server: parse config → open the database → compose modules → migrate → serve.
import Composition
import Core
import Foundation
import Platform

let usage = """
    usage: api-server [--db PATH] [--host 127.0.0.1] [--port 8080] [--config FILE]
      Migrates the database, then serves the REST API until SIGTERM/SIGINT.
      On a database with no organization it creates org `default` with owner `admin`
      and prints a one-time owner token as `admin token: <token>`.
    """

do {
    let options = try ProgramOptions.parse(Array(CommandLine.arguments.dropFirst()),
                                           extra: ["host": "server.host", "port": "server.port"])
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
    try platform.migrate()
    if let token = try auth.service.bootstrapIfEmpty() { ServerRunner.printLine("admin token: \(token)") }
    try ServerRunner.run(platform)
    exit(0)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("api-server: \(error.message)\n\(usage)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("api-server: \(error)\n".utf8))
    exit(1)
}
