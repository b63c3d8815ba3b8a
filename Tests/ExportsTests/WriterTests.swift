import Foundation
import Testing
@testable import Exports

// MARK: Helpers

private func temporaryPath(_ suffix: String) -> String {
    "\(NSTemporaryDirectory())/exports-test-\(getpid())-\(UUID().uuidString).\(suffix)"
}

/// Runs `python3 -c script arguments…`; stdout and stderr together.
private func python(_ script: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private func row(_ t: Int64 = 1_706_781_600, device: String = "dev-1", name: String = "Greenhouse 1", agri: String = "agri-1",
                 factor: String = "temperature", unit: String = "℃", value: Double = 24.1) -> ExportRow {
    ExportRow(t: t, deviceID: device, deviceName: name, agriID: agri, factor: factor, unit: unit, value: value)
}

/// Writes `rows` with a writer built on a path-backed output and returns the file bytes and path.
private func export(_ rows: [ExportRow], make: (BufferedFileOutput) throws -> any ExportWriter) throws -> (bytes: [UInt8], path: String) {
    let path = temporaryPath("out")
    let writer = try make(BufferedFileOutput(path: path, capacity: 4096))  // a small buffer exercises flushing
    for row in rows { try writer.write(row) }
    try writer.finish()
    return (Array(try Data(contentsOf: URL(fileURLWithPath: path))), path)
}

private func formatted(_ value: Double) -> String {
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: TextFormatting.maxNumberLength)
    defer { out.deallocate() }
    return String(decoding: UnsafeBufferPointer(start: out, count: TextFormatting.writeNumber(value, into: out)), as: UTF8.self)
}

private func rfc3339(_ seconds: Int64) -> String {
    var clock = RFC3339Clock()
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: RFC3339Clock.maxLength)
    defer { out.deallocate() }
    return String(decoding: UnsafeBufferPointer(start: out, count: clock.write(seconds, into: out)), as: UTF8.self)
}

// MARK: CSV

