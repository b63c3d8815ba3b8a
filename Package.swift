// swift-tools-version:6.1
// The IoT device platform: one SwiftPM package, no package dependencies.
// Only Foundation, Dispatch, Glibc, Synchronization, and the system libraries SQLite and OpenSSL.
import PackageDescription

let package = Package(
    name: "iot-platform",
    products: [
        .executable(name: "api-server", targets: ["api-server"]),
        .executable(name: "admin-cli", targets: ["admin-cli"]),
        .executable(name: "scheduler", targets: ["scheduler"]),
        .executable(name: "device-simulator", targets: ["device-simulator"]),
    ],
    targets: [
        // System libraries and header shims.
        .systemLibrary(name: "CSQLite", path: "Modules/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Modules/COpenSSL", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CEpoll", path: "Modules/CEpoll"),

        // Kernel.
        .target(name: "Core", path: "Modules/Core"),
        .target(name: "HTTP", dependencies: ["Core", "CEpoll", "COpenSSL", "Network"], path: "Modules/HTTP"),
        .target(name: "Persistence", dependencies: ["Core", "CSQLite", "Postgres"], path: "Modules/Persistence"),
        .target(name: "Platform", dependencies: ["Core", "HTTP", "Persistence"], path: "Modules/Platform"),
        // The client network stack (TCP with deadlines, DNS off-thread, TLS through one SSL_CTX per configuration),
        // and our PostgreSQL v3 wire-protocol driver over it.
        .target(name: "Network", dependencies: ["COpenSSL"], path: "Modules/Network"),
        .target(name: "Postgres", dependencies: ["Network"], path: "Modules/Postgres"),
        // MQTT 3.1.1/5.0: packets, the per-connection state machine, the connection handler on HTTP's event loops.
        .target(name: "MQTT", dependencies: ["Core", "HTTP"], path: "Modules/MQTT"),

        // Domain modules.
        .target(name: "Auth", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Network", "COpenSSL"], path: "Modules/Auth"),
        .target(name: "Projects", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Auth"], path: "Modules/Projects"),
        .target(name: "Devices", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Auth", "Projects"], path: "Modules/Devices"),
        .target(name: "Factors", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Auth", "Projects", "Devices"], path: "Modules/Factors"),
        .target(name: "Alerts", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Network", "Auth", "Projects", "Devices", "Factors"],
                path: "Modules/Alerts"),
        .target(name: "Exports", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Network", "Auth", "Projects", "Devices", "Factors"],
                path: "Modules/Exports"),
        // Devices over MQTT (DESIGN §5.7): the device gateway on MQTT topics, the listener on the API server's loops.
        .target(name: "DeviceMQTT", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Devices", "MQTT"], path: "Modules/DeviceMQTT"),
        // Compatibility dialects (EVRYTHNG, UFDL): routes over Projects and Auth, no tables of their own.
        .target(name: "Compat", dependencies: ["Core", "HTTP", "Platform", "Auth", "Projects"], path: "Modules/Compat"),
        // The web console: our own HTML, CSS and JavaScript modules, shipped as resources and served at `/`.
        .target(name: "Console", dependencies: ["Core", "HTTP", "Platform"], path: "Modules/Console", resources: [.copy("Assets")]),

        // Apps: thin composition roots.
        .target(name: "Composition", dependencies: ["Core", "Platform", "Auth", "Projects", "Devices", "Factors", "Alerts", "Exports", "Compat",
                                                   "Console", "DeviceMQTT"], path: "Apps/Composition"),
        .executableTarget(name: "api-server", dependencies: ["Platform", "Composition"], path: "Apps/api-server"),
        .executableTarget(name: "admin-cli", dependencies: ["Platform", "Composition"], path: "Apps/admin-cli"),
        .executableTarget(name: "scheduler", dependencies: ["Platform", "Composition"], path: "Apps/scheduler"),

        // Tools/bench-pg: the PostgreSQL driver's throughput (COPY, pipelined INSERT, SELECT round trips).
        .executableTarget(name: "pg-bench", dependencies: ["Postgres"], path: "Tools/PostgresBench"),
        // Tools: a device simulator that plays devices through the gateway API (or over MQTT).
        .executableTarget(name: "device-simulator", dependencies: ["Core", "MQTT"], path: "Tools/DeviceSimulator"),
        // Tools: our MQTT load generator for `Tools/bench mqtt`.
        .executableTarget(name: "mqtt-load", dependencies: ["Core", "MQTT"], path: "Tools/MQTTLoad"),

        // Tests.
        .target(name: "TestSupport", dependencies: ["Core", "HTTP", "Persistence", "Platform", "Postgres"], path: "Tests/TestSupport"),
        .target(name: "DomainTestSupport", dependencies: ["Composition", "Alerts", "Exports", "Auth", "Projects", "Devices", "Factors", "Platform", "Persistence", "HTTP", "Core",
                                                         "TestSupport"], path: "Tests/DomainTestSupport"),
        .testTarget(name: "CoreTests", dependencies: ["Core", "TestSupport"], path: "Tests/CoreTests"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Core", "TestSupport", "COpenSSL"], path: "Tests/HTTPTests"),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT"], path: "Tests/MQTTTests"),
        .testTarget(name: "PersistenceTests", dependencies: ["Persistence", "Core", "TestSupport"], path: "Tests/PersistenceTests"),
        .testTarget(name: "AuthTests", dependencies: ["Auth", "Platform", "HTTP", "Persistence", "Core", "TestSupport"], path: "Tests/AuthTests"),
        .testTarget(name: "ProjectsTests", dependencies: ["DomainTestSupport", "Projects", "Auth", "Platform", "Persistence", "Core", "TestSupport"], path: "Tests/ProjectsTests"),
        .testTarget(name: "DevicesTests", dependencies: ["DomainTestSupport", "Devices", "Projects", "Auth", "Platform", "Persistence", "Core", "TestSupport"], path: "Tests/DevicesTests"),
        .testTarget(name: "AlertsTests", dependencies: ["DomainTestSupport", "Alerts", "Factors", "Devices", "Projects", "Auth", "Platform", "Persistence",
                                                        "Core", "TestSupport"], path: "Tests/AlertsTests"),
        .testTarget(name: "ExportsTests", dependencies: ["DomainTestSupport", "Exports", "Factors", "Devices", "Projects", "Auth", "Platform", "Persistence",
                                                         "Core", "TestSupport"], path: "Tests/ExportsTests"),
        .testTarget(name: "CompatTests", dependencies: ["Compat", "Projects", "Auth", "Core"], path: "Tests/CompatTests"),
        .testTarget(name: "FactorsTests", dependencies: ["DomainTestSupport", "Factors", "Devices", "Projects", "Auth", "Platform", "Persistence", "Core", "TestSupport"], path: "Tests/FactorsTests"),
        // Route logic in-process (the platform's responder, no sockets), then wiring through the real binaries.
        .testTarget(name: "RouteTests", dependencies: ["DomainTestSupport", "Exports", "HTTP", "Core", "TestSupport"], path: "Tests/RouteTests"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "Network", "TestSupport"], path: "Tests/PostgresTests"),
        .testTarget(name: "EndToEndTests", dependencies: ["Core", "TestSupport"], path: "Tests/EndToEndTests"),
    ],
    swiftLanguageModes: [.v6]
)
