/// Newline-delimited JSON: one `{"t":…,"agri_id":…,"factor":…,"unit":…,"value":…,"device_id":…}` object per line, LF-terminated.
/// Strings are escaped per RFC 8259 (quote, backslash, control characters); `t` is unix seconds. A bucket row carries
/// `count` and the aggregates (by name, null when not finite) instead of `value`, as the aggregation API's buckets do.
final class NDJSONExportWriter: ExportWriter {
    private let output: BufferedFileOutput
    /// `,"avg":` … for each aggregate of a bucket layout.
    private let aggregateKeys: [[UInt8]]?
    private var lifecycle = WriterLifecycle()

    init(output: BufferedFileOutput, layout: ExportLayout = .points) {
        self.output = output
        if case .buckets(let names) = layout { aggregateKeys = names.map { Array(",\"\($0)\":".utf8) } } else { aggregateKeys = nil }
    }

    func write(_ row: ExportRow) throws {
        try lifecycle.write { try writeRow(row) }
    }

    func finish() throws {
        try lifecycle.finish {
            try output.sync()
            try output.close()
        }
    }

    private func writeRow(_ row: ExportRow) throws {
        try output.write("{\"t\":" as StaticString)
        try output.withReservedSpace(TextFormatting.maxIntegerLength) { TextFormatting.writeInteger(row.t, into: $0) }
        try output.write(",\"agri_id\":" as StaticString)
        try string(row.agriID)
        try output.write(",\"factor\":" as StaticString)
        try string(row.factor)
        try output.write(",\"unit\":" as StaticString)
        try string(row.unit)
        if aggregateKeys == nil {
            try output.write(",\"value\":" as StaticString)
            try output.withReservedSpace(TextFormatting.maxNumberLength) { TextFormatting.writeNumber(row.value, into: $0) }
        }
        try output.write(",\"device_id\":" as StaticString)
        try string(row.deviceID)
        if let aggregateKeys {
            try output.write(",\"count\":" as StaticString)
            try output.withReservedSpace(TextFormatting.maxIntegerLength) { TextFormatting.writeInteger(row.count, into: $0) }
            for (key, value) in zip(aggregateKeys, row.aggregates) {
                try output.write(key)
                if value.isFinite {
                    try output.withReservedSpace(TextFormatting.maxNumberLength) { TextFormatting.writeNumber(value, into: $0) }
                } else {
                    try output.write("null" as StaticString)
                }
            }
        }
        try output.write("}\n" as StaticString)
    }

    /// Writes `text` as a quoted JSON string.
    private func string(_ text: String) throws {
        try output.writeByte(UInt8(ascii: "\""))
        var text = text
        try text.withUTF8 { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                try output.write(bytes[start ..< index])
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): try output.write("\\\"" as StaticString)
                case UInt8(ascii: "\\"): try output.write("\\\\" as StaticString)
                case 10: try output.write("\\n" as StaticString)
                case 13: try output.write("\\r" as StaticString)
                case 9: try output.write("\\t" as StaticString)
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    try output.write([92, 117, 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])  // \u00XX
                }
            }
            try output.write(bytes[start...])
        }
        try output.writeByte(UInt8(ascii: "\""))
    }
}
