// device-simulator: plays N devices against a running api-server through the gateway API.
// Each tick, every device drains its command queue (acknowledging each command), then posts one
// reading per factor (or one `<agri_id>-01` reading when it has no factors). SIGUSR1 takes every
// device offline (no contact at all), SIGUSR2 brings them back. With --mqtt the devices speak MQTT instead: telemetry
// published with QoS 1, commands received by subscription and acknowledged on their ack topic (the factor map still
// comes from the gateway API, once per connection).
import Core
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

let usage = """
    usage: device-simulator --url http://127.0.0.1:8080 --devices FILE [--interval 5s] [--ticks N] [--fail-commands]
                            [--mqtt HOST:PORT]
      FILE holds `device_id<TAB>device_key` lines, as `admin-cli devices provision FILE.csv` prints them.
      --ticks N stops after N rounds (default: run until SIGINT/SIGTERM). --fail-commands acknowledges
      every command with ok=false. SIGUSR1: all devices go offline; SIGUSR2: back online.
      --mqtt HOST:PORT plays the devices over MQTT (the api-server's `mqtt listening on` address).
    """

struct SimulatedDevice {
    let deviceID: String
    let key: String
    var step = 0
    /// Over MQTT: the connection, and the factors' (agri_id, name) learnt when it was made.
    var mqtt: MQTTDevice?
    var factors: [(agriID: String, name: String)] = []
}

/// A blocking HTTP call through URLSession; returns status and body.
func call(_ method: String, _ url: URL, device: SimulatedDevice, body: JSON? = nil) -> (Int, JSON) {
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.timeoutInterval = 10
    let credentials = Data("\(device.deviceID):\(device.key)".utf8).base64EncodedString()
    request.setValue("Basic \(credentials)", forHTTPHeaderField: "Authorization")
    if let body {
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(JSONWriter.bytes(body))
    }
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<(Int, JSON)>((0, .null))
    URLSession.shared.dataTask(with: request) { data, response, _ in
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = data.flatMap { try? JSONParser.parse(Array($0)) } ?? .null
        result.withLock { $0 = (status, json) }
        done.signal()
    }.resume()
    done.wait()
    return result.withLock { $0 }
}

/// A plausible reading for a factor name, drifting with `step`.
func reading(name: String, step: Int, channel: Int) -> Double {
    let wave = sin(Double(step + channel) / 6)
    let base: (Double, Double) = switch name {
    case let n where n.contains("hum"): (60, 15)
    case let n where n.contains("temp"): (21, 4)
    case let n where n.contains("moist"): (35, 10)
    case let n where n.contains("ph"): (6.8, 0.4)
    case let n where n.contains("ec"): (900, 150)
    case let n where n.contains("volt"): (230, 3)
    case let n where n.contains("current"): (4, 2)
    case let n where n.contains("power_factor"): (0.95, 0.03)
    case let n where n.contains("power"): (900, 400)
    case let n where n.contains("freq"): (50, 0.05)
    case let n where n.contains("energy"): (1000 + Double(step) * 0.01, 0)
    default: (10, 5)
    }
    return ((base.0 + base.1 * wave) * 100).rounded() / 100
}

/// The simulated fleet: owned by the main thread, which runs the ticks; signals flip the atomics.
final class Simulator: @unchecked Sendable {
    let base: URL
    let failCommands: Bool
    var devices: [SimulatedDevice]
    let offline = Atomic<Bool>(false)
    let running = Atomic<Bool>(true)
    /// `--mqtt`: the broker address.
    let mqtt: (host: String, port: Int)?
    let interval: Double

    init(base: URL, devices: [SimulatedDevice], failCommands: Bool, mqtt: (host: String, port: Int)? = nil, interval: Double = 5) {
        self.base = base
        self.devices = devices
        self.failCommands = failCommands
        self.mqtt = mqtt
        self.interval = interval
    }

