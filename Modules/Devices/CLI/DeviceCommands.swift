import Core
import Foundation
import Platform

/// `admin-cli devices …` (DESIGN §6).
enum DeviceCommands {
    static func all(_ devices: DeviceService) -> [any CLICommand] {
        [
            SimpleCommand(["devices", "provision"], summary: "Create unassigned devices from a manufacturing CSV (all or nothing)",
                          usage: "FILE.csv [--json]   (header: device_id,safe_code,agri_id,model,capabilities)",
                          flags: ["json"]) { arguments, output in
                let path = try arguments.positional(0, "FILE.csv")
                try arguments.expectPositionals(1)
                guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path)") }
                guard let text = String(data: data, encoding: .utf8) else { throw APIError.validation(field: "file", "is not UTF-8") }
                let parsed = try ProvisionedDevice.parseCSV(text)
                let issued = try devices.provision(parsed)
                if arguments.flag("json") {
                    output.json(.array(issued.map { .object(["device_id": .string($0.deviceID), "device_key": .string($0.deviceKey)]) }))
                } else {
                    output.err("provisioned \(issued.count) devices; their gateway keys are shown once:")
                    output.out(issued.map { "\($0.deviceID)\t\($0.deviceKey)" }.joined(separator: "\n"))
                }
                return 0
            },
        ]
    }
}