@Suite struct CSVWriterTests {
    @Test func startsWithBOMAndHeaderAndUsesCRLF() throws {
        let (bytes, _) = try export([row()]) { try CSVExportWriter(output: $0) }
        #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF])
        let text = String(decoding: bytes.dropFirst(3), as: UTF8.self)
        #expect(text == "time,device_id,device_name,agri_id,factor,unit,value\r\n"
            + "2024-02-01T10:00:00Z,dev-1,Greenhouse 1,agri-1,temperature,℃,24.1\r\n")
    }

    @Test func quotesCommasQuotesAndLineBreaksAndKeepsChinese() throws {
        let rows = [row(name: "a,b", factor: "温度", value: 3), row(name: "say \"hi\"", factor: "", value: -0.5),
                    row(name: "two\nlines", unit: "cr\rhere", value: 1e-5), row(device: "\"", name: "\"\"", agri: "x\r\ny", value: 1e16)]
        let (bytes, path) = try export(rows) { try CSVExportWriter(output: $0) }
        let text = String(decoding: bytes.dropFirst(3), as: UTF8.self)
        #expect(text.contains(",\"a,b\",agri-1,温度,℃,3\r\n"))
        #expect(text.contains(",\"say \"\"hi\"\"\",agri-1,,℃,-0.5\r\n"))
        #expect(text.contains(",\"two\nlines\",agri-1,temperature,\"cr\rhere\",0.00001\r\n"))
        #expect(text.contains(",\"\"\"\",\"\"\"\"\"\",\"x\r\ny\",temperature,℃,10000000000000000\r\n"))
        // A strict RFC 4180 reader gets the original fields back.
        let script = """
        import csv, json, sys
        with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
            print(json.dumps(list(csv.reader(f, strict=True)), ensure_ascii=False))
        """
        let (status, output) = try python(script, [path])
        #expect(status == 0, "\(output)")
        let parsed = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String]]
        #expect(parsed?.count == 5)
        #expect(parsed?.first == ExportFormat.columns)
        for (index, original) in rows.enumerated() {
            let fields = parsed?[index + 1] ?? []
            #expect(fields == [rfc3339(original.t), original.deviceID, original.deviceName, original.agriID, original.factor,
                               original.unit, formatted(original.value)])
        }
    }

    @Test func numbersAreShortestRoundTripWithoutExponent() {
        #expect(formatted(24.1) == "24.1")
        #expect(formatted(3.0) == "3")
        #expect(formatted(-0.0) == "0")
        #expect(formatted(0.1 + 0.2) == "0.30000000000000004")
        #expect(formatted(1e-5) == "0.00001")
        #expect(formatted(-2.5e-7) == "-0.00000025")
        #expect(formatted(1234567.125) == "1234567.125")
        #expect(formatted(1e15) == "1000000000000000")
        #expect(formatted(1.2345678901234568e17) == "123456789012345680")
        #expect(formatted(1e21) == "1e+21")
        #expect(formatted(Double.leastNonzeroMagnitude) == "5e-324")
        #expect(formatted(-1.7976931348623157e308) == "-1.7976931348623157e+308")
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 20_000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite else { continue }
            let scaled = [value, Double(Int.random(in: -1_000_000 ... 1_000_000)) / 100, value.truncatingRemainder(dividingBy: 1e6)]
            for v in scaled {
                let text = formatted(v)
                #expect(Double(text) == v || (v == 0 && text == "0"), "\(v) → \(text)")
                #expect(text.count <= TextFormatting.maxNumberLength)
            }
        }
    }

    @Test func timesMatchFoundationIncludingLeapYearsAndEdges() {
        let foundation = ISO8601DateFormatter()
        foundation.timeZone = TimeZone(identifier: "UTC")
        foundation.formatOptions = [.withInternetDateTime]
        var samples: [Int64] = [0, -1, 59, 86_399, 86_400, 951_782_400 /* 2000-02-29 */, 1_709_164_800 /* 2024-02-29 */,
                                2_147_483_647, 2_147_483_648 /* 2038 */, 4_107_456_000, 4_107_542_399, 4_107_542_400 /* 2100 */,
                                4_102_444_799, 253_402_300_799 /* 9999-12-31T23:59:59Z */, -2_208_988_800 /* 1900 */]
        for _ in 0 ..< 20_000 { samples.append(Int64.random(in: -2_208_988_800 ... 4_200_000_000)) }
        for year in 1900 ... 2102 {  // days around the end of February of every year
            for day in 56 ... 62 { samples.append(Int64(year - 1970) * 31_556_952 + Int64(day) * 86_400 + Int64.random(in: 0 ..< 86_400)) }
        }
        var clock = RFC3339Clock()  // one clock for all, as a writer uses it (exercises the day cache)
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: RFC3339Clock.maxLength)
        defer { out.deallocate() }
        for seconds in samples + samples.sorted() {
            let ours = String(decoding: UnsafeBufferPointer(start: out, count: clock.write(seconds, into: out)), as: UTF8.self)
            #expect(ours == foundation.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))), "t=\(seconds)")
        }
        #expect(rfc3339(2_147_483_648) == "2038-01-19T03:14:08Z")
        #expect(rfc3339(4_107_542_400) == "2100-03-01T00:00:00Z")
        #expect(rfc3339(951_868_799) == "2000-02-29T23:59:59Z")
        #expect(rfc3339(-62_135_596_800) == "0001-01-01T00:00:00Z")
        #expect(rfc3339(253_402_300_800) == "10000-01-01T00:00:00Z")  // beyond RFC 3339, but no crash
        #expect(rfc3339(.max).hasSuffix("Z") && rfc3339(.min).hasPrefix("-"))
    }
}

// MARK: NDJSON

