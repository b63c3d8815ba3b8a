/// A minimal Office Open XML workbook streamed into a ZIP archive (DEFLATE-compressed).
///
/// Parts: `[Content_Types].xml`, `_rels/.rels`, `xl/workbook.xml`, `xl/_rels/workbook.xml.rels`, `xl/styles.xml` and one
/// `xl/worksheets/sheetN.xml` per sheet. Every sheet starts with a bold, frozen header row; after `rowsPerSheet` data rows
/// (default 1 048 575, Excel's maximum below the header) a new sheet begins, named `data`, `data 2`, `data 3`, ….
/// `time` is an Excel date serial in UTC (days since 1899-12-30) with the number format `yyyy-mm-dd hh:mm:ss`, `value` a
/// numeric cell, everything else an inline string (`t="inlineStr"`). Text is XML-escaped, characters not allowed in XML 1.0
/// are dropped, literal `_xHHHH_` sequences are protected as `_x005F_xHHHH_` and cells are cut at Excel's 32 767 characters.
/// The workbook parts listing the sheets are written at `finish()`; ZIP limits apply (see `ZIPWriter`). Bucket rows
/// end in `count` and the aggregates as numeric cells (a non-finite aggregate is an empty cell).
final class XLSXExportWriter: ExportWriter {
    static let maxRowsPerSheet = 1_048_575

    private let output: BufferedFileOutput
    private let buckets: Bool
    private let sheetStart: String
    private let zip: ZIPWriter
    private let rowsPerSheet: Int
    private let staging: StagingBuffer
    private var sheetCount = 0
    private var rowsInSheet = 0
    private var sheetOpen = false
    private var lifecycle = WriterLifecycle()

    /// - Parameters:
    ///   - rowsPerSheet: data rows per sheet before rolling over (tests use small numbers).
    ///   - compress: DEFLATE the parts; stored entries otherwise.
    init(output: BufferedFileOutput, layout: ExportLayout = .points, rowsPerSheet: Int = XLSXExportWriter.maxRowsPerSheet, compress: Bool = true,
         forceDataDescriptor: Bool = false) throws {
        precondition(rowsPerSheet > 0 && rowsPerSheet <= Self.maxRowsPerSheet)
        self.output = output
        buckets = layout.isBuckets
        sheetStart = Self.sheetStart(columns: layout.columns)
        self.rowsPerSheet = rowsPerSheet
        zip = ZIPWriter(output: output, compress: compress, forceDataDescriptor: forceDataDescriptor)
        staging = StagingBuffer(zip: zip)
        try part("xl/styles.xml", Self.styles)
    }

    func write(_ row: ExportRow) throws {
        try lifecycle.write { try writeRow(row) }
    }

    func finish() throws {
        try lifecycle.finish { try finishWorkbook() }
    }

    private func writeRow(_ row: ExportRow) throws {
        if !sheetOpen || rowsInSheet == rowsPerSheet {
            try closeSheet()
            try openSheet()
        }
        rowsInSheet += 1
        try staging.reserve(100) { out in
            var n = Self.copy("<row r=\"", to: out)
            n += TextFormatting.writeInteger(Int64(rowsInSheet + 1), into: out + n)
            n += Self.copy("\"><c s=\"1\"><v>", to: out + n)
            let (day, second) = RFC3339Clock.split(row.t)
            let serial = Double(day + 25_569) + Double(second) / 86_400
            n += TextFormatting.writeNumber(serial, into: out + n)
            n += Self.copy("</v></c>", to: out + n)
            return n
        }
        try textCell(row.deviceID)
        try textCell(row.deviceName)
        try textCell(row.agriID)
        try textCell(row.factor)
        try textCell(row.unit)
        if buckets {
            try staging.reserve(60) { out in
                var n = Self.copy("<c><v>", to: out)
                n += TextFormatting.writeInteger(row.count, into: out + n)
                return n + Self.copy("</v></c>", to: out + n)
            }
            for value in row.aggregates {
                // Cells carry no reference: an empty one keeps the next in its column.
                guard value.isFinite else {
                    try staging.append("<c/>" as StaticString)
                    continue
                }
                try staging.reserve(60) { out in
                    var n = Self.copy("<c><v>", to: out)
                    n += TextFormatting.writeNumber(value, into: out + n)
                    return n + Self.copy("</v></c>", to: out + n)
                }
            }
            try staging.append("</row>" as StaticString)
            if staging.count >= StagingBuffer.drainThreshold { try staging.drain() }
            return
        }
        try staging.reserve(60) { out in
            var n = Self.copy("<c><v>", to: out)
            n += TextFormatting.writeNumber(row.value, into: out + n)
            n += Self.copy("</v></c></row>", to: out + n)
            return n
        }
        if staging.count >= StagingBuffer.drainThreshold { try staging.drain() }
    }

