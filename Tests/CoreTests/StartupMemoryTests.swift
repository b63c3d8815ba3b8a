import Core
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct StartupMemoryTests {
    /// Only private, non-writable file mappings with resident pages and no copy-on-write page qualify.
    @Test func picksOnlyCleanReadOnlyFileMappings() {
        let smaps = """
            55d0c0000000-55d0c0100000 r--p 00000000 fd:01 123                        /usr/bin/api-server
            Size:               1024 kB
            Rss:                 512 kB
            Anonymous:             0 kB
            VmFlags: rd mr mw me
            55d0c0100000-55d0c0300000 r-xp 00100000 fd:01 123                        /usr/bin/api-server
            Rss:                 300 kB
            Anonymous:             0 kB
            55d0c0300000-55d0c0310000 r--p 00300000 fd:01 123                        /usr/bin/api-server
            Rss:                  64 kB
            Anonymous:            64 kB
            55d0c0310000-55d0c0320000 rw-p 00310000 fd:01 123                        /usr/bin/api-server
            Rss:                  64 kB
            Anonymous:             4 kB
            55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0                          [heap]
            Rss:                 900 kB
            Anonymous:           900 kB
            7f0000000000-7f0000021000 rw-p 00000000 00:00 0 
            Rss:                   8 kB
            Anonymous:             8 kB
            7f0000100000-7f0000200000 r--s 00000000 fd:01 456                        /data/iot.db-shm
            Rss:                  32 kB
            Anonymous:             0 kB
            7f0000200000-7f0000300000 r-xp 00000000 fd:01 789                        /opt/lib/lib with space.so
            Rss:                 128 kB
            Anonymous:             0 kB
            7f0000300000-7f0000400000 r--p 00000000 fd:01 790                        /opt/lib/untouched.so
            Rss:                   0 kB
            Anonymous:             0 kB
            7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                          [vdso]
            Rss:                   4 kB
            Anonymous:             0 kB
            """
        let regions = StartupMemory.droppableRegions(smaps: smaps)
        let found: [[UInt]] = regions.map { [$0.start, $0.end, UInt($0.residentBytes)] }
        let expected: [[UInt]] = [
            [0x55d0_c000_0000, 0x55d0_c010_0000, 512 * 1024],
            [0x55d0_c010_0000, 0x55d0_c030_0000, 300 * 1024],
            [0x7f00_0020_0000, 0x7f00_0030_0000, 128 * 1024],
        ]
        #expect(found == expected)
        #expect(StartupMemory.droppableRegions(smaps: "").isEmpty)
        #expect(StartupMemory.droppableRegions(smaps: "garbage\nRss: 4 kB\n-\n").isEmpty)
    }

    /// On this process: a read-only file mapping is unmapped and reads back the same bytes; a private copy
    /// (written, then made read-only, as relocated data is) and a writable mapping keep their changes.
    @Test func releasesCleanPagesAndKeepsPrivateCopies() throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = 16 * pageSize
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("startup-memory-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let original = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        try Data(original).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        func map(_ protection: Int32) throws -> UnsafeMutablePointer<UInt8> {
            let pointer = mmap(nil, length, protection, MAP_PRIVATE, fd, 0)
            try #require(pointer != MAP_FAILED)
            return pointer!.assumingMemoryBound(to: UInt8.self)
        }
        let readOnly = try map(PROT_READ)
        let relocated = try map(PROT_READ | PROT_WRITE)
        let writable = try map(PROT_READ | PROT_WRITE)
        defer { for pointer in [readOnly, relocated, writable] { munmap(pointer, length) } }
        var sum = 0
        for index in stride(from: 0, to: length, by: pageSize) { sum &+= Int(readOnly[index]) }
        relocated[5] = 0xAB
        #expect(mprotect(relocated, length, PROT_READ) == 0)
        writable[9] = 0xCD
        #expect(resident(readOnly) > 0)

        let outcome = StartupMemory.release()

        #expect(outcome.droppedBytes >= length)
        #expect(resident(readOnly) == 0)
        #expect(Array(UnsafeBufferPointer(start: readOnly, count: length)) == original)
        #expect(relocated[5] == 0xAB && relocated[6] == original[6])
        #expect(writable[9] == 0xCD && writable[10] == original[10])
        #expect(sum != 0)
    }

    /// Resident kB of the mapping starting at `pointer`, from /proc/self/smaps.
    private func resident(_ pointer: UnsafeMutablePointer<UInt8>) -> Int {
        let start = String(UInt(bitPattern: pointer), radix: 16)
        // /proc files report size 0: read to the end rather than by the size.
        guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile() else { return -1 }
        let text = String(decoding: data, as: UTF8.self)
        var inside = false
        for line in text.split(separator: "\n") {
            let token = line.prefix { $0 != " " }
            if token.contains("-"), !token.contains(":") {   // a mapping's header, "start-end perms …"
                let head = token.prefix { $0 != "-" }
                inside = head.drop { $0 == "0" } == start.drop { $0 == "0" }
            } else if inside, line.hasPrefix("Rss:") {
                return Int(line.split(separator: " ")[1]) ?? -1
            }
        }
        return -1
    }
}
