import Core
import Testing

@Suite struct CSVTests {
    @Test func parsesPlainRowsWithCRLFOrLF() throws {
        #expect(try CSV.parse("a,b\r\n1,2\r\n") == [["a", "b"], ["1", "2"]])
        #expect(try CSV.parse("a,b\n1,2") == [["a", "b"], ["1", "2"]])
        #expect(try CSV.parse("a,,c\n") == [["a", "", "c"]])
    }

    @Test func parsesQuotedFieldsWithCommasQuotesAndNewlines() throws {
        #expect(try CSV.parse("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n") == [["a,b", "say \"hi\"", "two\nlines"]])
        #expect(try CSV.parse("\"\",x") == [["", "x"]])
    }

    @Test func dropsAByteOrderMark() throws {
        #expect(try CSV.parse("\u{FEFF}device_id,x\n") == [["device_id", "x"]])
    }

    @Test func rejectsMalformedQuotingWithTheLine() {
        #expect(throws: CSV.ParseError.self) { try CSV.parse("a,\"open\n") }
        #expect(throws: CSV.ParseError.self) { try CSV.parse("ok\nx\"y\n") }
        do {
            _ = try CSV.parse("ok\n\"a\"b\n")
            Issue.record("expected a parse error")
        } catch {
            #expect(error.line == 2)
        }
    }

    @Test func writerQuotesOnlyWhatNeedsIt() throws {
        #expect(CSV.line(["a", "b c", "x,y", "q\"uote", "l\nf"]) == "a,b c,\"x,y\",\"q\"\"uote\",\"l\nf\"\r\n")
        let fields = ["x,y", "q\"uote", "", "plain"]
        #expect(try CSV.parse(CSV.line(fields)) == [fields])
    }

    /// Found by fuzzing (Tests/Fuzz/csv): a first field that itself starts with U+FEFF lost it when written and read
    /// back, since the reader drops one byte order mark at the start of a document.
    @Test func writerKeepsALeadingByteOrderMarkOfAField() throws {
        let rows = try CSV.parse(String(decoding: [0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF, 0x44, 0xEF], as: UTF8.self))
        #expect(rows == [["\u{FEFF}D\u{FFFD}"]])
        #expect(try CSV.parse(rows.map(CSV.line).joined()) == rows)
        #expect(CSV.line(["\u{FEFF}x", "y"]) == "\"\u{FEFF}x\",y\r\n")
    }

    /// Found by fuzzing (Tests/Fuzz/csv): a quote followed by a combining mark is one character, which a character-wise
    /// replace did not double, so the written line did not parse.
    @Test func writerDoublesAQuoteFollowedByACombiningMark() throws {
        let fields = ["a\"\u{030C}b", "\"\u{0301}", "plain"]
        #expect(CSV.line(fields).unicodeScalars.elementsEqual("\"a\"\"\u{030C}b\",\"\"\"\u{0301}\",plain\r\n".unicodeScalars))
        #expect(try CSV.parse(CSV.line(fields)) == [fields])
    }
}
