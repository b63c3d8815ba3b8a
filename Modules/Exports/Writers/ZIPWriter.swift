import Glibc

/// Why a ZIP archive could not be written. The writer has no ZIP64 support, so every size and offset must stay below 4 GiB.
public enum ZIPError: Error, CustomStringConvertible, Equatable {
    /// More than `ZIPWriter.maxEntries` entries.
    case tooManyEntries
    /// An entry's data reached 4 GiB (compressed or not).
    case entryTooLarge(name: String)
    /// The archive reached 4 GiB, so an offset no longer fits.
    case archiveTooLarge

    public var description: String {
        switch self {
        case .tooManyEntries: "ZIP archive exceeds \(ZIPWriter.maxEntries) entries (ZIP64 is not supported)"
        case let .entryTooLarge(name): "ZIP entry \(name) exceeds 4 GiB (ZIP64 is not supported)"
        case .archiveTooLarge: "ZIP archive exceeds 4 GiB (ZIP64 is not supported)"
        }
    }
}

/// A streaming ZIP writer (PKWARE APPNOTE): entries are written one after another, each DEFLATE-compressed (or stored),
/// with CRC-32 and sizes computed on the fly, then the central directory at `finish()`.
///
/// On a seekable descriptor the local header is patched with the CRC and sizes after each entry; otherwise (pipes, sockets)
/// the entry uses general purpose bit 3 and a data descriptor. Names are UTF-8 (bit 11). Timestamps are the local time at
/// creation. Limits without ZIP64: at most 65 534 entries (0xFFFF marks ZIP64) and every size and offset below 4 GiB
/// (0xFFFFFFFF marks ZIP64); exceeding one throws `ZIPError`.
final class ZIPWriter {
    static let maxEntries = 65_534
    static let maxSize: Int64 = 0xFFFF_FFFE

    private struct Entry {
        var name: [UInt8]
        var flags: UInt16
        var method: UInt16
        var crc: UInt32 = 0
        var compressedSize: UInt32 = 0
        var size: UInt32 = 0
        var offset: UInt32
    }

    private let output: BufferedFileOutput
    private let compress: Bool
    private let useDataDescriptor: Bool
    private let dosTime: UInt16, dosDate: UInt16
    private var entries: [Entry] = []
    private var current: (entry: Entry, name: String, dataStart: Int64, crc: CRC32, size: Int64, deflate: DeflateEncoder?)?
    private var finished = false

    /// - Parameters:
    ///   - compress: DEFLATE (method 8) when true, stored (method 0) otherwise.
    ///   - forceDataDescriptor: use data descriptors even on a seekable output (for tests).
    init(output: BufferedFileOutput, compress: Bool = true, date: time_t = time(nil), forceDataDescriptor: Bool = false) {
        self.output = output
        self.compress = compress
        useDataDescriptor = forceDataDescriptor || !output.isSeekable
        var seconds = date, parts = tm()
        localtime_r(&seconds, &parts)
        if parts.tm_year < 80 {
            (dosTime, dosDate) = (0, 1 << 5 | 1)  // 1980-01-01, the earliest DOS date
        } else {
            dosTime = UInt16(parts.tm_hour << 11 | parts.tm_min << 5 | parts.tm_sec / 2)
            dosDate = UInt16(min(parts.tm_year - 80, 127) << 9 | (parts.tm_mon + 1) << 5 | parts.tm_mday)
        }
    }

    /// Starts an entry; the previous one must have been ended.
    func beginEntry(name: String) throws {
        precondition(current == nil && !finished, "ZIPWriter: endEntry() missing or already finished")
        guard entries.count < Self.maxEntries else { throw ZIPError.tooManyEntries }
        let offset = output.position
        guard offset <= Self.maxSize else { throw ZIPError.archiveTooLarge }
        precondition(name.utf8.count <= 0xFFFF, "ZIP entry names are limited to 65 535 bytes")
        let flags: UInt16 = 1 << 11 | (useDataDescriptor ? 1 << 3 : 0)
        let entry = Entry(name: Array(name.utf8), flags: flags, method: compress ? 8 : 0, offset: UInt32(offset))
        var header = LittleEndianBytes()
        header.u32(0x0403_4B50)
        header.u16(20)  // version needed: 2.0 (DEFLATE)
        header.u16(entry.flags)
        header.u16(entry.method)
        header.u16(dosTime)
        header.u16(dosDate)
        header.u32(0)  // CRC-32, compressed and uncompressed size: patched or in the data descriptor
        header.u32(0)
        header.u32(0)
        header.u16(UInt16(entry.name.count))
        header.u16(0)
        header.bytes += entry.name
        try output.write(header.bytes)
        current = (entry, name, output.position, CRC32(), 0, compress ? DeflateEncoder(output: output) : nil)
    }

