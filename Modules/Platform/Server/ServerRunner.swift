import Core
import Foundation
import HTTP

/// Runs the API server for a composed platform: binds, prints the contract line
/// `listening on http://HOST:PORT` (`https://` with `server.tls.*`), serves until SIGTERM/SIGINT, then shuts down gracefully
/// (stop accepting, finish in-flight requests, flush modules, close the database).
public enum ServerRunner {
    /// The server configuration from `server.*` keys; bad values are usage errors.
    public static func configuration(from config: Config) throws -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        configuration.host = config.string(KernelKeys.serverHost)
        if let text = config[KernelKeys.serverPort.name] {
            guard let port = Int(text), (0...65_535).contains(port) else { throw UsageError("--port must be 0..65535") }
            configuration.port = port
        }
        configuration.limits.maxBodyBytes = config.int(KernelKeys.serverMaxBodyBytes)
        configuration.limits.maxHeaderBytes = config.int(KernelKeys.serverMaxHeaderBytes)
        configuration.headerTimeout = config.seconds(KernelKeys.serverHeaderTimeout)
        configuration.idleTimeout = config.seconds(KernelKeys.serverIdleTimeout)
        configuration.responseTimeout = config.seconds(KernelKeys.serverResponseTimeout)
        configuration.bodyTimeout = config.seconds(KernelKeys.serverBodyTimeout)
        configuration.maxConnections = config.int(KernelKeys.serverMaxConnections)
        configuration.maxConnectionsPerAddress = config.int(KernelKeys.serverMaxConnectionsPerAddress)
        configuration.workerThreads = max(1, config.int(KernelKeys.serverWorkers))
        configuration.eventLoops = max(0, config.int(KernelKeys.serverEventLoops))
        configuration.tls = try tlsContext(from: config)
        return configuration
    }

    /// The TLS context of `server.tls.certificate` and `server.tls.private_key` (both or neither); nil without them.
    /// Unreadable files or a key that does not match the certificate fail startup with the reason.
    static func tlsContext(from config: Config) throws -> TLSContext? {
        let certificate = config.string(KernelKeys.serverTLSCertificate)
        let privateKey = config.string(KernelKeys.serverTLSPrivateKey)
        if certificate.isEmpty && privateKey.isEmpty { return nil }
        guard !certificate.isEmpty, !privateKey.isEmpty else {
            throw UsageError("server.tls.certificate and server.tls.private_key go together (HTTPS needs both)")
        }
        return try TLSContext(certificatePath: certificate, privateKeyPath: privateKey)
    }

    /// Serves until a termination signal; returns after a graceful shutdown.
    public static func run(_ platform: Platform, printLine: @Sendable (String) -> Void = ServerRunner.printLine) throws {
        let config = platform.context.config
        let configuration = try configuration(from: config)
        let listeners = try platform.modules.flatMap { try $0.streamListeners(server: configuration) }
        let server = HTTPServer(configuration: configuration, responder: platform.makeResponder(), logger: platform.context.logger,
                                listeners: listeners)
        let stop = DispatchSemaphore(value: 0)
        let sources = SignalSources.make([SIGTERM, SIGINT]) { _ in stop.signal() }
        let reload = configuration.tls.map { reloadOnHangup($0, logger: platform.context.logger) }
        // Other processes' announcements drop what went stale in this one's caches (PostgreSQL; SQLite: nothing to hear).
        platform.context.db.changes.start(logger: platform.context.logger)
        let port = try server.start()
        if config.bool(KernelKeys.serverReleaseStartupMemory) {
            // Startup is over (migrations, bootstrap, the loops are up): give back what only it touched.
            let released = StartupMemory.release()
            platform.context.logger.debug("startup memory released", ["file_pages_kb": .int(released.droppedBytes / 1024),
                                                                       "heap_trimmed": .bool(released.heapTrimmed)])
        }
        let scheme = configuration.tls == nil ? "http" : "https"
        printLine("listening on \(scheme)://\(configuration.host):\(port)")
        platform.context.logger.info("listening", ["host": .string(configuration.host), "port": .int(port), "scheme": .string(scheme)])
        // Then one line per other protocol, e.g. `mqtt listening on mqtt://127.0.0.1:1883` (DESIGN §5.7).
        for (listener, listenerPort) in zip(listeners, server.listenerPorts) {
            let listenerScheme = listener.tls == nil ? listener.name : listener.name + "s"
            printLine("\(listener.name) listening on \(listenerScheme)://\(configuration.host):\(listenerPort)")
            platform.context.logger.info("listening", ["host": .string(configuration.host), "port": .int(listenerPort), "scheme": .string(listenerScheme)])
        }
        stop.wait()
        reload?.cancel()
        platform.context.logger.info("shutting down")
        server.shutdown(gracePeriod: config.seconds(KernelKeys.serverShutdownGrace))
        platform.context.logger.flush()   // every access-log line of the served requests, before anything else closes
        platform.shutdown()
        platform.context.bus.drainAsync()
        platform.context.db.close()
        platform.context.logger.info("stopped")
        platform.context.logger.flush()
        sources.forEach { $0.cancel() }
    }

    /// SIGHUP re-reads the certificate and key: new handshakes use them, open connections keep theirs. A reload
    /// that fails (a missing file, a key that does not match) keeps the current certificate and logs why.
    static func reloadOnHangup(_ tls: TLSContext, logger: Logger) -> any DispatchSourceSignal {
        SignalSources.make([SIGHUP]) { _ in
            do {
                try tls.reload()
                logger.info("tls certificate reloaded", ["certificate": .string(tls.certificatePath), "subject": .string(tls.certificateSubject)])
            } catch {
                logger.error("tls certificate reload failed; keeping the current one", ["error": .string("\(error)")])
            }
        }[0]
    }

    /// Writes one line to standard output and flushes it (scripts wait for these lines).
    @Sendable public static func printLine(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
