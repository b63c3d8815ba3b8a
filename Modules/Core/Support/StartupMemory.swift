#if canImport(Glibc)
import Glibc
#endif

/// Gives back the memory a long-running process touched only while starting (migrations, configuration,
/// bootstrap, the Swift runtime's first conformance scans), once it is up:
///
/// - the heap's free pages (`malloc_trim(0)`: the top of each arena and whole free pages inside them);
/// - the pages of read-only, private file mappings (code and constants of the binary and its shared libraries)
///   that hold no private copy: `madvise(MADV_DONTNEED)` only unmaps them. Their content is the file's, still
///   in the page cache, so the next access maps the same bytes again (a minor fault); nothing is lost. What the
///   server keeps using comes back on its first requests, and what only startup used stops counting in RSS.
///
/// Writable mappings, shared ones, anonymous memory, and file mappings with any private (copy-on-write) page —
/// relocated data made read-only afterwards (RELRO) — are never touched: dropping those would lose data.
///
/// ```swift
/// let port = try server.start()
/// let released = StartupMemory.release()   // (dropped: bytes unmapped, trimmed: heap given back)
/// ```
public enum StartupMemory {
    /// What `release()` did: bytes of file pages unmapped (resident before the call) and whether
    /// `malloc_trim` gave memory back to the system.
    public struct Outcome: Sendable, Equatable {
        public var droppedBytes: Int
        public var heapTrimmed: Bool
    }

    /// A mapping of `/proc/self/smaps` whose resident pages may be unmapped without losing anything.
    public struct Region: Sendable, Equatable {
        public var start: UInt
        public var end: UInt
        /// Resident bytes (`Rss`) when smaps was read.
        public var residentBytes: Int
    }

    /// Trims the heap and unmaps the resident pages of the `droppableRegions` of `/proc/self/smaps`.
    /// Safe to call at any time from any thread; meant once, after startup. Never throws: a missing
    /// `/proc` (not Linux) or a failing call only means less is released.
    @discardableResult
    public static func release() -> Outcome {
        let trimmed = trimHeap()
        guard let smaps = readFile("/proc/self/smaps") else { return Outcome(droppedBytes: 0, heapTrimmed: trimmed) }
        var dropped = 0
        let pageSize = UInt(max(1, sysconf(Int32(_SC_PAGESIZE))))
        for region in droppableRegions(smaps: smaps) where region.start % pageSize == 0 {
            if madvise(UnsafeMutableRawPointer(bitPattern: region.start), Int(region.end - region.start), MADV_DONTNEED) == 0 {
                dropped += region.residentBytes
            }
        }
        return Outcome(droppedBytes: dropped, heapTrimmed: trimmed)
    }

    /// The regions of an smaps text whose resident pages can be unmapped: a file (path starting with `/`),
    /// mapped private and not writable, with resident pages and no anonymous (copy-on-write) page.
    public static func droppableRegions(smaps: String) -> [Region] {
        var regions: [Region] = []
        var candidate: Region?
        var rss = 0
        var anonymous = -1
        func finish() {
            if var region = candidate, rss > 0, anonymous == 0 {
                region.residentBytes = rss * 1024
                regions.append(region)
            }
            candidate = nil
            rss = 0
            anonymous = -1
        }
        for line in smaps.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.last == ":" {
                // "Rss:   1234 kB", "Anonymous:   0 kB", "VmFlags: rd ex …"
                guard candidate != nil, fields.count >= 2 else { continue }
                if first == "Rss:" { rss = Int(fields[1]) ?? 0 }
                else if first == "Anonymous:" { anonymous = Int(fields[1]) ?? -1 }
                continue
            }
            // A mapping's header: "start-end perms offset dev inode [path]".
            finish()
            let bounds = first.split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
                  end > start, fields.count == 6 else { continue }
            let perms = Array(fields[1].utf8)
            let path = fields[5].drop(while: { $0 == " " })
            guard perms.count == 4, perms[1] != UInt8(ascii: "w"), perms[3] == UInt8(ascii: "p"), path.first == "/" else { continue }
            candidate = Region(start: start, end: end, residentBytes: 0)
        }
        finish()
        return regions
    }

    /// `malloc_trim(0)` from glibc, looked up at run time (Swift's Glibc module does not import `malloc.h`).
    private static func trimHeap() -> Bool {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let process = dlopen(nil, RTLD_NOW) else { return false }
        defer { dlclose(process) }
        guard let symbol = dlsym(process, "malloc_trim") else { return false }
        return unsafeBitCast(symbol, to: MallocTrim.self)(0) == 1
    }

    /// The whole content of a (proc) file, read with plain system calls; nil when it cannot be opened.
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes.append(contentsOf: chunk[0..<count])
            } else if count < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
