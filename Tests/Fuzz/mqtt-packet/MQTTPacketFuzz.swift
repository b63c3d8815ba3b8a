// Fuzz target `mqtt-packet`: MQTT packets as bytes. The first byte picks the protocol version and the split pattern.
// Invariants: never a crash; every packet that decodes encodes to bytes that decode to the same packet; the session
// machine, fed a valid CONNECT and then the input in random pieces (credentials accepted, every publish committed),
// never holds more inbound publishes than its window and never sends bytes that do not decode.

func fuzzMQTTPacket(_ input: [UInt8]) {
    guard let first = input.first else { return }
    let version: MQTTVersion = first & 1 == 0 ? .v311 : .v5
    let bytes = Array(input.dropFirst())
    // Codec round trip over every packet at the front of the input.
    var offset = 0
    while let frame = try? MQTTCodec.frame(bytes, from: offset, maxPacketBytes: 1 << 16) {
        offset = frame.end
        guard let packet = try? MQTTCodec.decode(header: frame.header, body: bytes[frame.body], version: version) else { continue }
        let encoded = MQTTCodec.encode(packet, version: version)
        let again: MQTTPacket?
        if let reframed = try? MQTTCodec.frame(encoded, maxPacketBytes: 1 << 20), reframed.end == encoded.count {
            again = try? MQTTCodec.decode(header: reframed.header, body: encoded[reframed.body], version: version)
        } else {
            again = nil
        }
        fuzzCheck(again == packet, "round trip changed \(packet) → \(String(describing: again))")
    }
    // The session machine.
    var random = FuzzRandom(seed: input.prefix(4))
    var machine = MQTTSessionMachine(limits: .init(maxPacketBytes: 4096, receiveMaximum: 4, connectTimeout: 10), now: 0)
    var now = 0.0
    var actions = machine.bytesRead(MQTTCodec.encode(.connect(MQTTConnect(version: version, clientID: "f", keepAlive: 5)), version: version), now: now)
    var committed: [UInt64] = []
    for piece in fuzzSplits(bytes, random: &random, maxPiece: 64) {
        for action in actions {
            switch action {
            case .authenticate: actions += machine.accept(now: now)
            case .publish(let message): committed.append(message.sequence)
            case .subscribe(let id, let subscriptions):
                actions += machine.subscribed(packetID: id, reasons: subscriptions.map { _ in .grantedQoS1 })
            case .send(let out):
                let frame = try? MQTTCodec.frame(out, maxPacketBytes: 1 << 20)
                fuzzCheck(frame?.end == out.count, "the machine sent bytes that are not one packet")
                if let frame { fuzzCheck((try? MQTTCodec.decode(header: frame.header, body: out[frame.body], version: version)) != nil, "sent packet does not decode") }
            case .close, .unsubscribed, .delivered: break
            }
        }
        fuzzCheck(machine.pendingCount <= 4, "window exceeded")
        now += Double(random.int(in: 0...3))
        actions = Array(piece).withUnsafeBytes { machine.bytesRead($0, now: now) } + machine.tick(now: now)
        if random.int(in: 0...3) == 0, !committed.isEmpty {
            actions += machine.published(sequence: committed.removeFirst(), reason: .success, now: now)
        }
        if random.int(in: 0...7) == 0 {
            actions += machine.deliver(topic: "devices/f/commands", payload: [1], qos: .atLeastOnce, token: 1)
        }
    }
}
