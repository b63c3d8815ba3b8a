/// Why a stored chunk could not be decoded. A chunk is only ever written by `TelemetryChunk`, so any of these means
/// the blob was damaged (or written by a newer release); readers report it instead of trapping or guessing.
enum TelemetryChunkError: Error, Equatable, CustomStringConvertible {
    /// The blob is empty.
    case empty
    /// The leading byte names no codec this release knows.
    case unknownVersion(UInt8)
    /// The blob ends inside a point or inside its trailer.
    case truncated
    /// The blob decodes, but disagrees with itself or with its row (count, last time, trailer state, padding).
    case inconsistent(String)

    var description: String {
        switch self {
        case .empty: "empty telemetry chunk"
        case .unknownVersion(let byte): "telemetry chunk of unknown codec version \(byte)"
        case .truncated: "truncated telemetry chunk"
        case .inconsistent(let what): "inconsistent telemetry chunk: \(what)"
        }
    }
}

/// The chunk codecs (DECISIONS "Telemetry in chunks", "Chunk codec v2"). Pure functions over bytes: no database, no
/// Foundation, so `Tools/fuzz` and `Tools/bench-chunk-decode` compile this file on its own.
///
/// **v1** (leading byte `0x00`, which is the first point's zero time distance): per point the LEB128 varint of the
/// distance from the previous `t`, then the value's eight IEEE 754 bytes, little-endian.
///
/// **v2** (leading byte `0x02`): `[0x02] [bit stream] [trailer]`. The bit stream (most significant bit first) holds
/// points 2…n; the first point is `(tFirst, first value)`. Per point:
/// - time: the zigzag of the delta-of-delta (the first delta's predecessor is 0) as `0` (same delta),
///   `10`+2 bits, `110`+7 bits, `1110`+12 bits (each class offset past the previous one), or `1111`+64 bits;
/// - value, *decimal* mode (every value of the chunk is `n / 10^d` for an integer `|n| ≤ 2^53`, `d ≤ 6`, checked
///   bit for bit): the zigzag of `n`'s delta as `0`, `10`+3, `110`+6, `1110`+12, `11110`+20 bits (offset classes) or
///   `11111`+64 bits;
/// - value, *XOR* mode (Gorilla): the XOR with the previous value's bits as `0` (equal), `10` + the meaningful bits
///   inside the previous window, or `11` + 6 bits of leading zeros + 6 bits of (length − 1) + the meaningful bits.
///
/// The trailer, read from the end, is the encoder's state, so a point is appended without decoding the chunk:
/// `[mode] [count] [zigzag last delta] [first value] [last value] ([leading] [length] in XOR mode) [trailer length]`,
/// where mode is `scale << 3 | pad bits` (scale 7 = XOR), counts, deltas and decimal values are LEB128 varints and
/// XOR values are eight bytes little-endian.
enum TelemetryCodec {
    static let v2: UInt8 = 2
    static let xorMode = 7
    static let floatMode = 8
    /// The largest shift of the float mode (a double's mantissa is 52 bits).
    static let maxShift = 52
    static let maxScale = 6
    static let powers: [Double] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
    /// The largest |n| of the decimal mode: every integer up to it is a Double.
    static let decimalLimit = 9_007_199_254_740_992.0

