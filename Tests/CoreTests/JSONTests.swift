import Core
import TestSupport
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryValueKind() throws {
        let value = try JSONParser.parse(#"{"a": [1, -2.5, 3e2, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}}"#)
        #expect(value["a"] == .array([.number(1), .number(-2.5), .number(300), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("d\né😀"))
    }

    @Test func keepsObjectKeyOrderAndRejectsDuplicateKeys() throws {
        let value = try JSONParser.parse(#"{"z": 1, "a": 2, "y": 3}"#)
        #expect(value.objectValue?.keys == ["z", "a", "y"])
        // A duplicate key has no defined meaning (RFC 8259 §4): rejected rather than guessed at.
        #expect(throws: (any Error).self) { try JSONParser.parse(#"{"z": 1, "a": 2, "z": 3}"#) }
    }

    @Test func largeObjectsParseInLinearTimeAndStillRejectDuplicates() throws {
        // 200 000 members: a quadratic key check would take minutes; this finishes at once.
        let members = (0..<200_000).map { "\"k\($0)\": \($0)" }.joined(separator: ",")
        let value = try JSONParser.parse(Array("{\(members)}".utf8))
        #expect(value.objectValue?.count == 200_000)
        #expect(throws: (any Error).self) { try JSONParser.parse(Array("{\(members), \"k199999\": 1}".utf8)) }
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "NaN", "Infinity", "-Infinity", "[1 2]", "01", "1.", ".5", "\"\\x\"", "\"a", "tru", "{\"a\" 1}",
        "[1]x", "\"\u{01}\"", "\"\\ud800\"", "1e400", "{'a': 1}",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func limitsNestingDepthInsteadOfOverflowingTheStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect((try? JSONParser.parse(fine)) != nil)
    }

    @Test func writerRoundTripsAndEscapes() throws {
        let value: JSON = .object(["s": .string("quote\" back\\ nl\n tab\t ctl\u{01} é"), "n": .number(24.1), "i": .int(-42),
                                   "big": .number(1e300), "arr": .array([.null, .bool(true)])])
        let text = JSONWriter.string(value)
        #expect(text.contains(#"\u0001"#))
        #expect(text.contains(#""i":-42"#))
        #expect(try JSONParser.parse(text) == value)
    }

    /// Strings are copied in runs between the bytes that need escaping: escapes at the start, the end, back to back
    /// and between multi-byte characters all come out right.
    @Test func writerEscapesAtEveryPositionOfARun() throws {
        let cases: [(String, String)] = [
            ("", #""""#), ("plain", #""plain""#), ("\"", #""\"""#), ("\"a", #""\"a""#), ("a\\", #""a\\""#),
            ("\n\r\t", #""\n\r\t""#), ("é\u{1F}ü", #""é\u001fü""#), ("a\u{0}b", #""a\u0000b""#),
            ("日本\"語\"", #""日本\"語\"""#), ("\u{7F}", "\"\u{7F}\""),
        ]
        for (input, expected) in cases {
            #expect(JSONWriter.string(.string(input)) == expected, "\(input.debugDescription)")
            #expect(try JSONParser.parse(JSONWriter.string(.string(input))) == .string(input))
        }
    }

    @Test func flatWriterWritesWhatTheTreeWriterWrites() {
        var flat = FlatJSONWriter(capacity: 8)
        flat.add("ts", "2026-11-29T10:00:00.123Z")
        flat.add("path", "/api/v2/\"odd\"\n/ü")
        flat.add("status", 201)
        flat.add("bytes", -7)
        flat.add("duration_ms", 0.25)
        flat.add("nan", Double.nan)
        let tree: JSON = .object(JSONObject([("ts", .string("2026-11-29T10:00:00.123Z")), ("path", .string("/api/v2/\"odd\"\n/ü")),
                                             ("status", .int(201)), ("bytes", .int(-7)), ("duration_ms", .number(0.25)), ("nan", .number(.nan))]))
        #expect(flat.finish() == JSONWriter.bytes(tree))
        #expect(FlatJSONWriter().finish() == Array("{}".utf8))
    }

    /// Integers are written digit by digit, fixed-point hundredths without a `Double`: both as `String` would.
    @Test func writerWritesIntegersAndHundredthsAsStringDoes() {
        var random = SplitMix(state: 11)
        var integers: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, Int64(Int32.max), -9_007_199_254_740_991, 9_007_199_254_740_991]
        for _ in 0..<2_000 { integers.append(Int64(bitPattern: random.next()) >> Int64(random.next() % 63)) }
        for value in integers where value.magnitude < 9_007_199_254_740_992 {
            #expect(JSONWriter.string(.number(Double(value))) == String(value))
        }
        var hundredths = [0, 1, 5, 10, 99, 100, 101, 150, 300, 1234, -7, -250, 123_456_789]
        for _ in 0..<2_000 { hundredths.append(Int(random.next() % 10_000_000)) }
        for value in hundredths {
            var fixed = FlatJSONWriter()
            fixed.add("d", hundredths: value)
            var viaDouble = FlatJSONWriter()
            viaDouble.add("d", Double(value) / 100)
            #expect(fixed.finish() == viaDouble.finish(), "\(value)")
        }
    }

    @Test func writerNeverEmitsNonFiniteNumbers() {
        #expect(JSONWriter.string(.array([.number(.nan), .number(.infinity)])) == "[null,null]")
    }

    /// The short-decimal fast path must give the very bits the string conversion (strtod, correctly rounded) gives.
    @Test func decimalsParseToTheSameBitsAsStringConversion() throws {
        var generator = SystemRandomNumberGenerator()
        var texts = ["0.5", "-0.0", "0.1", "-0.1", "123456789012345.6", "1.000000000000001", "0.0000000000000000000001",
                     "999999999999999.9", "9.999999999999999", "0.30000000000000004", "1.5e3", "-2.25E-2", "12345678901234567.5"]
        for _ in 0 ..< 20_000 {
            let integerDigits = Int.random(in: 1 ... 9, using: &generator)
            let fractionDigits = Int.random(in: 1 ... 24, using: &generator)
            let integer = String(Int.random(in: 0 ..< 1_000_000_000, using: &generator)).prefix(integerDigits)
            let fraction = String((0 ..< fractionDigits).map { _ in Character(String(Int.random(in: 0 ... 9, using: &generator))) })
            texts.append((Bool.random(using: &generator) ? "-" : "") + integer + "." + fraction)
        }
        for text in texts {
            guard case .array(let items) = try JSONParser.parse("[\(text)]"), case .number(let parsed) = items.first else {
                Issue.record("\(text) did not parse to a number")
                continue
            }
            #expect(parsed.bitPattern == Double(text)?.bitPattern, "\(text)")
        }
    }

    @Test func asciiAndNonASCIIStringsParseAlike() throws {
        #expect(try JSONParser.parse(#"["d-bench-1-001", "grüße ☃", "a\u00e9b", ""]"#)
                == .array([.string("d-bench-1-001"), .string("grüße ☃"), .string("aéb"), .string("")]))
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0x61, 0xC3, 0x22]) }
    }

    @Test func int64ValueOnlyForIntegralNumbers() {
        #expect(JSON.number(42).int64Value == 42)
        #expect(JSON.number(4.5).int64Value == nil)
        #expect(JSON.string("42").int64Value == nil)
    }
}