    private func finishWorkbook() throws {
        if sheetCount == 0 { try openSheet() }
        try closeSheet()
        let sheets = 1 ... sheetCount
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        let package = "http://schemas.openxmlformats.org/package/2006/relationships"
        let office = "application/vnd.openxmlformats-officedocument"
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        try part("xl/workbook.xml", xml + "<workbook xmlns=\"\(main)\" xmlns:r=\"\(relationships)\"><sheets>"
            + sheets.map { "<sheet name=\"\($0 == 1 ? "data" : "data \($0)")\" sheetId=\"\($0)\" r:id=\"rId\($0)\"/>" }.joined()
            + "</sheets></workbook>")
        try part("xl/_rels/workbook.xml.rels", xml + "<Relationships xmlns=\"\(package)\">"
            + sheets.map { "<Relationship Id=\"rId\($0)\" Type=\"\(relationships)/worksheet\" Target=\"worksheets/sheet\($0).xml\"/>" }
            .joined()
            + "<Relationship Id=\"rId\(sheetCount + 1)\" Type=\"\(relationships)/styles\" Target=\"styles.xml\"/></Relationships>")
        try part("[Content_Types].xml", xml + "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
            + "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
            + "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
            + "<Override PartName=\"/xl/workbook.xml\" ContentType=\"\(office).spreadsheetml.sheet.main+xml\"/>"
            + "<Override PartName=\"/xl/styles.xml\" ContentType=\"\(office).spreadsheetml.styles+xml\"/>"
            + sheets.map { "<Override PartName=\"/xl/worksheets/sheet\($0).xml\" ContentType=\"\(office).spreadsheetml.worksheet+xml\"/>" }
            .joined()
            + "</Types>")
        try part("_rels/.rels", xml + "<Relationships xmlns=\"\(package)\"><Relationship Id=\"rId1\" "
            + "Type=\"\(relationships)/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>")
        try zip.finish()
        try output.sync()
        try output.close()
    }

    // MARK: Sheets

    private func openSheet() throws {
        sheetCount += 1
        rowsInSheet = 0
        sheetOpen = true
        try zip.beginEntry(name: "xl/worksheets/sheet\(sheetCount).xml")
        try staging.append(sheetStart)
    }

    private func closeSheet() throws {
        guard sheetOpen else { return }
        sheetOpen = false
        try staging.append("</sheetData></worksheet>")
        try staging.drain()
        try zip.endEntry()
    }

    private func part(_ name: String, _ text: String) throws {
        try zip.beginEntry(name: name)
        try zip.write(text)
        try zip.endEntry()
    }

    // MARK: Cells

    @inline(__always) private static func copy(_ text: StaticString, to out: UnsafeMutablePointer<UInt8>) -> Int {
        out.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        return text.utf8CodeUnitCount
    }

    /// An inline string cell.
    private func textCell(_ text: String) throws {
        // Only texts over 32 767 UTF-8 bytes can exceed 32 767 UTF-16 units.
        var text = text.utf8.count > 32_767 ? Self.truncated(text) : text
        try text.withUTF8 { bytes in
            if let first = bytes.first, let last = bytes.last, Self.isXMLSpace(first) || Self.isXMLSpace(last) {
                try staging.append("<c t=\"inlineStr\"><is><t xml:space=\"preserve\">")
            } else {
                try staging.append("<c t=\"inlineStr\"><is><t>")
            }
            try escape(bytes)
            try staging.append("</t></is></c>")
        }
    }

