import Core
import Testing

/// `Schema`: what it renders into an OpenAPI document, what it finds wrong in a value, and `FieldReader` reading
/// through it (allowed keys, required fields and limits come from the declaration).
@Suite struct SchemaTests {
    static let thing = Schema.object([
        .required("name", .string(1...5)),
        .optional("count", .integer(0...10)),
        .optional("mode", Schema.oneOf(["a", "b"]).orNull),
        .optional("tags", .array(.string(1...3), maxItems: 2)),
    ]).named("Thing")

    @Test func rendersNamedSchemasOnceAsReferences() throws {
        var components = JSONObject()
        let list = Schema.array(Self.thing).document(components: &components)
        #expect(list == .object(["type": .string("array"), "items": .object(["$ref": .string("#/components/schemas/Thing")])]))
        let rendered = try #require(components["Thing"])
        #expect(rendered["additionalProperties"] == .bool(false))
        #expect(rendered["required"] == .array([.string("name")]))
        #expect(rendered["properties"]?["name"] == .object(["type": .string("string"), "minLength": .int(1), "maxLength": .int(5)]))
        #expect(rendered["properties"]?["mode"]?["type"] == .array([.string("string"), .string("null")]))
        #expect(rendered["properties"]?["mode"]?["enum"] == .array([.string("a"), .string("b"), .null]))
        #expect(rendered["properties"]?["count"]?["maximum"] == .int(10))
        // A nullable reference is anyOf [ref, null]; integer bounds never exceed what a JSON number carries exactly.
        #expect(Self.thing.orNull.document(components: &components)["anyOf"]?.arrayValue?.count == 2)
        #expect(Schema.integer(from: 1).document(components: &components)["maximum"] == .int64(Schema.maxExactInteger))
    }

    @Test func findsEveryDeparture() throws {
        #expect(Self.thing.problems(in: .object(["name": .string("ok"), "count": .int(3), "mode": .null, "tags": .array([.string("x")])])).isEmpty)
        let problems = Self.thing.problems(in: .object(["count": .number(1.5), "mode": .string("c"), "tags": .array([.string("long"), .string("a"),
                                                                                                                  .string("b")]),
                                                        "extra": .bool(true)]))
        #expect(Set(problems) == [
            "$.name: missing (required)", "$.count: 1.5 is not an integer", "$.mode: c is not one of a, b", "$.tags: 3 items > 2",
            "$.tags[0]: length 4 outside 1..3", "$.extra: not declared (additionalProperties: false)",
        ])
        #expect(Schema.dateTime.problems(in: .string("2024-01-08T10:00:00.250Z")).isEmpty)
        #expect(!Schema.dateTime.problems(in: .string("2024-01-08 10:00")).isEmpty)
        #expect(Schema.string(pattern: "^[a-z]+$").problems(in: .string("Abc")) == ["$: Abc does not match ^[a-z]+$"])
        #expect(Schema.map(.string()).problems(in: .object(["k": .int(1)])) == ["$.k: must be a string, got number"])
        #expect(Schema.oneOf([.integer(), .string()]).problems(in: .bool(true)).count == 1)
        #expect(Schema.oneOf(integers: [7, 8]).problems(in: .int(9)) == ["$: 9.0 is not one of 7, 8"])
    }

    @Test func fieldReaderReadsThroughTheSchema() throws {
        // Unknown keys are refused, the ones the schema declares accepted, `ignored` ones dropped.
        let unknown = try FieldReader(.object(["name": .string("a"), "other": .int(1)]), schema: Self.thing)
        #expect(unknown.problems == ["other": "unknown field"])
        #expect(throws: APIError.self) { try unknown.finish() }
        #expect(try FieldReader(.object(["name": .string("a"), "id": .int(1)]), schema: Self.thing, ignored: ["id"]).problems.isEmpty)
        // Required and limits come from the declaration unless the call says otherwise.
        var missing = try FieldReader(.object([:]), schema: Self.thing)
        #expect(missing.string("name") == nil)
        #expect(missing.problems["name"] == "is required")
        var long = try FieldReader(.object(["name": .string("toolong"), "count": .int(11), "tags": .array([.string("a"), .string("b"),
                                                                                                              .string("c")])]), schema: Self.thing)
        #expect(long.string("name") == nil && long.int("count") == nil && long.stringArray("tags") == nil)
        #expect(long.problems == ["name": "length must be 1..5", "count": "must be 0..10", "tags": "at most 2 items"])
        var partial = try FieldReader(.object([:]), schema: Self.thing)
        #expect(partial.string("name", required: false) == nil && partial.problems.isEmpty)
        var nullable = try FieldReader(.object(["mode": .null]), schema: Self.thing)
        #expect(nullable.string("mode") == nil && nullable.problems.isEmpty)
    }
}