@Suite struct FieldReaderTests {
    @Test func readsTypedFieldsAndRejectsUnknownOnes() throws {
        let body = try JSONParser.parse(#"{"name": "x", "favorite": true, "project_id": "ignored", "bogus": 1}"#)
        var reader = try FieldReader(body, allowed: ["name", "favorite"], ignored: ["project_id"])
        #expect(reader.string("name", required: true) == "x")
        #expect(reader.bool("favorite") == true)
        do {
            try reader.finish()
            Issue.record("expected a validation error")
        } catch {
            #expect(error.code == "VALIDATION_ERROR")
            #expect(error.fields == ["bogus": "unknown field"])
        }
    }

    @Test func collectsEveryProblem() throws {
        var reader = try FieldReader(try JSONParser.parse(#"{"name": 5, "count": 1.5, "tags": ["a", 2]}"#),
                                     allowed: ["name", "count", "tags", "needed"])
        _ = reader.string("name")
        _ = reader.int("count")
        _ = reader.stringArray("tags")
        _ = reader.string("needed", required: true)
        #expect(Set(reader.problems.keys) == ["name", "count", "tags", "needed"])
        #expect(throws: APIError.self) { try reader.finish() }
    }

    @Test func nonObjectBodyIsAValidationError() {
        #expect(throws: APIError.self) { _ = try FieldReader(.array([]), allowed: []) }
    }

    @Test func lengthLimitsCountUnicodeScalarsNotCharacters() throws {
        // One grapheme cluster ("a" and 500 combining acute accents) is 501 scalars: over a 200 limit.
        let zalgo = "a" + String(repeating: "\u{0301}", count: 500)
        #expect(zalgo.count == 1)
        var reader = try FieldReader(.object(["name": .string(zalgo), "tags": .array([.string(zalgo)])]), allowed: ["name", "tags"])
        #expect(reader.string("name", length: 1...200) == nil)
        #expect(reader.problems["name"] == "length must be 1..200")
        #expect(reader.stringArray("tags", itemLength: 1...200) == nil)
        #expect(reader.problems["tags"] != nil)
        // 200 ASCII characters are 200 scalars: exactly at the limit, accepted.
        let ascii = String(repeating: "x", count: 200)
        var fine = try FieldReader(.object(["name": .string(ascii), "tags": .array([.string(ascii)])]), allowed: ["name", "tags"])
        #expect(fine.string("name", length: 1...200) == ascii)
        #expect(fine.stringArray("tags", itemLength: 1...200) == [ascii])
        try fine.finish()
        // 201 is one too many; a 200-scalar string of combining marks is still within the limit.
        var over = try FieldReader(.object(["name": .string(ascii + "x")]), allowed: ["name"])
        #expect(over.string("name", length: 1...200) == nil)
        let marks = "a" + String(repeating: "\u{0301}", count: 199)
        var atLimit = try FieldReader(.object(["name": .string(marks)]), allowed: ["name"])
        #expect(atLimit.string("name", length: 1...200) == marks)
    }

    /// Found by fuzzing (Tests/Fuzz/telemetry, factor-import): a key cut to 64 characters could still carry any number
    /// of combining marks, one character; names are cut to 64 Unicode scalars.
    @Test func anUnknownKeyIsNamedInAtMost64Scalars() throws {
        let key = "e" + String(repeating: "\u{0301}", count: 1_000)
        let reader = try FieldReader(.object([key: .int(1)]), allowed: [])
        #expect(reader.problems.count == 1)
        #expect(reader.problems.keys.allSatisfy { $0.unicodeScalars.count == 64 && key.unicodeScalars.starts(with: $0.unicodeScalars) })
        #expect(FieldReader.echo("short") == "short")
    }

    @Test func unknownFieldListsAreCappedAt20() throws {
        let members = (0..<1000).map { "\"unknown-\($0)-\(String(repeating: "k", count: 100))\": \($0)" }.joined(separator: ", ")
        let body = try JSONParser.parse("{\"name\": \"x\", \(members)}")
        let reader = try FieldReader(body, allowed: ["name"])
        #expect(reader.problems.count == 20)
        #expect(reader.problems.values.allSatisfy { $0 == "unknown field" })
        // Each named key is cut to 64 characters.
        #expect(reader.problems.keys.allSatisfy { $0.count <= 64 && $0.hasPrefix("unknown-") })
        do {
            try reader.finish()
            Issue.record("expected a validation error")
        } catch {
            #expect(error.code == "VALIDATION_ERROR")
            #expect(error.fields.count == 20)
        }
        // A handful of unknown fields are all named.
        let few = try FieldReader(try JSONParser.parse(#"{"a": 1, "b": 2, "c": 3}"#), allowed: [])
        #expect(Set(few.problems.keys) == ["a", "b", "c"])
    }

    @Test func enforcesLengthsAndRanges() throws {
        var reader = try FieldReader(try JSONParser.parse(#"{"name": "", "port": 70000}"#), allowed: ["name", "port"])
        #expect(reader.string("name", length: 1...200) == nil)
        #expect(reader.int("port", range: 1...65_535) == nil)
        #expect(reader.problems["name"] != nil && reader.problems["port"] != nil)
    }
}
