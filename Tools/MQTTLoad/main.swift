// mqtt-load: our MQTT load generator for `Tools/bench mqtt` (numbers, not pass/fail). N clients, each a device on a
// persistent MQTT 3.1.1 connection, publish 100-point QoS 1 telemetry messages with up to WINDOW unacknowledged at once
// for SECONDS; prints acknowledged messages/s, points/s and the PUBACK latency percentiles (publish → PUBACK).
//
//   mqtt-load --host 127.0.0.1 --port 1883 --devices KEYS.tsv [--seconds 10] [--window 8] [--points 100]
//
// KEYS.tsv holds `device_id<TAB>device_key agri_prefix` lines (one client per line).
import Core
import Foundation
import MQTT
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var host = "127.0.0.1"
    var port = 1883
    var devices = ""
    var seconds = 10.0
    var window = 8
    var points = 100
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("mqtt-load: \(message)\n".utf8))
    exit(2)
}

func parse() -> Options {
    var options = Options()
    var arguments = Array(CommandLine.arguments.dropFirst())
    while !arguments.isEmpty {
        let name = arguments.removeFirst()
        guard !arguments.isEmpty else { fail("\(name) needs a value") }
        let value = arguments.removeFirst()
        switch name {
        case "--host": options.host = value
        case "--port": options.port = Int(value) ?? 0
        case "--devices": options.devices = value
        case "--seconds": options.seconds = Double(value) ?? 10
        case "--window": options.window = max(1, Int(value) ?? 8)
        case "--points": options.points = max(1, Int(value) ?? 100)
        default: fail("unknown argument \(name)")
        }
    }
    return options
}

func connectSocket(_ host: String, _ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, host, &address.sin_addr)
    let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if status != 0 { fail("connect \(host):\(port) failed (errno \(errno))") }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    return fd
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent <= 0 { fail("send failed (errno \(errno))") }
        offset += sent
    }
}

/// Reads packets into `buffer` until one is complete.
func nextPacket(_ fd: Int32, _ buffer: inout [UInt8], _ chunk: inout [UInt8]) -> MQTTPacket? {
    while true {
        if let frame = try? MQTTCodec.frame(buffer, maxPacketBytes: 1 << 24) {
            let packet = try? MQTTCodec.decode(header: frame.header, body: buffer[frame.body], version: .v311)
            buffer.removeFirst(frame.end)
            return packet
        }
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { return nil }
        buffer += chunk[0..<count]
    }
}

func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

let options = parse()
guard let text = try? String(contentsOfFile: options.devices, encoding: .utf8) else { fail("cannot read --devices \(options.devices)") }
let clients = text.split(whereSeparator: \.isNewline).map { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init) }
    .filter { $0.count >= 3 }
guard !clients.isEmpty else { fail("no `device_id key agri_prefix` lines in \(options.devices)") }

let latencies = Mutex<[Double]>([])
let acknowledged = Atomic<Int>(0)
let refused = Atomic<Int>(0)
let group = DispatchGroup()
let start = now()
let end = start + options.seconds
for (index, client) in clients.enumerated() {
    group.enter()
    Thread.detachNewThread {
        defer { group.leave() }
        let (deviceID, key, prefix) = (client[0], client[1], client[2])
        let fd = connectSocket(options.host, options.port)
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        sendAll(fd, MQTTCodec.encode(.connect(MQTTConnect(version: .v311, clientID: "load-\(index)", keepAlive: 60, username: deviceID,
                                                          password: Array(key.utf8))), version: .v311))
        guard case .connack(_, .success, _)? = nextPacket(fd, &buffer, &chunk) else { fail("\(deviceID): CONNACK refused") }
        let topic = "devices/\(deviceID)/telemetry"
        var sentAt: [UInt16: Double] = [:]
        var nextID: UInt16 = 1
        var sequence = 0
        var mine: [Double] = []
        // The payload's fixed parts, made once: only `t` changes between messages.
        let heads: [[UInt8]] = (0..<options.points).map { channel in
            Array("\(channel > 0 ? "," : ""){\"agri_id\":\"\(prefix)-\(String(format: "%03d", channel))\",\"value\":\(Double(channel) + 0.5),\"t\":".utf8)
        }
        var payload: [UInt8] = []
        func publish() {
            // Distinct t per message (a point is keyed by agri_id and t).
            sequence += 1
            let t = Array(String(1_700_000_000 + index * 10_000_000 + sequence).utf8)
            payload.removeAll(keepingCapacity: true)
            payload.append(UInt8(ascii: "["))
            for head in heads {
                payload += head
                payload += t
                payload.append(UInt8(ascii: "}"))
            }
            payload.append(UInt8(ascii: "]"))
            let id = nextID
            nextID = nextID == UInt16.max ? 1 : nextID + 1
            sentAt[id] = now()
            sendAll(fd, MQTTCodec.encode(.publish(MQTTPublish(topic: topic, payload: payload, qos: .atLeastOnce, packetID: id)),
                                         version: .v311))
        }
        for _ in 0..<options.window { publish() }
        while !sentAt.isEmpty {
            guard let packet = nextPacket(fd, &buffer, &chunk) else { fail("\(deviceID): connection closed") }
            guard case .puback(let ack) = packet, let sent = sentAt.removeValue(forKey: ack.packetID) else { continue }
            let time = now()
            if ack.reason == .success { mine.append(time - sent) } else { refused.add(1, ordering: .relaxed) }
            if time < end { publish() }
        }
        sendAll(fd, MQTTCodec.encode(.disconnect(reason: .success, properties: []), version: .v311))
        acknowledged.add(mine.count, ordering: .relaxed)
        latencies.withLock { $0 += mine }
    }
}
group.wait()
let elapsed = now() - start
let sorted = latencies.withLock { $0 }.sorted()
func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
let messages = acknowledged.load(ordering: .relaxed)
print("clients:                     \(clients.count) × window \(options.window), \(options.points) points/message, QoS 1, MQTT 3.1.1")
print(String(format: "messages/s acknowledged:     %.0f", Double(messages) / elapsed))
print(String(format: "points/s acknowledged:       %.0f  (%d points in %.1f s)", Double(messages * options.points) / elapsed, messages * options.points, elapsed))
print(String(format: "PUBACK latency p50:          %.2f ms", percentile(0.5)))
print(String(format: "PUBACK latency p99:          %.2f ms", percentile(0.99)))
if refused.load(ordering: .relaxed) > 0 { print("refused:                     \(refused.load(ordering: .relaxed))") }