@Suite struct NDJSONWriterTests {
    @Test func linesParseBackAndEscapeControlCharacters() throws {
        let rows = [row(), row(-1, device: "d\"q\\", name: "ignored", agri: "tab\there\u{01}\u{1F}", factor: "温度", unit: "line\nbreak\r",
                              value: -0.001),
                    row(4_102_444_800, factor: "", unit: "", value: 123_456_789)]
        let (bytes, _) = try export(rows) { NDJSONExportWriter(output: $0) }
        #expect(!bytes.contains { $0 < 0x20 && $0 != 10 })
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == rows.count + 1 && lines.last == "")
        #expect(lines[0] == #"{"t":1706781600,"agri_id":"agri-1","factor":"temperature","unit":"℃","value":24.1,"device_id":"dev-1"}"#)
        #expect(lines[1].contains(#""agri_id":"tab\there\u0001\u001f""#))
        for (line, original) in zip(lines, rows) {
            let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
            let object = try #require(parsed as? [String: Any])
            #expect(Set(object.keys) == ["t", "agri_id", "factor", "unit", "value", "device_id"])
            #expect((object["t"] as? NSNumber)?.int64Value == original.t)
            #expect(object["agri_id"] as? String == original.agriID)
            #expect(object["factor"] as? String == original.factor)
            #expect(object["unit"] as? String == original.unit)
            #expect(object["device_id"] as? String == original.deviceID)
            #expect((object["value"] as? NSNumber)?.doubleValue == original.value)
        }
    }
}

@Suite struct BucketLayoutTests {
    static let rows = [
        ExportRow(t: 1_706_781_600, deviceID: "dev-1", deviceName: "G, 1", agriID: "a-01", factor: "temp", unit: "℃", count: 360,
                  aggregates: [21.25, .infinity, 30]),
        ExportRow(t: 1_706_785_200, deviceID: "dev-1", deviceName: "G, 1", agriID: "a-01", factor: "temp", unit: "℃", count: 2,
                  aggregates: [0.1, 0.2, 1e-7]),
    ]
    static let layout = ExportLayout.buckets(aggregates: ["avg", "sum", "max"])

    @Test func csvHasCountThenOneColumnPerAggregate() throws {
        let (bytes, _) = try export(Self.rows) { try CSVExportWriter(output: $0, layout: Self.layout) }
        #expect(String(decoding: bytes.dropFirst(3), as: UTF8.self) == "time,device_id,device_name,agri_id,factor,unit,count,avg,sum,max\r\n"
            + "2024-02-01T10:00:00Z,dev-1,\"G, 1\",a-01,temp,℃,360,21.25,,30\r\n"
            + "2024-02-01T11:00:00Z,dev-1,\"G, 1\",a-01,temp,℃,2,0.1,0.2,0.0000001\r\n")
    }

    @Test func ndjsonCarriesCountAndTheAggregatesByName() throws {
        let (bytes, _) = try export(Self.rows) { NDJSONExportWriter(output: $0, layout: Self.layout) }
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"t":1706781600,"agri_id":"a-01","factor":"temp","unit":"℃","device_id":"dev-1","count":360,"avg":21.25,"sum":null,"max":30}"# + "\n"
            + #"{"t":1706785200,"agri_id":"a-01","factor":"temp","unit":"℃","device_id":"dev-1","count":2,"avg":0.1,"sum":0.2,"max":0.0000001}"# + "\n")
    }
}

// MARK: ZIP

private let zipCheck = """
import sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for info in z.infolist():
    data = z.read(info)
    print(info.filename, info.compress_type, len(data), format(zlib.crc32(data), '08x'), info.date_time[0] >= 1980)
"""

