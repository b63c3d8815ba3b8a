/// A streaming raw DEFLATE (RFC 1951) compressor writing into a `BufferedFileOutput`.
///
/// LZ77 over a 32 KiB sliding window with 4-byte hash chains (greedy, short chains: tuned for speed on repetitive text such
/// as worksheet XML), then for every block of up to 16 384 symbols the cheaper of the fixed and a dynamic Huffman code.
/// Memory is fixed (about 1.3 MiB) whatever the input size.
final class DeflateEncoder {
    private static let windowSize = 32_768
    private static let windowMask = windowSize - 1
    private static let minMatch = 4
    private static let maxMatch = 258
    /// Bytes kept ahead of the match position before matching, so a match can reach full length.
    private static let lookahead = maxMatch + minMatch
    private static let hashBits = 15
    private static let maxChain = 8
    private static let niceLength = 64
    private static let maxInsertLength = 16
    private static let blockSymbols = 16_384

    /// Input buffer size: 1 MiB, so the hash chains need rebasing only about once per MiB.
    private static let windowCapacity = 1 << 20

    private let output: BufferedFileOutput
    /// The input buffer, plus slack for loads just past the data.
    private let window: UnsafeMutablePointer<UInt8>
    private let head: UnsafeMutablePointer<Int32>
    private let previous: UnsafeMutablePointer<Int32>
    private var position = 0
    private var end = 0
    /// Pending symbols: a literal byte with distance 0, or a match length with its distance.
    private let symbolLengths: UnsafeMutablePointer<UInt16>
    private let symbolDistances: UnsafeMutablePointer<UInt16>
    private var symbolCount = 0
    private var bitBuffer: UInt64 = 0
    private var bitCount = 0
    private var finished = false

    init(output: BufferedFileOutput) {
        self.output = output
        window = .allocate(capacity: Self.windowCapacity + 16)
        window.initialize(repeating: 0, count: Self.windowCapacity + 16)
        head = .allocate(capacity: 1 << Self.hashBits)
        head.initialize(repeating: -1, count: 1 << Self.hashBits)
        previous = .allocate(capacity: Self.windowSize)
        previous.initialize(repeating: -1, count: Self.windowSize)
        symbolLengths = .allocate(capacity: Self.blockSymbols)
        symbolDistances = .allocate(capacity: Self.blockSymbols)
    }

    deinit {
        window.deallocate()
        head.deallocate()
        previous.deallocate()
        symbolLengths.deallocate()
        symbolDistances.deallocate()
    }

