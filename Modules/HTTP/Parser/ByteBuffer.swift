/// A growable byte buffer with a read cursor: the parser consumes from the front, the connection appends
/// at the back. Consumed bytes are dropped lazily (`compact`).
public struct ByteBuffer: Sendable {
    public private(set) var storage: [UInt8] = []
    public private(set) var readerIndex = 0

    public init() {}
    public init(_ bytes: [UInt8]) { storage = bytes }
    public init(_ text: String) { storage = Array(text.utf8) }

    /// Bytes not yet consumed.
    public var readableCount: Int { storage.count - readerIndex }
    public var isEmpty: Bool { readableCount == 0 }

    /// The unconsumed bytes.
    public var readableBytes: ArraySlice<UInt8> { storage[readerIndex...] }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }

    public mutating func append(_ raw: UnsafeRawBufferPointer) {
        compactIfWorthIt()
        storage.append(contentsOf: raw)
    }

    /// Consumes `count` bytes.
    public mutating func moveReader(by count: Int) {
        precondition(count <= readableCount)
        readerIndex += count
        if readerIndex == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 65_536)
            readerIndex = 0
        }
    }

    /// Consumes and returns `count` bytes.
    public mutating func read(_ count: Int) -> [UInt8] {
        let bytes = Array(storage[readerIndex..<(readerIndex + count)])
        moveReader(by: count)
        return bytes
    }

    public subscript(offset: Int) -> UInt8 { storage[readerIndex + offset] }

    private mutating func compactIfWorthIt() {
        if readerIndex > 0, readerIndex >= storage.count / 2 {
            storage.removeFirst(readerIndex)
            readerIndex = 0
        }
    }
}
