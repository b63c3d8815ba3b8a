// The libFuzzer entry point of every fuzz target (Tools/fuzz builds one binary from the module sources and these
// harnesses; FUZZ_TARGET picks the target). A harness reports a broken invariant with `fuzzCheck`, which traps, so
// libFuzzer records the input as a crash.
import Glibc

enum FuzzTarget: String, CaseIterable {
    case httpRequest = "http-request"
    case json
    case multipart
    case csv
    case telemetry
    case factorImport = "factor-import"
    case postgresBackend = "postgres-backend"
    case telemetryChunk = "telemetry-chunk"
    case mqttPacket = "mqtt-packet"
}

let selectedTarget: FuzzTarget = {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        print("FUZZ_TARGET must be one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: " ")) (got '\(name)')")
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    switch selectedTarget {
    case .httpRequest: fuzzHTTPRequest(input)
    case .json: fuzzJSON(input)
    case .multipart: fuzzMultipart(input)
    case .csv: fuzzCSV(input)
    case .telemetry: fuzzTelemetry(input)
    case .factorImport: fuzzFactorImport(input)
    case .postgresBackend: fuzzPostgresBackend(input)
    case .telemetryChunk: fuzzTelemetryChunk(input)
    case .mqttPacket: fuzzMQTTPacket(input)
    }
    return 0
}

/// Traps (a finding) when an invariant does not hold.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}

/// A small deterministic generator (splitmix64) for choices derived from the input's first bytes.
struct FuzzRandom {
    var state: UInt64
    init(seed bytes: some Collection<UInt8>) {
        state = 0x9E37_79B9_7F4A_7C15
        for byte in bytes { state = (state ^ UInt64(byte)) &* 0x100_0000_01B3 }
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(in range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
}

/// Cuts `bytes` into consecutive pieces of 1...`maxPiece` bytes (1-byte trickles included), as a socket would deliver them.
func fuzzSplits(_ bytes: [UInt8], random: inout FuzzRandom, maxPiece: Int) -> [ArraySlice<UInt8>] {
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    while start < bytes.count {
        let length = min(bytes.count - start, random.int(in: 1...max(1, maxPiece)))
        pieces.append(bytes[start..<(start + length)])
        start += length
    }
    return pieces
}