    /// Compresses `bytes`; output appears block by block.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished)
        guard var source = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            if end == Self.windowCapacity { slide() }
            let take = min(remaining, Self.windowCapacity - end)
            UnsafeMutableRawPointer(window + end).copyMemory(from: source, byteCount: take)
            end += take
            source += take
            remaining -= take
            try compress(finishing: false)
        }
    }

    /// Compresses what is left, writes the final block and pads to a byte boundary.
    func finish() throws {
        precondition(!finished)
        finished = true
        try compress(finishing: true)
        try emitBlock(final: true)
        while bitCount > 0 {
            try output.writeByte(UInt8(truncatingIfNeeded: bitBuffer))
            bitBuffer >>= 8
            bitCount = max(0, bitCount - 8)
        }
    }

    // MARK: LZ77

    /// Moves the last 32 KiB before `position` and the lookahead to the start; chain positions move along or drop out.
    private func slide() {
        let shift = position - Self.windowSize
        precondition(shift > 0)
        UnsafeMutableRawPointer(window).copyMemory(from: window + shift, byteCount: end - shift)
        position -= shift
        end -= shift
        let delta = Int32(shift)
        for table in [(head, 1 << Self.hashBits), (previous, Self.windowSize)] {
            for i in 0 ..< table.1 {
                let moved = table.0[i] &- delta
                table.0[i] = moved < 0 ? -1 : moved
            }
        }
    }

    @inline(__always) private func hash(_ at: Int) -> Int {
        let word = UnsafeRawPointer(window + at).loadUnaligned(as: UInt32.self)
        return Int((word &* 2_654_435_761) >> (32 - UInt32(Self.hashBits)))
    }

    @inline(__always) private func insert(_ at: Int) -> Int {
        let h = hash(at)
        let candidate = Int(head[h])
        head[h] = Int32(at)
        previous[at & Self.windowMask] = Int32(candidate)
        return candidate
    }

    /// Length of the common prefix of `window[a...]` and `window[b...]`, at most `limit`.
    @inline(__always) private func commonLength(_ a: Int, _ b: Int, _ limit: Int) -> Int {
        let pa = UnsafeRawPointer(window + a), pb = UnsafeRawPointer(window + b)
        var n = 0
        while n + 8 <= limit {
            let x = pa.loadUnaligned(fromByteOffset: n, as: UInt64.self) ^ pb.loadUnaligned(fromByteOffset: n, as: UInt64.self)
            if x != 0 { return n + UInt64(littleEndian: x).trailingZeroBitCount >> 3 }
            n += 8
        }
        while n < limit && pa.load(fromByteOffset: n, as: UInt8.self) == pb.load(fromByteOffset: n, as: UInt8.self) { n += 1 }
        return n
    }

    private func compress(finishing: Bool) throws {
        let stop = finishing ? end : end - Self.lookahead
        while position < stop {
            let available = end - position
            var bestLength = 0, bestDistance = 0
            if available >= Self.minMatch {
                var candidate = insert(position)
                let limit = min(Self.maxMatch, available)
                var chain = Self.maxChain
                while candidate >= 0 && position - candidate < Self.windowSize && chain > 0 {
                    if window[candidate + bestLength] == window[position + bestLength] {
                        let length = commonLength(candidate, position, limit)
                        if length > bestLength {
                            bestLength = length
                            bestDistance = position - candidate
                            if length >= Self.niceLength || length == limit { break }
                        }
                    }
                    candidate = Int(previous[candidate & Self.windowMask])
                    chain -= 1
                }
            }
            if bestLength >= Self.minMatch {
                symbolLengths[symbolCount] = UInt16(bestLength)
                symbolDistances[symbolCount] = UInt16(bestDistance)
                // Short matches index every position they cover; long ones only their start (much faster, barely larger).
                let last = bestLength > Self.maxInsertLength ? position + 1 : min(position + bestLength, end - Self.minMatch + 1)
                var next = position + 1
                while next < last {
                    _ = insert(next)
                    next += 1
                }
                position += bestLength
            } else {
                symbolLengths[symbolCount] = UInt16(window[position])
                symbolDistances[symbolCount] = 0
                position += 1
            }
            symbolCount += 1
            if symbolCount == Self.blockSymbols { try emitBlock(final: false) }
        }
    }

    // MARK: Huffman blocks

    @inline(__always) private func putBits(_ value: UInt32, _ count: Int) throws {
        bitBuffer |= UInt64(value) << UInt64(bitCount)
        bitCount += count
        if bitCount >= 32 {
            let word = UInt32(truncatingIfNeeded: bitBuffer).littleEndian
            try output.withReservedSpace(4) { out in
                UnsafeMutableRawPointer(out).storeBytes(of: word, as: UInt32.self)
                return 4
            }
            bitBuffer >>= 32
            bitCount -= 32
        }
    }

    private func emitBlock(final: Bool) throws {
        let tables = DeflateTables.shared
        var literalFrequencies = [Int](repeating: 0, count: 286)
        var distanceFrequencies = [Int](repeating: 0, count: 30)
        var extraBits = 0
        for i in 0 ..< symbolCount {
            let distance = Int(symbolDistances[i])
            if distance == 0 {
                literalFrequencies[Int(symbolLengths[i])] += 1
            } else {
                let lengthCode = Int(tables.lengthCode[Int(symbolLengths[i])])
                let distanceCode = tables.distanceCode(distance)
                literalFrequencies[lengthCode] += 1
                distanceFrequencies[distanceCode] += 1
                extraBits += Int(tables.lengthExtra[lengthCode - 257]) + Int(tables.distanceExtra[distanceCode])
            }
        }
        literalFrequencies[256] = 1

        let literalLengths = Huffman.lengths(literalFrequencies, limit: 15)
        let distanceLengths = Huffman.lengths(distanceFrequencies, limit: 15)
        let header = DynamicHeader(literalLengths: literalLengths, distanceLengths: distanceLengths)
        var dynamicBits = 3 + header.bitCount + extraBits, fixedBits = 3 + extraBits
        for (symbol, frequency) in literalFrequencies.enumerated() where frequency > 0 {
            dynamicBits += frequency * Int(literalLengths[symbol])
            fixedBits += frequency * Int(tables.fixedLiteralLengths[symbol])
        }
        for (symbol, frequency) in distanceFrequencies.enumerated() where frequency > 0 {
            dynamicBits += frequency * Int(distanceLengths[symbol])
            fixedBits += frequency * 5
        }

        let useDynamic = dynamicBits < fixedBits
        try putBits(final ? 1 : 0, 1)
        try putBits(useDynamic ? 2 : 1, 2)
        let literalCodes: [UInt16], distanceCodes: [UInt16], literalBitLengths: [UInt8], distanceBitLengths: [UInt8]
        if useDynamic {
            try header.write(putBits)
            literalCodes = Huffman.codes(literalLengths)
            distanceCodes = Huffman.codes(distanceLengths)
            literalBitLengths = literalLengths
            distanceBitLengths = distanceLengths
        } else {
            literalCodes = tables.fixedLiteralCodes
            distanceCodes = tables.fixedDistanceCodes
            literalBitLengths = tables.fixedLiteralLengths
            distanceBitLengths = [UInt8](repeating: 5, count: 30)
        }
        for i in 0 ..< symbolCount {
            let distance = Int(symbolDistances[i])
            let value = Int(symbolLengths[i])
            if distance == 0 {
                try putBits(UInt32(literalCodes[value]), Int(literalBitLengths[value]))
            } else {
                let code = Int(tables.lengthCode[value])
                let lengthBits = Int(literalBitLengths[code])
                let extra = UInt32(value - Int(tables.lengthBase[code - 257]))
                try putBits(UInt32(literalCodes[code]) | extra << UInt32(lengthBits), lengthBits + Int(tables.lengthExtra[code - 257]))
                let dCode = tables.distanceCode(distance)
                let dBits = Int(distanceBitLengths[dCode])
                let dExtra = UInt32(distance - Int(tables.distanceBase[dCode]))
                try putBits(UInt32(distanceCodes[dCode]) | dExtra << UInt32(dBits), dBits + Int(tables.distanceExtra[dCode]))
            }
        }
        try putBits(UInt32(literalCodes[256]), Int(literalBitLengths[256]))
        symbolCount = 0
    }
}