@Suite struct ZIPWriterTests {
    @Test func crc32OfCheckString() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        var generator = SystemRandomNumberGenerator()
        for length in [1, 7, 8, 9, 15, 16, 17, 1000, 4099] {  // slicing-by-8 against the bitwise definition
            let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
            var reference: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                reference ^= UInt32(byte)
                for _ in 0 ..< 8 { reference = reference & 1 != 0 ? 0xEDB8_8320 ^ (reference >> 1) : reference >> 1 }
            }
            var split = CRC32()
            split.update(Array(bytes.prefix(length / 3)))
            split.update(Array(bytes.dropFirst(length / 3)))
            #expect(CRC32.checksum(bytes) == ~reference)
            #expect(split.value == ~reference)
        }
    }

    /// Entries chosen to stress the compressor: empty, tiny, long runs, random, repetitive text, mixed far matches.
    private func sampleEntries() -> [(String, [UInt8])] {
        var generator = SystemRandomNumberGenerator()
        let random = (0 ..< 200_000).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        let xml = Array((0 ..< 60_000).map { "<row r=\"\($0)\"><c><v>\(Double($0) / 7)</v></c></row>" }.joined().utf8)
        var mixed = [UInt8]()
        for i in 0 ..< 400 {
            mixed += random[(i * 97) % 150_000 ..< (i * 97) % 150_000 + Int.random(in: 1 ... 600)]
            mixed += xml[(i * 1013) % 100_000 ..< (i * 1013) % 100_000 + Int.random(in: 1 ... 3000)]
        }
        // Byte frequencies following Fibonacci numbers force Huffman codes past 15 bits unless limited.
        var fibonacci = [1, 1]
        while fibonacci.count < 25 { fibonacci.append(fibonacci[fibonacci.count - 1] + fibonacci[fibonacci.count - 2]) }
        let skewed = fibonacci.enumerated().flatMap { [UInt8](repeating: UInt8($0.offset * 9), count: $0.element) }.shuffled()
        return [("skewed.bin", skewed), ("empty.txt", []), ("one.txt", [65]), ("three.txt", Array("abc".utf8)),
                ("zeros.bin", [UInt8](repeating: 0, count: 3_000_000)), ("random.bin", random), ("dir/sheet.xml", xml),
                ("mixed.bin", mixed), ("名字.txt", Array("温度 ℃\n".utf8))]
    }

    private func checkArchive(compress: Bool, dataDescriptor: Bool) throws {
        let path = temporaryPath("zip")
        let output = try BufferedFileOutput(path: path, capacity: 8192)
        let archive = ZIPWriter(output: output, compress: compress, forceDataDescriptor: dataDescriptor)
        let entries = sampleEntries()
        for (name, data) in entries {
            try archive.beginEntry(name: name)
            var offset = 0
            while offset < data.count {  // uneven chunks
                let end = min(data.count, offset + Int.random(in: 1 ... 70_000))
                try archive.write(Array(data[offset ..< end]))
                offset = end
            }
            try archive.endEntry()
        }
        try archive.finish()
        try output.close()
        let (status, text) = try python(zipCheck, [path])
        #expect(status == 0, "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == entries.count)
        for (line, (name, data)) in zip(lines, entries) {
            let crc = String(CRC32.checksum(data), radix: 16)
            let expected = "\(name) \(compress ? 8 : 0) \(data.count) \(String(repeating: "0", count: 8 - crc.count) + crc) True"
            #expect(line == expected)
        }
        if compress {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            let total = entries.reduce(0) { $0 + $1.1.count }
            #expect(size < 210_000 + (total - 200_000) / 4, "\(size) of \(total)")  // random data stays as is; the rest shrinks
        }
    }

    @Test func huffmanCodeLengthsAreLimitedAndComplete() {
        var fibonacci = [1, 1]
        while fibonacci.count < 30 { fibonacci.append(fibonacci[fibonacci.count - 1] + fibonacci[fibonacci.count - 2]) }
        let cases: [([Int], Int)] = [(fibonacci, 15), (fibonacci + [Int](repeating: 0, count: 256), 15), (Array(fibonacci.prefix(19)), 7),
                                     ([5, 0], 15), ([0, 0, 9], 7), ([0, 0, 0], 15), ((0 ..< 286).map { _ in Int.random(in: 0 ... 1000) }, 15)]
        for (frequencies, limit) in cases {
            let lengths = Huffman.lengths(frequencies, limit: limit)
            #expect(lengths.allSatisfy { Int($0) <= limit })
            #expect(lengths.filter { $0 > 0 }.count >= 2)
            #expect(lengths.reduce(0) { $0 + ($1 == 0 ? 0 : 1 << (limit - Int($1))) } == 1 << limit)  // Kraft equality: complete
            for (symbol, frequency) in frequencies.enumerated() where frequency > 0 { #expect(lengths[symbol] > 0) }
        }
    }

    @Test func deflatedArchiveWithPatchedHeadersReadsBack() throws { try checkArchive(compress: true, dataDescriptor: false) }
    @Test func deflatedArchiveWithDataDescriptorsReadsBack() throws { try checkArchive(compress: true, dataDescriptor: true) }
    @Test func storedArchiveReadsBack() throws { try checkArchive(compress: false, dataDescriptor: false) }

    @Test func refusesMoreEntriesThanTheFormatAllows() throws {
        let path = temporaryPath("zip")
        let output = try BufferedFileOutput(path: path)
        let zip = ZIPWriter(output: output, compress: false)
        for i in 0 ..< ZIPWriter.maxEntries {
            try zip.beginEntry(name: "\(i)")
            try zip.endEntry()
        }
        #expect(throws: ZIPError.tooManyEntries) { try zip.beginEntry(name: "one too many") }
        try zip.finish()
        try output.close()
        let (status, text) = try python("import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).infolist()))", [path])
        #expect(status == 0 && text == "\(ZIPWriter.maxEntries)\n", "\(text)")
        #expect(ZIPError.entryTooLarge(name: "x").description.contains("4 GiB"))
    }

    @Test func reportsWriteErrorsWithErrnoText() throws {
        let output = try BufferedFileOutput(path: "/dev/full", capacity: 64)
        #expect(throws: ExportIOError.self) {
            for _ in 0 ..< 100 { try output.write("0123456789" as StaticString) }
            try output.flush()
        }
        do {
            try output.write([UInt8](repeating: 0, count: 100))
            Issue.record("expected ENOSPC")
        } catch let error as ExportIOError {
            #expect(error.code == ENOSPC)
            #expect(error.description == "write failed: No space left on device (errno \(ENOSPC))")
        }
        #expect(throws: ExportIOError.self) { _ = try BufferedFileOutput(path: "/nonexistent-dir/x.csv") }
    }

    @Test func aFailedWriterKeepsFailing() throws {
        for format in ExportFormat.allCases {
            let writer = try ExportFormat.makeWriter(format: format, path: "/dev/full")
            var failure: ExportIOError?
            for _ in 0 ..< 100_000 where failure == nil {
                do { try writer.write(row()) } catch let error as ExportIOError { failure = error }
            }
            #expect(failure?.code == ENOSPC, "\(format)")
            #expect(throws: ExportIOError(operation: "write", code: ENOSPC)) { try writer.finish() }
            #expect(throws: ExportIOError(operation: "write", code: ENOSPC)) { try writer.finish() }
            #expect(throws: ExportIOError(operation: "write", code: ENOSPC)) { try writer.write(row()) }
        }
    }
}

