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
            SimpleCommand(["purge"], summary: "Delete telemetry points older than a duration (latest values stay)",
                          usage: "--telemetry-older-than 90d", options: ["telemetry-older-than"]) { arguments, output in
                try arguments.expectPositionals(0)
                let text = try arguments.require("telemetry-older-than")
                guard let seconds = DurationText.seconds(text) else { throw UsageError("--telemetry-older-than must be a duration such as 90d") }
                let removed = try devices.purgeTelemetry(olderThan: seconds)
                output.out("purged \(removed) telemetry points older than \(text)")
                return 0
            },
            SimpleCommand(["telemetry", "recompress"],
                          summary: "Re-encode telemetry chunks stored in an older codec (v1) in the current one, with a progress line",
                          usage: "[--dry-run] [--codec 2|1]   (--codec 1 rewrites every chunk for a release before codec v2)",
                          options: ["codec"], flags: ["dry-run"]) { arguments, output in
                try arguments.expectPositionals(0)
                let codec = try arguments.option("codec").map { text -> Int in
                    guard text == "1" || text == "2" else { throw UsageError("--codec must be 1 or 2") }
                    return Int(text)!
                } ?? 2
                let dryRun = arguments.flag("dry-run")
                func line(_ progress: DeviceService.RecompressProgress) -> String {
                    let ratio = progress.bytesAfter > 0 ? Double(progress.bytesBefore) / Double(progress.bytesAfter) : 1
                    return "\(progress.series)/\(progress.seriesTotal) series, \(progress.chunks) chunks of \(progress.points) points "
                        + "\(dryRun ? "would be " : "")re-encoded in v\(codec): \(progress.bytesBefore) → \(progress.bytesAfter) bytes "
                        + "(\(Double(Int(ratio * 100)) / 100)×)"
                }
                let totals = try devices.recompressTelemetry(to: codec, dryRun: dryRun) { output.err("recompress: " + line($0)) }
                output.out((dryRun ? "dry run: " : "") + line(totals))
                return 0
            },
        ]
    }
}