/// The code-length part of a dynamic block header (RFC 1951 §3.2.7): run-length coded lengths and their own Huffman code.
private struct DynamicHeader {
    private static let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    private static let extraBits: [UInt8] = [Array(repeating: 0, count: 16), [2, 3, 7]].flatMap { $0 }

    let literalCount: Int, distanceCount: Int, codeLengthCount: Int
    /// (symbol 0...18, extra bits value).
    private var runs: [(UInt8, UInt8)] = []
    private var lengths: [UInt8]
    private var codes: [UInt16]
    /// Bits of everything after the 3 block-type bits up to the first data symbol.
    private(set) var bitCount = 0

    init(literalLengths: [UInt8], distanceLengths: [UInt8]) {
        literalCount = max(257, (literalLengths.lastIndex { $0 != 0 } ?? 0) + 1)
        distanceCount = max(1, (distanceLengths.lastIndex { $0 != 0 } ?? 0) + 1)
        let all = Array(literalLengths[..<literalCount]) + Array(distanceLengths[..<distanceCount])
        var i = 0
        while i < all.count {
            let length = all[i]
            var run = 1
            while i + run < all.count && all[i + run] == length { run += 1 }
            i += run
            if length == 0 {
                while run >= 11 {
                    let take = min(run, 138)
                    runs.append((18, UInt8(take - 11)))
                    run -= take
                }
                if run >= 3 {
                    runs.append((17, UInt8(run - 3)))
                    run = 0
                }
            } else {
                runs.append((length, 0))
                run -= 1
                while run >= 3 {
                    let take = min(run, 6)
                    runs.append((16, UInt8(take - 3)))
                    run -= take
                }
            }
            for _ in 0 ..< run { runs.append((length, 0)) }
        }
        var frequencies = [Int](repeating: 0, count: 19)
        for (symbol, _) in runs { frequencies[Int(symbol)] += 1 }
        let lengths = Huffman.lengths(frequencies, limit: 7)
        self.lengths = lengths
        codes = Huffman.codes(lengths)
        codeLengthCount = max(4, (Self.order.lastIndex { lengths[$0] != 0 } ?? 0) + 1)
        bitCount = 5 + 5 + 4 + 3 * codeLengthCount
        for (symbol, _) in runs { bitCount += Int(lengths[Int(symbol)]) + Int(Self.extraBits[Int(symbol)]) }
    }