// MARK: XLSX

private struct Workbook: Decodable {
    struct Cell: Decodable {
        var s: String?
        var n: Double?
        var style: String?
    }

    struct Row: Decodable {
        var r: String?
        var cells: [Cell]
    }

    struct Sheet: Decodable {
        var name: String
        var target: String
        var contentType: String?
        var rows: [Row]
    }

    var parts: [String]
    var sheets: [Sheet]
    var styles: String?
    var workbook: String?
    var numberFormat: String?
}

private let xlsxCheck = """
import sys, json, zipfile, xml.etree.ElementTree as ET
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
M = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'
R = '{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id'
parts = sorted(z.namelist())
for name in parts:
    ET.fromstring(z.read(name))
workbook = ET.fromstring(z.read('xl/workbook.xml'))
rels = {r.get('Id'): r.get('Target') for r in ET.fromstring(z.read('xl/_rels/workbook.xml.rels'))}
types = ET.fromstring(z.read('[Content_Types].xml'))
overrides = {o.get('PartName'): o.get('ContentType') for o in types if o.tag.endswith('Override')}
styles = ET.fromstring(z.read('xl/styles.xml'))
formats = {f.get('numFmtId'): f.get('formatCode') for f in styles.iter(M + 'numFmt')}
xfs = list(styles.find(M + 'cellXfs'))
sheets = []
for sheet in workbook.find(M + 'sheets'):
    target = 'xl/' + rels[sheet.get(R)]
    rows = []
    for row in ET.fromstring(z.read(target)).find(M + 'sheetData'):
        cells = []
        for c in row:
            if c.get('t') == 'inlineStr':
                cells.append({'s': c.find(M + 'is').find(M + 't').text or '', 'style': c.get('s')})
            else:
                assert c.get('t') in (None, 'n')
                v = c.find(M + 'v')
                cells.append({'n': float(v.text) if v is not None else None, 'style': c.get('s')})
        rows.append({'r': row.get('r'), 'cells': cells})
    sheets.append({'name': sheet.get('name'), 'target': target, 'contentType': overrides.get('/' + target), 'rows': rows})
print(json.dumps({'parts': parts, 'sheets': sheets, 'styles': overrides.get('/xl/styles.xml'),
                  'workbook': overrides.get('/xl/workbook.xml'), 'numberFormat': formats.get(xfs[1].get('numFmtId'))}))
"""