    /// The points of one reading: one per factor, or `<agri_id>-01` for a device without factors.
    func points(_ factors: [(agriID: String, name: String)], prefix: String, step: Int) -> [JSON] {
        var points: [JSON] = factors.enumerated().map { channel, factor in
            .object(["agri_id": .string(factor.agriID), "value": .number(reading(name: factor.name, step: step, channel: channel))])
        }
        if points.isEmpty, !prefix.isEmpty {
            points = [.object(["agri_id": .string(prefix + "-01"), "value": .number(reading(name: "", step: step, channel: 0))])]
        }
        return points
    }

    /// One round over MQTT: connect where needed (learning the factors), then one QoS 1 reading per device.
    func tickMQTT(_ broker: (host: String, port: Int)) {
        if offline.load(ordering: .relaxed) {
            for device in devices { device.mqtt?.disconnect() }
            return
        }
        for index in devices.indices {
            var device = devices[index]
            if device.mqtt?.isConnected != true {
                let (_, map) = call("GET", base.appendingPathComponent("api/v2/gateway/factors/"), device: device)
                device.factors = (map["factors"]?.arrayValue ?? []).compactMap { factor in
                    factor["agri_id"]?.stringValue.map { ($0, factor["name"]?.stringValue ?? "") }
                }
                let prefix = map["agri_id"]?.stringValue ?? ""
                if device.factors.isEmpty, !prefix.isEmpty { device.factors = [(prefix + "-01", "")] }
                let client = MQTTDevice(deviceID: device.deviceID, key: device.key, host: broker.host, port: broker.port,
                                        keepAlive: UInt16(min(65_535, max(30, interval * 3))), failCommands: failCommands)
                do {
                    try client.connect()
                    device.mqtt = client
                    say("\(device.deviceID): connected over MQTT")
                } catch {
                    say("\(device.deviceID): MQTT connect failed: \(error)")
                    devices[index] = device
                    continue
                }
            }
            let points = points(device.factors, prefix: "", step: device.step)
            let acked = device.mqtt?.publish(topic: "devices/\(device.deviceID)/telemetry", payload: JSONWriter.bytes(.array(points))) ?? false
            say("\(device.deviceID): published \(points.count) points over MQTT → \(acked ? "PUBACK" : "no PUBACK")")
            device.step += 1
            devices[index] = device
        }
    }

    func tick() {
        if let mqtt { return tickMQTT(mqtt) }
        guard !offline.load(ordering: .relaxed) else { return }
        for index in devices.indices {
            let device = devices[index]
            let (status, queue) = call("GET", base.appendingPathComponent("api/v2/gateway/commands/"), device: device)
            guard status == 200 else {
                say("\(device.deviceID): gateway answered \(status)")
                continue
            }
            for command in queue["commands"]?.arrayValue ?? [] {
                guard let id = command["id"]?.int64Value else { continue }
                let text = command["command"]?.stringValue ?? ""
                let (ackStatus, _) = call("POST", base.appendingPathComponent("api/v2/gateway/commands/\(id)/ack/"), device: device,
                                          body: .object(["ok": .bool(!failCommands), "output": .string(failCommands ? "ERROR" : "OK")]))
                say("\(device.deviceID): command \(id) \(text) → ack \(ackStatus)")
            }
            let (_, map) = call("GET", base.appendingPathComponent("api/v2/gateway/factors/"), device: device)
            let prefix = map["agri_id"]?.stringValue ?? ""
            var points: [JSON] = (map["factors"]?.arrayValue ?? []).enumerated().compactMap { channel, factor in
                guard let agriID = factor["agri_id"]?.stringValue else { return nil }
                let name = factor["name"]?.stringValue ?? ""
                return .object(["agri_id": .string(agriID), "value": .number(reading(name: name, step: device.step, channel: channel))])
            }
            if points.isEmpty, !prefix.isEmpty {
                points = [.object(["agri_id": .string(prefix + "-01"), "value": .number(reading(name: "", step: device.step, channel: 0))])]
            }
            let (dataStatus, answer) = call("POST", base.appendingPathComponent("api/v2/gateway/data/"), device: device, body: .array(points))
            say("\(device.deviceID): posted \(points.count) points → \(dataStatus) \(JSONWriter.string(answer))")
            devices[index].step += 1
        }
    }
}

