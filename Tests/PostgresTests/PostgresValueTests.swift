import Testing
@testable import Postgres

@Suite struct PostgresValueTests {
    @Test func binaryRoundTripsForEveryType() throws {
        let cases: [(PostgresValue, UInt32)] = [
            (.bool(true), PostgresType.bool), (.bool(false), PostgresType.bool),
            (.int(-32768), PostgresType.int2), (.int(32767), PostgresType.int2),
            (.int(Int64(Int32.min)), PostgresType.int4), (.int(Int64(Int32.max)), PostgresType.int4),
            (.int(Int64.min), PostgresType.int8), (.int(Int64.max), PostgresType.int8),
            (.double(-1.25e300), PostgresType.float8), (.double(.infinity), PostgresType.float8),
            (.text("héllo ✓"), PostgresType.text), (.text(""), PostgresType.varchar),
            (.bytes(Array(0...255)), PostgresType.bytea), (.bytes([]), PostgresType.bytea),
            (.timestamp(microseconds: 1_700_000_000_123_456), PostgresType.timestamptz), (.timestamp(microseconds: -1), PostgresType.timestamptz),
        ]
        for (value, type) in cases {
            let encoded = try value.encode(for: type)
            #expect(encoded.format == 1)
            #expect(try PostgresValue.decode(encoded.bytes, type: type, format: 1) == value, "\(value) as \(type)")
        }
        #expect(try PostgresValue.null.encode(for: PostgresType.int4).bytes == nil)
    }

    @Test func integersOutOfRangeForTheColumnAreRefused() {
        #expect(throws: PostgresEncodingError.self) { try PostgresValue.int(40_000).encode(for: PostgresType.int2) }
        #expect(throws: PostgresEncodingError.self) { try PostgresValue.int(1 << 40).encode(for: PostgresType.int4) }
    }

    @Test func typesWithoutABinaryFormGoAsText() throws {
        let numeric: UInt32 = 1700
        let encoded = try PostgresValue.double(2.5).encode(for: numeric)
        #expect(encoded.format == 0)
        #expect(encoded.bytes == Array("2.5".utf8))
        #expect(try PostgresValue.bytes([1, 0xFE]).encode(for: PostgresType.text).bytes == Array("\\x01fe".utf8))
    }

    @Test func textResultsOfKnownTypesAreTyped() throws {
        #expect(try PostgresValue.decode(Array("42".utf8), type: PostgresType.int4, format: 0) == .int(42))
        #expect(try PostgresValue.decode(Array("t".utf8), type: PostgresType.bool, format: 0) == .bool(true))
        #expect(try PostgresValue.decode(Array("\\x00ff".utf8), type: PostgresType.bytea, format: 0) == .bytes([0, 255]))
        #expect(try PostgresValue.decode(Array("NaN".utf8), type: PostgresType.float8, format: 0).doubleValue?.isNaN == true)
        #expect(try PostgresValue.decode(nil, type: PostgresType.text, format: 0) == .null)
    }

    @Test func timestampsPrintInPostgresInputSyntax() {
        #expect(PostgresValue.timestamp(microseconds: 0).textForm == "1970-01-01 00:00:00.000000+00")
        #expect(PostgresValue.timestamp(microseconds: 951_782_400_000_001).textForm == "2000-02-29 00:00:00.000001+00")
        #expect(PostgresValue.timestamp(microseconds: -1).textForm == "1969-12-31 23:59:59.999999+00")
    }
}