private func readWorkbook(_ path: String) throws -> Workbook {
    let (status, output) = try python(xlsxCheck, [path])
    #expect(status == 0, "\(output)")
    return try JSONDecoder().decode(Workbook.self, from: Data(output.utf8))
}

private let sheetType = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

@Suite struct XLSXWriterTests {
    /// Bucket rows (aggregated exports): `count` and one numeric cell per aggregate; a non-finite one is an empty cell
    /// that keeps the next in its column.
    @Test func bucketRowsHaveCountAndAggregateColumns() throws {
        let layout = ExportLayout.buckets(aggregates: ["avg", "sum", "max"])
        let rows = [ExportRow(t: 1_706_781_600, deviceID: "dev-1", deviceName: "G", agriID: "a-01", factor: "temp", unit: "℃", count: 360,
                              aggregates: [21.25, .infinity, 30]),
                    ExportRow(t: 1_706_785_200, deviceID: "dev-1", deviceName: "G", agriID: "a-01", factor: "temp", unit: "℃", count: 1,
                              aggregates: [-0.5, -0.5, -0.5])]
        let (_, path) = try export(rows) { try XLSXExportWriter(output: $0, layout: layout) }
        let sheet = try #require(try readWorkbook(path).sheets.first)
        #expect(sheet.rows[0].cells.map(\.s) == ["time", "device_id", "device_name", "agri_id", "factor", "unit", "count", "avg", "sum", "max"])
        #expect(sheet.rows[1].cells[6...].map(\.n) == [360, 21.25, nil, 30])
        #expect(sheet.rows[2].cells[6...].map(\.n) == [1, -0.5, -0.5, -0.5])
    }

