import Core
import Foundation
import Testing
import TestSupport

@Suite struct ConfigValidationTests {
    @Test func aMalformedSettingIsAUsageErrorNamingIt() throws {
        let directory = TemporaryDirectory("iot-config")
        defer { directory.remove() }
        let server = try runProgram("api-server", ["--db", directory.file("iot.db"), "--port", "0"],
                                    environment: ["IOT_DEVICES_OFFLINE_AFTER": "ten minutes", "IOT_DB_READERS": "0"])
        #expect(server.exitCode == 2)
        #expect(server.stderr.contains("devices.offline_after"))
        #expect(server.stderr.contains("db.readers"))
        let cli = try runProgram("admin-cli", ["--db", directory.file("iot.db"), "org", "list"], environment: ["IOT_LOG_LEVEL": "chatty"])
        #expect(cli.exitCode == 2)
        #expect(cli.stderr.contains("log.level"))
    }
}