/// One line on standard output, flushed (tests and scripts read it as it comes).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func main() -> Int32 {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.contains("--help") || arguments.contains("-h") {
        say(usage)
        return 0
    }
    func usageError(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("device-simulator: \(message)\n\(usage)\n".utf8))
        return 2
    }
    // Every argument must be known and every option must carry a value: a typo must not run forever.
    var options: [String: String] = [:]
    var index = 0
    while index < arguments.count {
        let name = arguments[index]
        switch name {
        case "--url", "--devices", "--interval", "--ticks", "--mqtt":
            guard index + 1 < arguments.count else { return usageError("\(name) needs a value") }
            options[name] = arguments[index + 1]
            index += 2
        case "--fail-commands":
            index += 1
        default:
            return usageError("unknown argument \(name)")
        }
    }
    guard let url = options["--url"], let base = URL(string: url), ["http", "https"].contains(base.scheme?.lowercased() ?? ""),
          base.host != nil else {
        return usageError("--url must be an http(s) URL such as http://127.0.0.1:8080")
    }
    guard let file = options["--devices"] else { return usageError("--devices is required") }
    var interval = 5.0
    if let text = options["--interval"] {
        guard let seconds = DurationText.seconds(text), seconds > 0 else { return usageError("--interval must be a duration such as 5s or 0.5") }
        interval = seconds
    }
    var ticks: Int?
    if let text = options["--ticks"] {
        guard let count = Int(text), count >= 1 else { return usageError("--ticks must be a positive integer") }
        ticks = count
    }
    var mqtt: (host: String, port: Int)?
    if let text = options["--mqtt"] {
        let address = text.hasPrefix("mqtt://") ? String(text.dropFirst("mqtt://".count)) : text
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65_535).contains(port) else {
            return usageError("--mqtt must be HOST:PORT such as 127.0.0.1:1883")
        }
        mqtt = (String(address[..<colon]), port)
    }
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
        FileHandle.standardError.write(Data("device-simulator: cannot read \(file)\n".utf8))
        return 1
    }
    // `isNewline`: a CRLF file's "\r\n" is one Character, which `split(separator: "\n")` would not split.
    let devices = text.split(whereSeparator: \.isNewline).compactMap { line -> SimulatedDevice? in
        let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "," })
        return fields.count >= 2 ? SimulatedDevice(deviceID: String(fields[0]), key: String(fields[1])) : nil
    }
    guard !devices.isEmpty else {
        FileHandle.standardError.write(Data("device-simulator: no devices in \(file)\n".utf8))
        return 2
    }
    let simulator = Simulator(base: base, devices: devices, failCommands: arguments.contains("--fail-commands"), mqtt: mqtt, interval: interval)
    let handlers: [(Int32, @Sendable () -> Void)] = [
        (SIGUSR1, { simulator.offline.store(true, ordering: .relaxed); say("offline") }),
        (SIGUSR2, { simulator.offline.store(false, ordering: .relaxed); say("online") }),
        (SIGTERM, { simulator.running.store(false, ordering: .relaxed) }),
        (SIGINT, { simulator.running.store(false, ordering: .relaxed) }),
    ]
    let sources = handlers.map { number, action -> any DispatchSourceSignal in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler(handler: action)
        source.resume()
        return source
    }
    say("simulating \(devices.count) devices against \(mqtt.map { "mqtt://\($0.host):\($0.port)" } ?? base.absoluteString) every \(interval) s")
    var done = 0
    while simulator.running.load(ordering: .relaxed) {
        simulator.tick()
        done += 1
        if let ticks, done >= ticks { break }
        var waited = 0.0
        while simulator.running.load(ordering: .relaxed), waited < interval {
            usleep(50_000)
            waited += 0.05
        }
    }
    sources.forEach { $0.cancel() }
    for device in simulator.devices { device.mqtt?.disconnect() }
    return 0
}

exit(main())