    @Test func workbookHasExactlyTheMinimalPartsAndTypedCells() throws {
        let rows = (0 ..< 25).map { i in row(1_706_781_600 + Int64(i) * 3_661, device: "dev-\(i % 3)", value: Double(i) * 1.5 - 3) }
        let (_, path) = try export(rows) { try XLSXExportWriter(output: $0) }
        let book = try readWorkbook(path)
        #expect(book.parts == ["[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/workbook.xml",
                               "xl/worksheets/sheet1.xml"])
        #expect(book.workbook == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
        #expect(book.styles == "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml")
        #expect(book.numberFormat == "yyyy-mm-dd hh:mm:ss")
        #expect(book.sheets.count == 1)
        let sheet = try #require(book.sheets.first)
        #expect(sheet.name == "data" && sheet.contentType == sheetType)
        #expect(sheet.rows.count == 26)
        #expect(sheet.rows[0].cells.map(\.s) == ExportFormat.columns)
        for (index, original) in rows.enumerated() {
            let cells = sheet.rows[index + 1].cells
            #expect(sheet.rows[index + 1].r == "\(index + 2)")
            #expect(cells.count == 7)
            let serial = try #require(cells[0].n)
            #expect(abs(serial - (Double(original.t) / 86_400 + 25_569)) < 1e-9)
            #expect(cells[0].style == "1")
            #expect(cells[1 ... 5].map(\.s) == [original.deviceID, original.deviceName, original.agriID, original.factor, original.unit])
            #expect(cells[6].n == original.value && cells[6].s == nil)
        }
    }

    @Test func rollsOverToNewSheetsWithHeaders() throws {
        let rows = (0 ..< 10).map { row(1_706_781_600 + Int64($0), value: Double($0)) }
        let (_, path) = try export(rows) { try XLSXExportWriter(output: $0, rowsPerSheet: 3) }
        let book = try readWorkbook(path)
        #expect(book.sheets.map(\.name) == ["data", "data 2", "data 3", "data 4"])
        #expect(book.sheets.map(\.target) == (1 ... 4).map { "xl/worksheets/sheet\($0).xml" })
        #expect(book.sheets.allSatisfy { $0.contentType == sheetType })
        #expect(book.sheets.map(\.rows.count) == [4, 4, 4, 2])
        #expect(book.sheets.allSatisfy { $0.rows[0].cells.map(\.s) == ExportFormat.columns })
        #expect(book.sheets.flatMap { $0.rows.dropFirst().map { $0.cells[6].n ?? -1 } } == (0 ..< 10).map(Double.init))
        #expect(book.parts.count == 5 + 4)
    }

    @Test func emptyExportIsAValidWorkbookWithAHeader() throws {
        let (_, path) = try export([]) { try XLSXExportWriter(output: $0) }
        let book = try readWorkbook(path)
        #expect(book.sheets.count == 1 && book.sheets[0].rows.count == 1)
    }

    @Test func escapesMarkupAndDropsCharactersIllegalInXML() throws {
        let rows = [row(device: "a&b<c>d\"e'f", name: "bell\u{07}nul\u{0}tab\tnl\nok", agri: " padded ", factor: "_x0041_ and _x12_",
                         unit: "\u{FFFE}温度\u{FFFF}\r")]
        let (_, path) = try export(rows) { try XLSXExportWriter(output: $0) }
        let cells = try readWorkbook(path).sheets[0].rows[1].cells
        #expect(cells[1].s == "a&b<c>d\"e'f")
        #expect(cells[2].s == "bellnultab\tnl\nok")
        #expect(cells[3].s == " padded ")
        #expect(cells[4].s == "_x005F_x0041_ and _x12_")
        #expect(cells[5].s == "温度\r")
    }

    @Test func longCellsAreCutAtExcelsLimit() throws {
        let long = String(repeating: "温", count: 40_000)
        let (_, path) = try export([row(name: long)]) { try XLSXExportWriter(output: $0) }
        #expect(try readWorkbook(path).sheets[0].rows[1].cells[2].s?.count == 32_767)
    }

    @Test func streamsToAPipe() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let path = temporaryPath("xlsx")
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let done = DispatchSemaphore(value: 0)
        let copier = Thread {
            let out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                _ = buffer.withUnsafeBytes { write(out, $0.baseAddress, n) }
            }
            close(out)
            close(readEnd)
            done.signal()
        }
        copier.start()
        let writer = try ExportFormat.makeWriter(format: .xlsx, fileDescriptor: writeEnd)
        for i in 0 ..< 5_000 { try writer.write(row(1_706_781_600 + Int64(i), value: Double(i) / 4)) }
        try writer.finish()
        close(writeEnd)
        done.wait()
        let book = try readWorkbook(path)
        #expect(book.sheets[0].rows.count == 5_001)
    }
}

// MARK: Factory

