// The simulator's MQTT side (`--mqtt`): one blocking MQTT 3.1.1 connection per device, built on the platform's own
// packet codec. Telemetry goes out with QoS 1 (the call returns once the server's PUBACK, sent after its commit, arrives);
// commands come by subscription and are acknowledged on `devices/{id}/commands/{cid}/ack`.
import Core
import Foundation
import MQTT
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class MQTTDevice: @unchecked Sendable {
    let deviceID: String
    let key: String
    let host: String
    let port: Int
    let keepAlive: UInt16
    let failCommands: Bool
    private let state = Mutex<(fd: Int32, nextID: UInt16, waiting: [UInt16: DispatchSemaphore])>((-1, 1, [:]))
    private let writeLock = Mutex<Void>(())

    init(deviceID: String, key: String, host: String, port: Int, keepAlive: UInt16, failCommands: Bool) {
        self.deviceID = deviceID
        self.key = key
        self.host = host
        self.port = port
        self.keepAlive = keepAlive
        self.failCommands = failCommands
    }

    var isConnected: Bool { state.withLock { $0.fd >= 0 } }

    /// Connects, authenticates and subscribes to the device's commands; a reader thread then handles what comes in.
    func connect() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SimulatorError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw SimulatorError("connect to \(host):\(port) failed")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        send(fd, .connect(MQTTConnect(version: .v311, clientID: "sim-\(deviceID)", keepAlive: keepAlive, username: deviceID,
                                      password: Array(key.utf8))))
        var buffer: [UInt8] = []
        guard case .connack(_, let reason, _)? = try? read(fd, &buffer), reason == .success else {
            Glibc.close(fd)
            throw SimulatorError("CONNACK refused")
        }
        send(fd, .subscribe(packetID: 1, subscriptions: [MQTTSubscription(filter: "devices/\(deviceID)/commands", qos: .atLeastOnce)],
                            properties: []))
        timeout = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        state.withLock { $0.fd = fd; $0.nextID = 2 }
        let leftover = buffer
        Thread.detachNewThread { [self] in readLoop(fd, leftover) }
    }

    func disconnect() {
        let fd = state.withLock { state -> Int32 in
            defer { state.fd = -1 }
            return state.fd
        }
        guard fd >= 0 else { return }
        send(fd, .disconnect(reason: .success, properties: []))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Publishes with QoS 1 and waits for the PUBACK; false when it did not come.
    func publish(topic: String, payload: [UInt8]) -> Bool {
        let semaphore = DispatchSemaphore(value: 0)
        guard let (fd, id) = state.withLock({ state -> (Int32, UInt16)? in
            guard state.fd >= 0 else { return nil }
            let id = state.nextID
            state.nextID = id == UInt16.max ? 2 : id + 1
            state.waiting[id] = semaphore
            return (state.fd, id)
        }) else { return false }
        send(fd, .publish(MQTTPublish(topic: topic, payload: payload, qos: .atLeastOnce, packetID: id)))
        let signalled = semaphore.wait(timeout: .now() + 10) == .success
        // A close also wakes the waiters: only a connection still open means the PUBACK came.
        return state.withLock { state in
            state.waiting.removeValue(forKey: id)
            return signalled && state.fd == fd
        }
    }

    private func send(_ fd: Int32, _ packet: MQTTPacket) {
        let bytes = MQTTCodec.encode(packet, version: .v311)
        writeLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { return }
                offset += sent
            }
        }
    }

    /// The next packet from the socket (nil: closed).
    private func read(_ fd: Int32, _ buffer: inout [UInt8]) throws -> MQTTPacket? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let frame = try MQTTCodec.frame(buffer, maxPacketBytes: 1 << 20) {
                let packet = try MQTTCodec.decode(header: frame.header, body: buffer[frame.body], version: .v311)
                buffer.removeFirst(frame.end)
                return packet
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            buffer += chunk[0..<count]
        }
    }

    private func readLoop(_ fd: Int32, _ initial: [UInt8]) {
        var buffer = initial
        while let packet = try? read(fd, &buffer) {
            switch packet {
            case .puback(let ack):
                state.withLock { $0.waiting.removeValue(forKey: ack.packetID) }?.signal()
            case .publish(let message):
                if let id = message.packetID { send(fd, .puback(MQTTAck(packetID: id))) }
                guard let command = try? JSONParser.parse(message.payload), let commandID = command["id"]?.int64Value else { continue }
                let text = command["command"]?.stringValue ?? ""
                // Acknowledged from another thread: this one must keep reading the PUBACK.
                let failCommands = failCommands
                Thread.detachNewThread { [self] in
                    let body = JSONWriter.bytes(.object(["ok": .bool(!failCommands), "output": .string(failCommands ? "ERROR" : "OK")]))
                    let acked = publish(topic: "devices/\(deviceID)/commands/\(commandID)/ack", payload: body)
                    say("\(deviceID): command \(commandID) \(text) over MQTT → ack \(acked ? "PUBACK" : "no PUBACK")")
                }
            case .pingresp, .suback:
                break
            default:
                break
            }
        }
        let closed = state.withLock { state -> Bool in
            guard state.fd == fd else { return false }
            state.fd = -1
            for waiter in state.waiting.values { waiter.signal() }
            state.waiting = [:]
            return true
        }
        if closed { say("\(deviceID): MQTT connection closed") }
        Glibc.close(fd)
    }
}

struct SimulatorError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