    /// Appends data to the open entry.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(current != nil, "ZIPWriter: write outside an entry")
        current!.crc.update(bytes)
        current!.size += Int64(bytes.count)
        if let deflate = current!.deflate { try deflate.write(bytes) } else { try output.write(bytes) }
        if current!.size > Self.maxSize || output.position - current!.dataStart > Self.maxSize {
            throw ZIPError.entryTooLarge(name: current!.name)
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    /// Ends the open entry: flushes the compressor and records CRC-32 and sizes.
    func endEntry() throws {
        precondition(current != nil, "ZIPWriter: endEntry() without beginEntry()")
        guard let (openEntry, name, dataStart, crc, size, deflate) = current else { return }
        current = nil
        var entry = openEntry
        try deflate?.finish()
        let compressedSize = output.position - dataStart
        guard size <= Self.maxSize && compressedSize <= Self.maxSize else { throw ZIPError.entryTooLarge(name: name) }
        entry.crc = crc.value
        entry.size = UInt32(size)
        entry.compressedSize = UInt32(compressedSize)
        var fields = LittleEndianBytes()
        if useDataDescriptor { fields.u32(0x0807_4B50) }
        fields.u32(entry.crc)
        fields.u32(entry.compressedSize)
        fields.u32(entry.size)
        if useDataDescriptor {
            try output.write(fields.bytes)
        } else {
            try output.pwrite(fields.bytes, at: Int64(entry.offset) + 14)
        }
        entries.append(entry)
    }

    /// Writes the central directory and the end record, then flushes. Does not sync or close the output.
    func finish() throws {
        precondition(current == nil && !finished, "ZIPWriter: endEntry() missing or already finished")
        finished = true
        let directoryOffset = output.position
        guard directoryOffset <= Self.maxSize else { throw ZIPError.archiveTooLarge }
        for entry in entries {
            var record = LittleEndianBytes()
            record.u32(0x0201_4B50)
            record.u16(3 << 8 | 20)  // made by: Unix, 2.0
            record.u16(20)
            record.u16(entry.flags)
            record.u16(entry.method)
            record.u16(dosTime)
            record.u16(dosDate)
            record.u32(entry.crc)
            record.u32(entry.compressedSize)
            record.u32(entry.size)
            record.u16(UInt16(entry.name.count))
            record.u16(0)  // extra field length
            record.u16(0)  // comment length
            record.u16(0)  // disk number
            record.u16(0)  // internal attributes
            record.u32(0o100644 << 16)  // external attributes: regular file, rw-r--r--
            record.u32(entry.offset)
            record.bytes += entry.name
            try output.write(record.bytes)
        }
        let directorySize = output.position - directoryOffset
        guard output.position <= Self.maxSize else { throw ZIPError.archiveTooLarge }
        var end = LittleEndianBytes()
        end.u32(0x0605_4B50)
        end.u16(0)
        end.u16(0)
        end.u16(UInt16(entries.count))
        end.u16(UInt16(entries.count))
        end.u32(UInt32(directorySize))
        end.u32(UInt32(directoryOffset))
        end.u16(0)
        try output.write(end.bytes)
        try output.flush()
    }
}

/// Little-endian field packing for ZIP headers.
private struct LittleEndianBytes {
    var bytes: [UInt8] = []

    mutating func u16(_ value: UInt16) {
        bytes += [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)]
    }

    mutating func u32(_ value: UInt32) {
        u16(UInt16(truncatingIfNeeded: value))
        u16(UInt16(truncatingIfNeeded: value >> 16))
    }
}
