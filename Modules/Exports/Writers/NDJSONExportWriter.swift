/// Newline-delimited JSON: one `{"t":…,"agri_id":…,"factor":…,"unit":…,"value":…,"device_id":…}` object per line, LF-terminated.
/// Strings are escaped per RFC 8259 (quote, backslash, control characters); `t` is unix seconds.
final class NDJSONExportWriter: ExportWriter {
    private let output: BufferedFileOutput
    private var lifecycle = WriterLifecycle()

    init(output: BufferedFileOutput) {
        self.output = output
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
        try output.write(",\"value\":" as StaticString)
        try output.withReservedSpace(TextFormatting.maxNumberLength) { TextFormatting.writeNumber(row.value, into: $0) }
        try output.write(",\"device_id\":" as StaticString)
        try string(row.deviceID)
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