    func write(_ putBits: (UInt32, Int) throws -> Void) throws {
        try putBits(UInt32(literalCount - 257), 5)
        try putBits(UInt32(distanceCount - 1), 5)
        try putBits(UInt32(codeLengthCount - 4), 4)
        for symbol in Self.order[..<codeLengthCount] { try putBits(UInt32(lengths[symbol]), 3) }
        for (symbol, extra) in runs {
            let s = Int(symbol)
            try putBits(UInt32(codes[s]), Int(lengths[s]))
            if Self.extraBits[s] > 0 { try putBits(UInt32(extra), Int(Self.extraBits[s])) }
        }
    }
}

/// Length-limited canonical Huffman codes.
enum Huffman {
    /// Code lengths for `frequencies`, none longer than `limit`. At least two symbols always get a code so the code is
    /// complete (zlib's inflate rejects incomplete codes).
    static func lengths(_ frequencies: [Int], limit: Int) -> [UInt8] {
        precondition(frequencies.count >= 2 && frequencies.count <= 1 << limit)
        var frequencies = frequencies
        var used = frequencies.indices.filter { frequencies[$0] > 0 }
        var filler = 0
        while used.count < 2 {
            if frequencies[filler] == 0 {
                frequencies[filler] = 1
                used.append(filler)
            }
            filler += 1
        }
        // Leaves by ascending frequency; internal nodes are created in ascending weight order (two-queue method).
        let leaves = used.sorted { (frequencies[$0], $0) < (frequencies[$1], $1) }
        let n = leaves.count
        var weight = leaves.map { frequencies[$0] } + [Int](repeating: 0, count: n - 1)
        var parent = [Int](repeating: 0, count: 2 * n - 1)
        var nextLeaf = 0, nextInternal = n
        for node in n ..< 2 * n - 1 {
            var children = (0, 0)
            for k in 0 ..< 2 {
                let takeLeaf = nextLeaf < n && (nextInternal >= node || weight[nextLeaf] <= weight[nextInternal])
                let child = takeLeaf ? nextLeaf : nextInternal
                if takeLeaf { nextLeaf += 1 } else { nextInternal += 1 }
                if k == 0 { children.0 = child } else { children.1 = child }
            }
            weight[node] = weight[children.0] + weight[children.1]
            parent[children.0] = node
            parent[children.1] = node
        }
        var depth = [Int](repeating: 0, count: 2 * n - 1)
        for node in stride(from: 2 * n - 3, through: 0, by: -1) { depth[node] = depth[parent[node]] + 1 }

        // Clamp to the limit, then restore Kraft equality: each step drops one code at the limit and splits the deepest
        // shorter code into two one level deeper, reducing the Kraft sum by exactly one unit of 2^-limit.
        var countPerLength = [Int](repeating: 0, count: limit + 1)
        for leaf in 0 ..< n { countPerLength[min(depth[leaf], limit)] += 1 }
        var kraft = 0
        for length in 1 ... limit { kraft += countPerLength[length] << (limit - length) }
        while kraft > 1 << limit {
            countPerLength[limit] -= 1
            var length = limit - 1
            while countPerLength[length] == 0 { length -= 1 }
            countPerLength[length] -= 1
            countPerLength[length + 1] += 2
            kraft -= 1
        }
        // Longest codes to the rarest symbols.
        var result = [UInt8](repeating: 0, count: frequencies.count)
        var length = limit
        var leaf = 0
        while leaf < n {
            while countPerLength[length] == 0 { length -= 1 }
            result[leaves[leaf]] = UInt8(length)
            countPerLength[length] -= 1
            leaf += 1
        }
        return result
    }