    private static func isXMLSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 10 || byte == 13 }

    /// Cuts `text` to at most 32 767 UTF-16 units without splitting a character's scalar.
    private static func truncated(_ text: String) -> String {
        var units = 0
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            units += scalar.utf16.count
            if units > 32_767 { break }
            result.append(scalar)
        }
        return String(result)
    }

    /// Appends XML-escaped text: runs of ordinary bytes are copied, the rest handled one at a time.
    private func escape(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        var start = 0, index = 0
        while index < bytes.count {
            let byte = bytes[index]
            // Bytes that may need attention: controls, & < > ", `_` (for _xHHHH_), 0xEF (lead byte of U+FFFE/U+FFFF).
            guard byte < 0x20 || byte == 0x26 || byte == 0x3C || byte == 0x3E || byte == 0x22 || byte == 0x5F || byte == 0xEF else {
                index += 1
                continue
            }
            try staging.append(UnsafeBufferPointer(rebasing: bytes[start ..< index]))
            var consumed = 1
            switch byte {
            case 0x26: try staging.append("&amp;")
            case 0x3C: try staging.append("&lt;")
            case 0x3E: try staging.append("&gt;")
            case 0x22: try staging.append("&quot;")
            case 9, 10: try staging.append(UnsafeBufferPointer(rebasing: bytes[index ... index]))
            case 13: try staging.append("&#13;")  // a literal CR would be normalized to LF by XML parsers
            case 0x5F:
                if Self.isExcelEscape(bytes, at: index) { try staging.append("_x005F") }
                try staging.append("_")
            case 0xEF:
                if index + 2 < bytes.count && bytes[index + 1] == 0xBF && (bytes[index + 2] == 0xBE || bytes[index + 2] == 0xBF) {
                    consumed = 3  // U+FFFE / U+FFFF are not XML characters: drop
                } else {
                    try staging.append(UnsafeBufferPointer(rebasing: bytes[index ... index]))
                }
            default: break  // other C0 controls are not XML 1.0 characters: drop
            }
            index += consumed
            start = index
        }
        try staging.append(UnsafeBufferPointer(rebasing: bytes[start ..< bytes.count]))
    }

    /// Whether `_xHHHH_` starts at `index`: Excel would decode it as a character escape.
    private static func isExcelEscape(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        guard index + 6 < bytes.count, bytes[index + 1] == UInt8(ascii: "x"), bytes[index + 6] == UInt8(ascii: "_") else { return false }
        for i in index + 2 ... index + 5 {
            let b = bytes[i]
            guard (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66) else { return false }
        }
        return true
    }

    // MARK: Fixed parts

    /// A sheet's opening: frozen header row of `columns` (time wide, text columns medium, numbers narrow).
    private static func sheetStart(columns: [String]) -> String { "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        + "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
        + "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
        + "<sheetViews><sheetView workbookViewId=\"0\"><pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>"
        + "</sheetView></sheetViews>"
        + "<cols><col min=\"1\" max=\"1\" width=\"20\" customWidth=\"1\"/><col min=\"2\" max=\"6\" width=\"16\" customWidth=\"1\"/>"
        + "<col min=\"7\" max=\"\(columns.count)\" width=\"12\" customWidth=\"1\"/></cols><sheetData><row r=\"1\">"
        + columns.map { "<c t=\"inlineStr\" s=\"2\"><is><t>\($0)</t></is></c>" }.joined()
        + "</row>"
    }

    /// Style 1: date-time number format 164; style 2: bold header.
    private static let styles = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        + "<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
        + "<numFmts count=\"1\"><numFmt numFmtId=\"164\" formatCode=\"yyyy-mm-dd hh:mm:ss\"/></numFmts>"
        + "<fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font><font><b/><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>"
        + "<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill></fills>"
        + "<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"
        + "<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>"
        + "<cellXfs count=\"3\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>"
        + "<xf numFmtId=\"164\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>"
        + "<xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/></cellXfs>"
        + "<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles></styleSheet>"
}

/// Worksheet XML collects here and goes to the open ZIP entry in chunks of about 64 KiB.
private final class StagingBuffer {
    static let capacity = 80 * 1024
    static let drainThreshold = 64 * 1024

    private let zip: ZIPWriter
    private let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: StagingBuffer.capacity)
    private(set) var count = 0

    init(zip: ZIPWriter) {
        self.zip = zip
    }

    deinit { buffer.deallocate() }

    /// Hands out room for up to `maxCount` (≤ 16 KiB) bytes; `body` returns how many it used.
    @inline(__always) func reserve(_ maxCount: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) throws {
        if Self.capacity - count < maxCount { try drain() }
        count += body(buffer + count)
    }

    @inline(__always) func append(_ text: StaticString) throws {
        try append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func append(_ text: String) throws {
        var text = text
        try text.withUTF8 { try append($0) }
    }

    @inline(__always) func append(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if Self.capacity - count < bytes.count {
            try drain()
            if bytes.count > Self.capacity {
                try zip.write(UnsafeRawBufferPointer(bytes))
                return
            }
        }
        (buffer + count).update(from: base, count: bytes.count)
        count += bytes.count
    }

    /// Writes the collected bytes to the ZIP entry.
    func drain() throws {
        guard count > 0 else { return }
        try zip.write(UnsafeRawBufferPointer(start: buffer, count: count))
        count = 0
    }
}
