/// RFC 4180 CSV: a UTF-8 byte order mark (so spreadsheet programs detect the encoding), a header row, CRLF line endings,
/// and fields quoted only when they contain a comma, quote, CR or LF (quotes doubled). Times are RFC 3339 UTC. Bucket
/// rows end in `count` and the aggregates (a non-finite aggregate is an empty field).
final class CSVExportWriter: ExportWriter {
    private let output: BufferedFileOutput
    private let buckets: Bool
    private var clock = RFC3339Clock()
    private var lifecycle = WriterLifecycle()

    init(output: BufferedFileOutput, layout: ExportLayout = .points) throws {
        self.output = output
        buckets = layout.isBuckets
        var header = "\u{FEFF}" + layout.columns.joined(separator: ",") + "\r\n"
        try header.withUTF8 { try output.write($0[...]) }
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
        try output.withReservedSpace(RFC3339Clock.maxLength + 1) { out in
            let count = clock.write(row.t, into: out)
            out[count] = UInt8(ascii: ",")
            return count + 1
        }
        try field(row.deviceID)
        try field(row.deviceName)
        try field(row.agriID)
        try field(row.factor)
        try field(row.unit)
        if buckets {
            try output.withReservedSpace(TextFormatting.maxIntegerLength) { TextFormatting.writeInteger(row.count, into: $0) }
            for value in row.aggregates {
                try output.withReservedSpace(TextFormatting.maxNumberLength + 1) { out in
                    out[0] = UInt8(ascii: ",")
                    return value.isFinite ? 1 + TextFormatting.writeNumber(value, into: out + 1) : 1
                }
            }
            try output.write("\r\n" as StaticString)
            return
        }
        try output.withReservedSpace(TextFormatting.maxNumberLength + 2) { out in
            let count = TextFormatting.writeNumber(row.value, into: out)
            out[count] = UInt8(ascii: "\r")
            out[count + 1] = UInt8(ascii: "\n")
            return count + 2
        }
    }

    /// Writes `text` (quoted if needed) followed by a comma.
    private func field(_ text: String) throws {
        var text = text
        try text.withUTF8 { bytes in
            var needsQuotes = false
            for byte in bytes where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == 13 || byte == 10 {
                needsQuotes = true
                break
            }
            if !needsQuotes {
                try output.write(bytes[...])
            } else {
                try output.writeByte(UInt8(ascii: "\""))
                var start = 0
                for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\"") {
                    try output.write(bytes[start ... index])  // the quote itself, then again
                    start = index
                }
                try output.write(bytes[start...])
                try output.writeByte(UInt8(ascii: "\""))
            }
        }
        try output.writeByte(UInt8(ascii: ","))
    }
}