    /// Canonical codes (RFC 1951 §3.2.2), bit-reversed for least-significant-bit-first output.
    static func codes(_ lengths: [UInt8]) -> [UInt16] {
        var countPerLength = [Int](repeating: 0, count: 16)
        for length in lengths where length > 0 { countPerLength[Int(length)] += 1 }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for bits in 1 ..< 16 {
            code = (code + countPerLength[bits - 1]) << 1
            next[bits] = code
        }
        var codes = [UInt16](repeating: 0, count: lengths.count)
        for (symbol, length) in lengths.enumerated() where length > 0 {
            var value = next[Int(length)], reversed = 0
            next[Int(length)] += 1
            for _ in 0 ..< length {
                reversed = reversed << 1 | value & 1
                value >>= 1
            }
            codes[symbol] = UInt16(reversed)
        }
        return codes
    }
}

/// Length and distance code tables of RFC 1951 §3.2.5 and the fixed Huffman code of §3.2.6.
private struct DeflateTables: Sendable {
    static let shared = DeflateTables()

    let lengthBase: [UInt16] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
                                195, 227, 258]
    let lengthExtra: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    let distanceBase: [UInt16] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
                                  3073, 4097, 6145, 8193, 12_289, 16_385, 24_577]
    let distanceExtra: [UInt8] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// Length symbol (257...285) for a match length 0...258 (entries below 3 unused).
    let lengthCode: [UInt16]
    /// Distance code by `distance - 1` below 256, and by `(distance - 1) >> 7` from 256 on.
    private let nearDistanceCode: [UInt8], farDistanceCode: [UInt8]
    let fixedLiteralLengths: [UInt8]
    let fixedLiteralCodes: [UInt16]
    let fixedDistanceCodes: [UInt16]

    private init() {
        var lengthCode = [UInt16](repeating: 0, count: 259)
        for code in 0 ..< 29 {
            let base = Int(lengthBase[code])
            for length in base ..< min(259, base + (1 << Int(lengthExtra[code]))) { lengthCode[length] = UInt16(257 + code) }
        }
        lengthCode[258] = 285  // 258 has its own symbol rather than 284 with extra bits 31
        self.lengthCode = lengthCode
        var near = [UInt8](repeating: 0, count: 256), far = [UInt8](repeating: 0, count: 256)
        for code in 0 ..< 30 {
            let base = Int(distanceBase[code])
            for distance in base ..< base + (1 << Int(distanceExtra[code])) {
                if distance - 1 < 256 { near[distance - 1] = UInt8(code) } else { far[(distance - 1) >> 7] = UInt8(code) }
            }
        }
        nearDistanceCode = near
        farDistanceCode = far
        var fixed = [UInt8](repeating: 8, count: 288)
        for symbol in 144 ..< 256 { fixed[symbol] = 9 }
        for symbol in 256 ..< 280 { fixed[symbol] = 7 }
        fixedLiteralLengths = fixed
        fixedLiteralCodes = Huffman.codes(fixed)
        fixedDistanceCodes = Huffman.codes([UInt8](repeating: 5, count: 30))
    }

    @inline(__always) func distanceCode(_ distance: Int) -> Int {
        distance <= 256 ? Int(nearDistanceCode[distance - 1]) : Int(farDistanceCode[(distance - 1) >> 7])
    }
}