@Suite struct ExportFormatTests {
    @Test func describesFormatsAndWritesThroughPaths() throws {
        #expect(ExportFormat.csv.contentType == "text/csv; charset=utf-8")
        #expect(ExportFormat.xlsx.contentType == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        #expect(ExportFormat.ndjson.contentType == "application/x-ndjson")
        #expect(ExportFormat.allCases.map(\.fileExtension) == ["csv", "xlsx", "ndjson"])
        for format in ExportFormat.allCases {
            let path = temporaryPath(format.fileExtension)
            let writer = try ExportFormat.makeWriter(format: format, path: path)
            try writer.write(row())
            try writer.finish()
            try writer.finish()  // idempotent
            #expect(throws: ExportIOError.self) { try writer.write(row()) }
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            #expect(size > 50)
        }
    }
}

// MARK: Signer

@Suite struct DownloadSignerTests {
    let signer = DownloadSigner(secret: Array("0123456789abcdef0123456789abcdef".utf8))

    @Test func roundTripsAndExpires() {
        let token = signer.token(taskID: 42, expiresAt: 1_000)
        #expect(signer.verify(token, now: 999) == .valid(taskID: 42))
        #expect(signer.verify(token, now: 1_000) == .expired)
        #expect(signer.verify(token, now: 5_000) == .expired)
        for (id, expiry) in [(Int64.max, Int64.max), (Int64.min, Int64.max), (0, 1)] {
            #expect(signer.verify(signer.token(taskID: id, expiresAt: expiry), now: 0) == .valid(taskID: id))
        }
        #expect(!token.contains("=") && !token.contains("+") && !token.contains("/"))
    }

    @Test func rejectsTamperingAndOtherSecrets() {
        let token = signer.token(taskID: 42, expiresAt: 2_000_000_000)
        let parts = token.split(separator: ".").map(String.init)
        #expect(parts.count == 2)
        let forgedPayload = Base64URL.encode(Array("43.2000000000".utf8)) + "." + parts[1]
        #expect(signer.verify(forgedPayload, now: 0) == .invalid)
        let longerExpiry = Base64URL.encode(Array("42.4000000000".utf8)) + "." + parts[1]
        #expect(signer.verify(longerExpiry, now: 0) == .invalid)
        var signature = Array(parts[1].utf8)
        signature[5] = signature[5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(signer.verify(parts[0] + "." + String(decoding: signature, as: UTF8.self), now: 0) == .invalid)
        // Non-canonical base64: changing the unused low bits of the last character.
        var last = Array(parts[1].utf8)
        last[last.count - 1] ^= 1
        #expect(signer.verify(parts[0] + "." + String(decoding: last, as: UTF8.self), now: 0) == .invalid)
        let other = DownloadSigner(secret: Array("another secret".utf8))
        #expect(other.verify(token, now: 0) == .invalid)
        // Expired-but-forged tokens are invalid, not expired.
        #expect(signer.verify(Base64URL.encode(Array("42.1".utf8)) + "." + parts[1], now: 5) == .invalid)
    }

    @Test func garbageIsInvalidNeverACrash() {
        let token = signer.token(taskID: 7, expiresAt: 99)
        let garbage = ["", ".", "..", "a.b", "a.b.c", token + ".", "." + token, token + "x", token + "==", " " + token, "温度.温度",
                       String(repeating: "A", count: 100_000), String(repeating: ".", count: 1000), "\u{0}.\u{0}",
                       Base64URL.encode(Array("99999999999999999999999.1".utf8)) + "." + token.split(separator: ".")[1],
                       Base64URL.encode([]) + "." + Base64URL.encode([UInt8](repeating: 0, count: 32))]
        for text in garbage { #expect(signer.verify(text, now: 0) == .invalid, "\(text.prefix(40))") }
        let alphabet = Array("AZaz09-_.=+/ \u{0}é".unicodeScalars)
        for _ in 0 ..< 20_000 {
            var text = String.UnicodeScalarView()
            for _ in 0 ..< Int.random(in: 0 ... 120) { text.append(alphabet.randomElement()!) }
            #expect(signer.verify(String(text), now: 0) == .invalid)
        }
    }

    @Test func base64URLMatchesFoundation() {
        for length in 0 ..< 70 {
            let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255) }
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(Array(expected.utf8)[...]) == bytes)
        }
    }
}