    @inline(__always) static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
    @inline(__always) static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1))) }

    /// `n` with `value == n / 10^scale` bit for bit, if there is one within the decimal limit.
    @inline(__always) static func decimal(_ value: Double, scale: Int) -> Int64? {
        let scaled = value * powers[scale]
        guard scaled.magnitude <= decimalLimit else { return nil }   // also false for NaN
        let n = Int64(scaled.rounded())
        guard (Double(n) / powers[scale]).bitPattern == value.bitPattern else { return nil }
        return n
    }

    /// The smallest scale at which every value is an exact decimal, or nil.
    static func commonScale<C: Collection>(_ values: C) -> Int? where C.Element == Double {
        var scale = 0
        for value in values {
            while decimal(value, scale: scale) == nil {
                guard scale < maxScale else { return nil }
                scale += 1
            }
        }
        // A value exact at a smaller scale is exact at a larger one unless its `n` outgrows the limit: check them all.
        for value in values where decimal(value, scale: scale) == nil { return nil }
        return scale
    }

    // MARK: Variable-length classes

    /// The time classes after the `0` code: (prefix bits, prefix length, payload bits, first zigzag value).
    static let timeClasses: [(prefix: UInt64, prefixLength: Int, bits: Int, base: UInt64)] =
        [(0b10, 2, 2, 1), (0b110, 3, 7, 5), (0b1110, 4, 12, 133), (0b1111, 4, 64, 0)]
    /// The decimal value classes after the `0` code.
    static let valueClasses: [(prefix: UInt64, prefixLength: Int, bits: Int, base: UInt64)] =
        [(0b10, 2, 3, 1), (0b110, 3, 6, 9), (0b1110, 4, 12, 73), (0b11110, 5, 20, 4_169), (0b11111, 5, 64, 0)]

    /// The code of a time's zigzag delta-of-delta (the classes of `timeClasses`).
    @inline(__always) static func timeCode(_ z: UInt64, into codes: inout BitWriter) {
        if z == 0 { return codes.write(0, 1) }
        if z <= 4 { return codes.write(0b10 << 2 | (z - 1), 4) }
        if z <= 132 { return codes.write(0b110 << 7 | (z - 5), 10) }
        if z <= 4_228 { return codes.write(0b1110 << 12 | (z - 133), 16) }
        codes.write(0b1111, 4)
        codes.write(z, 64)
    }

    /// The code of a decimal value's zigzag delta (the classes of `valueClasses`).
    @inline(__always) static func valueCode(_ z: UInt64, into codes: inout BitWriter) {
        if z == 0 { return codes.write(0, 1) }
        if z <= 8 { return codes.write(0b10 << 3 | (z - 1), 5) }
        if z <= 72 { return codes.write(0b110 << 6 | (z - 9), 9) }
        if z <= 4_168 { return codes.write(0b1110 << 12 | (z - 73), 16) }
        if z < 4_169 + (1 << 20) { return codes.write(0b11110 << 20 | (z - 4_169), 25) }
        codes.write(0b11111, 5)
        codes.write(z, 64)
    }

    // MARK: Bits

    /// Appends bits, most significant first, to whole bytes; the last `pending` bits wait in `accumulator`.
    struct BitWriter {
        var bytes: [UInt8]
        var accumulator: UInt64 = 0
        var pending = 0

        /// Writes the low `length` (0…64) bits of `value`.
        @inline(__always) mutating func write(_ value: UInt64, _ length: Int) {
            if length > 32 {
                write(value >> 32, length - 32)
                write(value & 0xFFFF_FFFF, 32)
                return
            }
            guard length > 0 else { return }
            accumulator = (accumulator << UInt64(length)) | (value & ((1 << UInt64(length)) - 1))
            pending += length
            while pending >= 8 {
                pending -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(pending)))
            }
            accumulator &= (1 << UInt64(pending)) - 1
        }

        /// Where the writer is, to come back to.
        var mark: (count: Int, accumulator: UInt64, pending: Int) { (bytes.count, accumulator, pending) }

        /// How many bits were written since `mark`.
        func bits(since mark: (count: Int, accumulator: UInt64, pending: Int)) -> Int { (bytes.count - mark.count) * 8 + pending - mark.pending }

        /// Forgets what was written since `mark`.
        mutating func rollBack(to mark: (count: Int, accumulator: UInt64, pending: Int)) {
            bytes.removeLast(bytes.count - mark.count)
            accumulator = mark.accumulator
            pending = mark.pending
        }

        /// Writes the pending bits padded by zeros to a last byte; returns how many pad bits that byte has.
        mutating func finish() -> Int {
            guard pending > 0 else { return 0 }
            bytes.append(UInt8(truncatingIfNeeded: accumulator << UInt64(8 - pending)))
            let pad = 8 - pending
            accumulator = 0
            pending = 0
            return pad
        }
    }

    // MARK: Varints and the trailer

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    static func readVarint(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: inout Int, end: Int) throws(TelemetryChunkError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw .truncated }
            guard shift < 64 else { throw .inconsistent("varint too long") }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    static func appendLittleEndian(_ value: UInt64, to bytes: inout [UInt8]) {
        for index in 0 ..< 8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    static func readLittleEndian(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: inout Int, end: Int) throws(TelemetryChunkError) -> UInt64 {
        guard end - offset >= 8 else { throw .truncated }
        var value: UInt64 = 0
        for index in 0 ..< 8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        offset += 8
        return value
    }

    /// The v2 encoder's state after the chunk's last point: everything an append needs, kept in the trailer.
    struct State: Equatable {
        /// 0…6: the decimal scale; 7: XOR.
        var mode: Int
        var count: Int
        var lastDelta: Int64
        /// Decimal mode: the first and last `n`; XOR and float modes: the first and last value's bits.
        var first: UInt64
        var last: UInt64
        /// XOR mode: the window of the last meaningful bits written.
        var leading = 0
        var length = 64
        /// Float mode: how many low bits every value's magnitude has zero (29 for float32 values).
        var shift = 0

        var isDecimal: Bool { mode < TelemetryCodec.xorMode }

        /// The trailer's length in bytes.
        var trailerSize: Int {
            @inline(__always) func varintSize(_ value: UInt64) -> Int { max(1, (64 - value.leadingZeroBitCount + 6) / 7) }
            let values = isDecimal ? varintSize(zigzag(Int64(bitPattern: first))) + varintSize(zigzag(Int64(bitPattern: last)))
                : mode == TelemetryCodec.xorMode ? 18 : 17
            return 2 + varintSize(UInt64(count)) + varintSize(zigzag(lastDelta)) + values
        }

        func trailer(pad: Int) -> [UInt8] {
            var bytes: [UInt8] = [UInt8(mode << 3 | pad)]
            appendVarint(UInt64(count), to: &bytes)
            appendVarint(zigzag(lastDelta), to: &bytes)
            if isDecimal {
                appendVarint(zigzag(Int64(bitPattern: first)), to: &bytes)
                appendVarint(zigzag(Int64(bitPattern: last)), to: &bytes)
            } else {
                appendLittleEndian(first, to: &bytes)
                appendLittleEndian(last, to: &bytes)
                if mode == TelemetryCodec.xorMode {
                    bytes.append(UInt8(leading))
                    bytes.append(UInt8(length - 1))
                } else {
                    bytes.append(UInt8(shift))
                }
            }
            bytes.append(UInt8(bytes.count + 1))
            return bytes
        }
    }

    /// Where a v2 blob's stream ends, its pad bits and the state in its trailer.
    static func parseTrailer(_ bytes: UnsafeBufferPointer<UInt8>) throws(TelemetryChunkError) -> (streamEnd: Int, pad: Int, state: State) {
        guard let lengthByte = bytes.last else { throw .empty }
        let length = Int(lengthByte)
        guard length >= 5, length <= bytes.count - 1 else { throw .truncated }
        let start = bytes.count - length
        let end = bytes.count - 1
        var offset = start
        let modeByte = bytes[offset]
        offset += 1
        let mode = Int(modeByte >> 3)
        let pad = Int(modeByte & 7)
        guard mode <= floatMode else { throw .inconsistent("mode \(mode)") }
        let count = try readVarint(bytes, &offset, end: end)
        guard count >= 1, count <= UInt64(Int32.max) else { throw .inconsistent("count \(count)") }
        let lastDelta = unzigzag(try readVarint(bytes, &offset, end: end))
        var state = State(mode: mode, count: Int(count), lastDelta: lastDelta, first: 0, last: 0)
        if state.isDecimal {
            state.first = UInt64(bitPattern: unzigzag(try readVarint(bytes, &offset, end: end)))
            state.last = UInt64(bitPattern: unzigzag(try readVarint(bytes, &offset, end: end)))
        } else {
            state.first = try readLittleEndian(bytes, &offset, end: end)
            state.last = try readLittleEndian(bytes, &offset, end: end)
            if mode == xorMode {
                guard end - offset >= 2 else { throw .truncated }
                state.leading = Int(bytes[offset])
                state.length = Int(bytes[offset + 1]) + 1
                offset += 2
                guard state.leading < 64, state.leading + state.length <= 64 else { throw .inconsistent("window") }
            } else {
                guard end - offset >= 1 else { throw .truncated }
                state.shift = Int(bytes[offset])
                offset += 1
                guard state.shift <= maxShift else { throw .inconsistent("shift") }
            }
        }
        guard offset == end else { throw .inconsistent("trailer length") }
        let streamEnd = start
        guard streamEnd >= 1, pad < 8, streamEnd > 1 || pad == 0 else { throw .inconsistent("padding") }
        return (streamEnd, pad, state)
    }

    // MARK: Encoding a point

    /// Writes one point after the state's last one and advances `next` (which starts as the state); false when the
    /// chunk's mode cannot take the value (a decimal chunk at too small a scale, a float chunk with too large a
    /// shift), after some bits may have been written: the caller rolls the writer back.
    @inline(__always) static func write(t delta: Int64, value: Double, _ next: inout State, to codes: inout BitWriter) -> Bool {
        let state = next
        timeCode(zigzag(delta &- state.lastDelta), into: &codes)
        next.lastDelta = delta
        next.count += 1
        if state.isDecimal {
            guard let n = decimal(value, scale: state.mode) else { return false }
            valueCode(zigzag(n &- Int64(bitPattern: state.last)), into: &codes)
            next.last = UInt64(bitPattern: n)
        } else if state.mode == floatMode {
            let bits = value.bitPattern
            guard bits & ((1 << UInt64(state.shift)) - 1) == 0 else { return false }
            let z = zigzag(ordered(bits, shift: state.shift) &- ordered(state.last, shift: state.shift))
            next.last = bits
            if z == 0 {
                codes.write(0, 1)
            } else {
                let length = 64 - z.leadingZeroBitCount
                codes.write(1 << 6 | UInt64(length - 1), 7)
                codes.write(z, length - 1)   // the top bit, always 1, is implied
            }
        } else {
            let bits = value.bitPattern
            let xor = bits ^ state.last
            next.last = bits
            if xor == 0 {
                codes.write(0, 1)
            } else {
                let leading = xor.leadingZeroBitCount
                let trailing = xor.trailingZeroBitCount
                let length = 64 - leading - trailing
                let fits = leading >= state.leading && leading + length <= state.leading + state.length
                // Reuse the window when it holds the bits and costs no more than a new window's 12 header bits.
                if fits && state.length - length <= 12 {
                    codes.write(0b10, 2)
                    codes.write(xor >> UInt64(64 - state.leading - state.length), state.length)
                } else {
                    codes.write(0b11, 2)
                    codes.write(UInt64(leading) << 6 | UInt64(length - 1), 12)
                    codes.write(xor >> UInt64(trailing), length)
                    next.leading = leading
                    next.length = length
                }
            }
        }
        return true
    }

    /// A value's bits as an integer in the order of the values (negative values below −0.0 below +0.0), divided by
    /// 2^shift; the low `shift` bits of the value's magnitude must be zero. One-to-one, so `unordered` inverts it.
    @inline(__always) static func ordered(_ bits: UInt64, shift: Int) -> Int64 {
        let signed = Int64(bitPattern: bits)
        let mapped = signed >= 0 ? signed : 0 &- (signed & .max) &- (1 << Int64(shift))
        return mapped >> Int64(shift)
    }

    @inline(__always) static func unordered(_ ordered: Int64, shift: Int) -> UInt64 {
        let mapped = ordered << Int64(shift)
        guard mapped < 0 else { return UInt64(bitPattern: mapped) }
        return UInt64(bitPattern: 0 &- (mapped &+ (1 << Int64(shift)))) | (1 << 63)
    }

    /// A whole v2 blob of `points` (at least one, increasing `t`): in decimal mode at the smallest common scale when
    /// there is one, else in the float or the XOR mode, whichever is smaller.
    static func encode(_ points: ArraySlice<(t: Int64, value: Double)>) -> (bytes: [UInt8], state: State) {
        if let scale = commonScale(points.lazy.map(\.value)) { return encode(points, mode: scale) }
        // Values with few zero low bits (doubles computed as doubles) go to XOR, as Gorilla stores them.
        let float = encode(points, mode: floatMode)
        guard float.state.shift >= 8 else { return encode(points, mode: xorMode) }
        guard points.count > 1 else { return float }
        let xor = encode(points, mode: xorMode)
        return xor.bytes.count < float.bytes.count ? xor : float
    }

    /// `points` in `mode` (which must hold them: a common decimal scale, XOR, or float).
    static func encode(_ points: ArraySlice<(t: Int64, value: Double)>, mode: Int) -> (bytes: [UInt8], state: State) {
        let first = points[points.startIndex]
        var state = State(mode: mode, count: 1, lastDelta: 0, first: 0, last: 0)
        if mode == xorMode {
            state.first = first.value.bitPattern
        } else if mode == floatMode {
            state.first = first.value.bitPattern
            // The float mode's shift: the fewest zero low bits of a magnitude (zero magnitudes set no bound).
            state.shift = points.reduce(maxShift) { shift, point in
                let magnitude = point.value.bitPattern & ~(1 << 63)
                return magnitude == 0 ? shift : min(shift, magnitude.trailingZeroBitCount)
            }
        } else {
            state.first = UInt64(bitPattern: decimal(first.value, scale: mode)!)
        }
        state.last = state.first
        var writer = BitWriter(bytes: [v2])
        writer.bytes.reserveCapacity(points.count * 2 + 16)
        var previous = first.t
        for point in points.dropFirst() {
            let written = write(t: point.t &- previous, value: point.value, &state, to: &writer)
            precondition(written, "the mode chosen holds every value")
            previous = point.t
        }
        let pad = writer.finish()
        writer.bytes += state.trailer(pad: pad)
        return (writer.bytes, state)
    }

    // MARK: Decoding

    /// Calls `body` with every point of a v2 blob; `tFirst` is the first point's time. Returns false when `body`
    /// stopped the walk; throws when the blob is malformed (after the points before the damage were visited).
    @inline(__always)
    static func decodeV2(_ bytes: UnsafeBufferPointer<UInt8>, tFirst: Int64,
                         _ body: (_ t: Int64, _ value: Double) throws -> Bool) throws -> Bool {
        try withoutActuallyEscaping(body) { body in
            var sink = ClosureSink(body: body)
            var seen = 0
            var last: Int64 = 0
            return try decodeV2(bytes, tFirst: tFirst, into: &sink, seen: &seen, last: &last)
        }
    }

    /// `decodeV2` into a sink: specialized for the sink's type, its `take` is inlined into the decoding loop (the
    /// aggregation's fold runs there without a call per point). When the walk completes, `seen` is the number of points
    /// handed over and `last` the last one's time (for the caller's consistency check).
    @inline(__always)
    static func decodeV2<Sink: PointSink>(_ bytes: UnsafeBufferPointer<UInt8>, tFirst: Int64, into sink: inout Sink,
                                          seen: inout Int, last lastTime: inout Int64) throws -> Bool {
        let (streamEnd, pad, state) = try parseTrailer(bytes)
        let streamBytes = streamEnd - 1
        let bitLength = streamBytes * 8 - pad
        let padded = streamBytes + 32
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: padded) { buffer throws -> Bool in
            let base = buffer.baseAddress!
            if streamBytes > 0 { base.update(from: bytes.baseAddress! + 1, count: streamBytes) }
            (base + streamBytes).initialize(repeating: 0, count: 32)
            defer { buffer.deinitialize() }
            let raw = UnsafeRawPointer(base)
            var position = 0
            /// The 64 bits from `position`; the top 57 at least are the stream's (zeros past its end).
            @inline(__always) func peek() -> UInt64 {
                raw.loadUnaligned(fromByteOffset: position >> 3, as: UInt64.self).bigEndian << UInt64(position & 7)
            }
            /// At most 56 bits.
            @inline(__always) func readShort(_ length: Int) -> UInt64 {
                let value = peek() >> UInt64(64 - length)
                position += length
                return value
            }
            // Not recursive: a recursive local function is not inlined, and every call then checked its access to
            // `position` at run time (a sixth of an hourly aggregation's time went to swift_beginAccess).
            @inline(__always) func read(_ length: Int) -> UInt64 {
                if length > 56 {
                    let high = readShort(length - 32)
                    return high << 32 | readShort(32)
                }
                return readShort(length)
            }
            @inline(__always) func classed(_ word: UInt64, _ classes: [(prefix: UInt64, prefixLength: Int, bits: Int, base: UInt64)]) -> UInt64 {
                let ones = min((~word).leadingZeroBitCount, classes.count)
                let entry = classes[ones - 1]
                position += entry.prefixLength
                return read(entry.bits) &+ entry.base
            }

            let timeClasses = Self.timeClasses
            let valueClasses = Self.valueClasses
            var t = tFirst
            var delta: Int64 = 0
            var last = state.first
            if try !sink.take(t, state.isDecimal ? Double(Int64(bitPattern: last)) / powers[state.mode] : Double(bitPattern: last)) {
                return false
            }
            var leading = 0
            var length = 64
            let decimalMode = state.isDecimal
            let floatMode = state.mode == Self.floatMode
            let shift = state.shift
            var ordered = Self.ordered(state.first, shift: shift)
            let divisor = decimalMode ? powers[state.mode] : 1
            var remaining = state.count - 1
            while remaining > 0 {
                remaining -= 1
                guard position <= bitLength else { throw TelemetryChunkError.truncated }
                // `word` holds the next `valid` bits of the stream at its top: one load serves most points.
                var word = peek()
                var valid = 57
                if word >> 63 == 0 {
                    position += 1
                    word <<= 1
                    valid = 56
                } else {
                    delta = delta &+ unzigzag(classed(word, timeClasses))
                    word = peek()
                }
                let next = t &+ delta
                guard next > t else { throw TelemetryChunkError.inconsistent("times not increasing") }
                t = next
                let value: Double
                if decimalMode {
                    if word >> 63 == 0 {
                        position += 1
                    } else {
                        last = UInt64(bitPattern: Int64(bitPattern: last) &+ unzigzag(classed(word, valueClasses)))
                    }
                    value = Double(Int64(bitPattern: last)) / divisor
                } else if floatMode {
                    if word >> 63 == 0 {
                        position += 1
                    } else {
                        let length = Int((word << 1) >> 58) + 1
                        let low: UInt64
                        if 7 + length - 1 <= valid {
                            low = length == 1 ? 0 : (word << 7) >> UInt64(65 - length)
                            position += 6 + length
                        } else {
                            position += 7
                            low = read(length - 1)
                        }
                        ordered = ordered &+ unzigzag(1 << UInt64(length - 1) | low)
                        last = unordered(ordered, shift: shift)
                    }
                    value = Double(bitPattern: last)
                } else {
                    if word >> 63 == 0 {
                        position += 1
                    } else if word >> 62 == 0b10 {
                        let meaningful: UInt64
                        if 2 + length <= valid {
                            meaningful = (word << 2) >> UInt64(64 - length)
                            position += 2 + length
                        } else {
                            position += 2
                            meaningful = read(length)
                        }
                        last ^= meaningful << UInt64(64 - leading - length)
                    } else {
                        let header = (word << 2) >> 52
                        leading = Int(header >> 6)
                        length = Int(header & 63) + 1
                        guard leading + length <= 64 else { throw TelemetryChunkError.inconsistent("window") }
                        let meaningful: UInt64
                        if 14 + length <= valid {
                            meaningful = (word << 14) >> UInt64(64 - length)
                            position += 14 + length
                        } else {
                            position += 14
                            meaningful = read(length)
                        }
                        last ^= meaningful << UInt64(64 - leading - length)
                    }
                    value = Double(bitPattern: last)
                }
                if try !sink.take(t, value) { return false }
            }
            guard position == bitLength else {
                throw position > bitLength ? TelemetryChunkError.truncated : TelemetryChunkError.inconsistent("bits after the last point")
            }
            guard delta == state.lastDelta, last == state.last, decimalMode || (leading, length) == (state.leading, state.length) else {
                throw TelemetryChunkError.inconsistent("trailer state")
            }
            // Every point was handed over (an early stop returned above): counted once, not per point.
            seen = state.count
            lastTime = t
            return true
        }
    }

    /// Calls `body` with every point of a v1 blob; throws on a truncated point.
    static func decodeV1(_ bytes: UnsafeBufferPointer<UInt8>, tFirst: Int64,
                         _ body: (_ t: Int64, _ value: Double) throws -> Bool) throws -> Bool {
        var offset = 0
        var t = tFirst
        var first = true
        while offset < bytes.count {
            let distance = try readVarint(bytes, &offset, end: bytes.count)
            let bits = try readLittleEndian(bytes, &offset, end: bytes.count)
            let next = t &+ Int64(bitPattern: distance)
            guard first ? distance == 0 : next > t else { throw TelemetryChunkError.inconsistent("times not increasing") }
            first = false
            t = next
            if try !body(t, Double(bitPattern: bits)) { return false }
        }
        return true
    }

    /// A v1 blob (the codec before v2; kept to test reading old rows and for `telemetry recompress --codec 1`).
    static func encodeV1<S: Sequence>(_ points: S) -> [UInt8] where S.Element == (t: Int64, value: Double) {
        var bytes: [UInt8] = []
        var previous: Int64?
        for point in points {
            appendVarint(UInt64(bitPattern: point.t &- (previous ?? point.t)), to: &bytes)
            appendLittleEndian(point.value.bitPattern, to: &bytes)
            previous = point.t
        }
        return bytes
    }
}

/// Where a decoder puts points, one at a time in time order; `take` returns false to stop the walk.
protocol PointSink {
    mutating func take(_ t: Int64, _ value: Double) throws -> Bool
}

/// A closure as a sink.
struct ClosureSink: PointSink {
    let body: (_ t: Int64, _ value: Double) throws -> Bool

    @inline(__always)
    mutating func take(_ t: Int64, _ value: Double) throws -> Bool { try body(t, value) }
}
