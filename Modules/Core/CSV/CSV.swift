import Foundation

/// RFC 4180 CSV: a reader (quoted fields, doubled quotes, CRLF or LF, quoted newlines) and a writer.
public enum CSV {
    /// A malformed CSV document, with the 1-based line where it went wrong.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses a whole document into rows of fields. A trailing newline does not add an empty row.
    public static func parse(_ text: String) throws(ParseError) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var line = 1
        var inQuotes = false
        var fieldWasQuoted = false
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }   // UTF-8 BOM from spreadsheets
        var index = 0
        func endField() {
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
        }
        while index < bytes.count {
            let byte = bytes[index]
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 2
                        continue
                    }
                    inQuotes = false
                } else {
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                guard field.isEmpty, !fieldWasQuoted else { throw ParseError(line: line, message: "quote inside an unquoted field") }
                inQuotes = true
                fieldWasQuoted = true
            case UInt8(ascii: ","):
                endField()
            case 0x0D where index + 1 < bytes.count && bytes[index + 1] == 0x0A:
                break
            case 0x0A, 0x0D:
                endField()
                rows.append(row)
                row = []
                line += 1
            default:
                if fieldWasQuoted { throw ParseError(line: line, message: "text after a closing quote") }
                field.append(byte)
            }
            index += 1
        }
        if inQuotes { throw ParseError(line: line, message: "unterminated quoted field") }
        if !field.isEmpty || !row.isEmpty || fieldWasQuoted {
            endField()
            rows.append(row)
        }
        return rows
    }

    /// One CSV line (with CRLF), quoting fields that need it.
    public static func line(_ fields: [String]) -> String {
        fields.map(escape).joined(separator: ",") + "\r\n"
    }

    /// A field that starts with U+FEFF is quoted too: at the start of a document the reader would drop it as a
    /// byte order mark (found by fuzzing, Tests/Fuzz/csv).
    public static func escape(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D })
            || field.utf8.starts(with: [0xEF, 0xBB, 0xBF]) else {
            return field
        }
        // Quotes are doubled scalar by scalar: `replacingOccurrences` compares characters, and a quote followed by a
        // combining mark is another character, so it stayed single and the line did not parse (found by fuzzing).
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in field.unicodeScalars {
            if scalar == "\"" { quoted.append("\"") }
            quoted.append(scalar)
        }
        quoted.append("\"")
        return String(quoted)
    }
}
