import Core
import Foundation
import Synchronization
import Testing
import TestSupport

/// The access log's buffered path: per-thread buffers, batched writes, whole lines, nothing lost on flush.
@Suite struct LoggerBufferTests {
    @Test func linesFromManyThreadsArriveWholeAndAllAfterFlush() throws {
        let log = LogFile()
        defer { log.remove() }
        let logger = log.logger
        let threads = 8, perThread = 5_000
        let done = Atomic<Int>(0)
        for t in 0..<threads {
            Thread {
                // Lines long enough to cross the per-thread buffer limit several times.
                let padding = String(repeating: "x", count: 100)
                for i in 0..<perThread { logger.writeLine(Array("{\"t\":\(t),\"i\":\(i),\"p\":\"\(padding)\"}".utf8)) }
                done.add(1, ordering: .sequentiallyConsistent)
            }.start()
        }
        while done.load(ordering: .sequentiallyConsistent) < threads { usleep(1_000) }
        logger.warning("after")   // written synchronously, after this thread's buffered lines
        let text = try log.text()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == threads * perThread + 1)
        var next = [Int](repeating: 0, count: threads)
        for line in lines where !line.contains("\"after\"") {
            let json = try JSONParser.parse(Array(line.utf8))
            let t = Int(try #require(json["t"]?.int64Value)), i = Int(try #require(json["i"]?.int64Value))
            #expect(i == next[t])   // each thread's lines in order, none split or lost
            next[t] = i + 1
        }
        #expect(next == [Int](repeating: perThread, count: threads))
    }

    @Test func bufferedLinesAreWrittenWithoutAFlushWithinMoments() throws {
        let log = LogFile()
        defer { log.remove() }
        log.logger.writeLine(Array("{\"a\":1}".utf8))
        var text = ""
        for _ in 0..<100 {
            text = try log.written()
            if !text.isEmpty { break }
            usleep(10_000)
        }
        #expect(text == "{\"a\":1}\n")
    }
}
