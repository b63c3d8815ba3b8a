// Tools/bench-chunk-decode's program: compiled with the chunk codec's two source files as one module (-O, whole
// module), it packs a few shapes of series into chunks and times decoding them on one core.
import Glibc

@main struct ChunkBench {
    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    static func main() {
        var seed: UInt64 = 1
        func random() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func uniform() -> Double { Double(random() >> 11) / Double(1 << 53) }
        let count = 2_000_000
        var walk = 215
        let shapes: [(String, Int64, () -> Double)] = [
            ("temperature, 1 decimal, 5 s", 5, { walk += Int(random() % 5) - 2; return Double(walk) / 10 }),
            ("voltage, 2 decimals, 1 s", 1, { Double(1_200 + Int(random() % 21) - 10) / 100 }),
            ("vibration, float32 noise", 1, { Double(Float(uniform() * 4 - 2)) }),
            ("any double bits", 1, { Double(bitPattern: random()) }),
        ]
        let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 2 : 2
        print("chunk decode, one core, \(count) points per shape, best round of \(Int(seconds)) s")
        for (name, step, value) in shapes {
            let points = (0 ..< count).map { (t: 1_700_000_000 + Int64($0) * step, value: value()) }
            var started = now()
            let chunks = TelemetryChunk.pack(points)
            let encodeSeconds = now() - started
            let bytes = chunks.reduce(0) { $0 + $1.bytes.count }
            var best = Double.infinity
            var checksum = 0.0
            started = now()
            repeat {
                let round = now()
                var sum = 0.0
                var seen = 0
                for chunk in chunks {
                    _ = try! chunk.forEach { _, value in
                        sum += value
                        seen += 1
                        return true
                    }
                }
                precondition(seen == count)
                best = min(best, now() - round)
                checksum += sum
            } while now() - started < seconds
            print("\(name): decode \(Int(Double(count) / best / 1e6)) M points/s, encode (pack) \(Int(Double(count) / encodeSeconds / 1e6)) M points/s, "
                  + "\(Double(bytes * 100 / count) / 100) bytes/point encoded, \(count / chunks.count) points/chunk (checksum \(checksum.isFinite ? 1 : 0))")
        }
    }
}
