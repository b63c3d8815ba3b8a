import Compat
import Core
import Testing

@Suite struct FilterSpecTests {
    static let schema = UfdlProjectDocument.schema

    func parse(_ text: String) throws -> FilterSpec {
        try FilterSpec.parse(try JSONParser.parse(Array(text.utf8)), schema: Self.schema)
    }

    /// The 400 detail of a filter that must not parse.
    func problem(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch let error as CompatError {
            #expect(error.status == 400 && error.code == "INVALID_FILTER")
            return error.detail
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func everyExpressionTypeParses() throws {
        let spec = try parse("""
            {"expressions": [
              {"type": "exact", "field": "name", "value": "A", "case_insensitive": true},
              {"type": "contains", "field": "name", "sub_string": "b", "invert": true},
              {"type": "compare", "field": "pk", "operator": ">=", "value": 3},
              {"type": "isnull", "field": "deletion_time"},
              {"type": "or", "sub_expressions": [
                {"type": "exact", "field": "team", "value": 1},
                {"type": "and", "sub_expressions": [{"type": "isnull", "field": "creator", "invert": true},
                                                    {"type": "compare", "field": "creation_time", "operator": "<", "value": "2030-01-01T00:00:00+00:00"}]}
              ]}
            ],
             "order_by": [{"field": "name", "ascending": false, "nulls_first": true}, {"field": "pk"}],
             "include_inactive": true}
            """)
        #expect(spec.expressions.count == 5 && spec.includeInactive)
        #expect(spec.expressions[0] == .exact(field: "name", value: .text("A"), caseInsensitive: true, invert: false))
        #expect(spec.expressions[1] == .contains(field: "name", substring: "b", caseInsensitive: false, invert: true))
        #expect(spec.expressions[2] == .compare(field: "pk", comparison: .greaterOrEqual, value: .integer(3), invert: false))
        #expect(spec.expressions[3] == .isNull(field: "deletion_time", invert: false))
        guard case .or(let branches, false) = spec.expressions[4], case .and(let inner, false) = branches[1] else {
            Issue.record("nested or/and not parsed: \(spec.expressions[4])")
            return
        }
        #expect(inner[1] == .compare(field: "creation_time", comparison: .less, value: .time(1_893_456_000_000), invert: false))
        #expect(spec.orderBy == [FilterSpec.OrderBy(field: "name", ascending: false, nullsFirst: true), FilterSpec.OrderBy(field: "pk")])
        #expect(try parse("{}") == FilterSpec())
        #expect(try parse(#"{"expressions": null, "order_by": [], "include_inactive": false}"#) == FilterSpec())
    }

    @Test func malformedFiltersAnswer400SayingWhat() {
        #expect(problem(#"{"expresions": []}"#)?.contains("unknown key expresions") == true)
        #expect(problem(#"{"expressions": [{"type": "regex", "field": "name"}]}"#)?.contains("unknown expression type regex") == true)
        #expect(problem(#"{"expressions": [{"type": "contains", "field": "name", "sub_string": ""}]}"#)?
            .contains("expressions[0].sub_string: must not be empty") == true)
        #expect(problem(#"{"expressions": [{"type": "and", "sub_expressions": [{"type": "isnull", "field": "creator"}]}]}"#)?
            .contains("at least two") == true)
        #expect(problem(#"{"expressions": [{"type": "or", "sub_expressions": []}]}"#)?.contains("at least two") == true)
        #expect(problem(#"{"expressions": [{"type": "compare", "field": "colour", "operator": "<", "value": 1}]}"#)?
            .contains("unknown field colour") == true)
        #expect(problem(#"{"expressions": [{"type": "compare", "field": "pk", "operator": "!=", "value": 1}]}"#)?.contains("operator") == true)
        #expect(problem(#"{"expressions": [{"type": "exact", "field": "pk", "value": "x"}]}"#)?.contains("integer") == true)
        #expect(problem(#"{"expressions": [{"type": "exact", "field": "name", "value": "x", "extra": 1}]}"#)?
            .contains("expressions[0].extra") == true)
        #expect(problem(#"{"expressions": [{"type": "contains", "field": "pk", "sub_string": "1"}]}"#)?.contains("text fields") == true)
        #expect(problem(#"{"expressions": [{"type": "exact", "field": "name", "value": "x", "invert": "yes"}]}"#)?.contains("invert") == true)
        #expect(problem(#"{"expressions": [{"field": "name"}]}"#)?.contains("type: is required") == true)
        #expect(problem(#"{"order_by": [{"field": "nope"}]}"#)?.contains("order_by[0].field") == true)
        #expect(problem(#"{"order_by": [{"field": "pk", "descending": true}]}"#)?.contains("unknown key order_by[0].descending") == true)
        #expect(problem(#"{"include_inactive": 1}"#)?.contains("include_inactive") == true)
        #expect(problem(#"[]"#)?.contains("must be an object") == true)
        #expect(problem(#"{"expressions": [{"type": "compare", "field": "creation_time", "operator": "<", "value": "yesterday"}]}"#) != nil)
        // Nesting and size are bounded.
        var deep = #"{"type": "isnull", "field": "creator"}"#
        for _ in 0..<10 { deep = #"{"type": "and", "sub_expressions": [\#(deep), {"type": "isnull", "field": "creator"}]}"# }
        #expect(problem(#"{"expressions": [\#(deep)]}"#)?.contains("deeper") == true)
    }

    struct Row: Equatable {
        let pk: Int64
        let name: String
        let creator: Int64?
        let deleted: Int64?
    }

    static let rows = [
        Row(pk: 1, name: "Alpha", creator: 7, deleted: nil), Row(pk: 2, name: "beta", creator: nil, deleted: 50),
        Row(pk: 3, name: "Gamma ray", creator: 8, deleted: nil), Row(pk: 4, name: "alpha two", creator: 7, deleted: 20),
    ]

    func run(_ text: String) throws -> [Int64] {
        try parse(text).apply(Self.rows) { row, field -> FilterSpec.Value in
            switch field {
            case "pk": .integer(row.pk)
            case "name": .text(row.name)
            case "creator": row.creator.map(FilterSpec.Value.integer) ?? .null
            case "deletion_time": row.deleted.map(FilterSpec.Value.time) ?? .null
            default: .null
            }
        }.map(\.pk)
    }

    @Test func evaluationFollowsEachExpressionType() throws {
        #expect(try run(#"{"expressions": [{"type": "exact", "field": "name", "value": "alpha"}]}"#) == [])
        #expect(try run(#"{"expressions": [{"type": "exact", "field": "name", "value": "alpha", "case_insensitive": true}]}"#) == [1])
        #expect(try run(#"{"expressions": [{"type": "contains", "field": "name", "sub_string": "alpha"}]}"#) == [4])
        #expect(try run(#"{"expressions": [{"type": "contains", "field": "name", "sub_string": "ALPHA", "case_insensitive": true}]}"#) == [1, 4])
        #expect(try run(#"{"expressions": [{"type": "contains", "field": "name", "sub_string": "a", "invert": true}]}"#) == [])
        #expect(try run(#"{"expressions": [{"type": "compare", "field": "pk", "operator": ">", "value": 2}]}"#) == [3, 4])
        #expect(try run(#"{"expressions": [{"type": "compare", "field": "pk", "operator": "<=", "value": 2, "invert": true}]}"#) == [3, 4])
        #expect(try run(#"{"expressions": [{"type": "compare", "field": "name", "operator": "<", "value": "B"}]}"#) == [1])
        #expect(try run(#"{"expressions": [{"type": "isnull", "field": "creator"}]}"#) == [2])
        #expect(try run(#"{"expressions": [{"type": "isnull", "field": "creator", "invert": true}]}"#) == [1, 3, 4])
        #expect(try run(#"{"expressions": [{"type": "exact", "field": "creator", "value": 7, "invert": true}]}"#) == [2, 3])
        // Expressions apply one after another (AND); or/and nest; invert applies to a whole group.
        #expect(try run(#"{"expressions": [{"type": "exact", "field": "creator", "value": 7}, {"type": "isnull", "field": "deletion_time"}]}"#) == [1])
        #expect(try run("""
            {"expressions": [{"type": "or", "sub_expressions": [{"type": "exact", "field": "pk", "value": 2},
              {"type": "and", "sub_expressions": [{"type": "exact", "field": "creator", "value": 7}, {"type": "compare", "field": "pk", "operator": ">", "value": 1}]}]}]}
            """) == [2, 4])
        #expect(try run("""
            {"expressions": [{"type": "or", "invert": true, "sub_expressions": [{"type": "exact", "field": "pk", "value": 2}, {"type": "exact", "field": "pk", "value": 3}]}]}
            """) == [1, 4])
    }

    @Test func orderByWithNullsAndTies() throws {
        #expect(try run(#"{"order_by": [{"field": "name"}]}"#) == [1, 3, 4, 2])   // code-point order, as a binary collation
        #expect(try run(#"{"order_by": [{"field": "creator", "ascending": false}, {"field": "pk", "ascending": false}]}"#) == [2, 3, 4, 1])
        #expect(try run(#"{"order_by": [{"field": "creator", "nulls_first": false, "ascending": false}]}"#) == [3, 1, 4, 2])
        #expect(try run(#"{"order_by": [{"field": "creator", "nulls_first": true}]}"#) == [2, 1, 4, 3])
        #expect(try run(#"{"order_by": [{"field": "creator"}]}"#) == [1, 4, 3, 2])   // ties keep the input order; nulls last ascending
        #expect(try run(#"{"order_by": [{"field": "deletion_time"}]}"#) == [4, 2, 1, 3])
    }

    /// The declared schema and the parser agree: documents the schema accepts parse, documents it rejects for a key,
    /// a type or a depth do not, and an `and` nested exactly as deep as the parser allows is declared and parses.
    @Test func theDeclaredSchemaAndTheParserAgree() throws {
        let declared = UfdlSchemas.filter
        func nested(_ depth: Int) -> String {
            var expression = #"{"type": "isnull", "field": "creator"}"#
            for _ in 1..<depth { expression = #"{"type": "and", "sub_expressions": [\#(expression), {"type": "isnull", "field": "pk"}]}"# }
            return #"{"expressions": [\#(expression)]}"#
        }
        let valid = [
            "{}", "null", #"{"expressions": null, "order_by": null, "include_inactive": null}"#,
            #"{"expressions": [{"type": "exact", "field": "name", "value": "A", "case_insensitive": true, "invert": null}]}"#,
            #"{"expressions": [{"type": "contains", "field": "name", "sub_string": "b"}, {"type": "compare", "field": "pk", "operator": "<=", "value": 3}]}"#,
            #"{"expressions": [{"type": "or", "sub_expressions": [{"type": "isnull", "field": "deletion_time"}, {"type": "exact", "field": "team", "value": 1}]}]}"#,
            #"{"order_by": [{"field": "creation_time", "ascending": false, "nulls_first": null}], "include_inactive": true}"#,
            nested(FilterSpec.maxDepth),
        ]
        for text in valid {
            let body = try JSONParser.parse(Array(text.utf8))
            #expect(declared.problems(in: body).isEmpty, "\(text): \(declared.problems(in: body))")
            #expect(throws: Never.self, "\(text)") { try FilterSpec.parse(body == .null ? .object([:]) : body, schema: Self.schema) }
        }
        let invalid = [
            #"{"expresions": []}"#, #"{"expressions": [{"type": "regex", "field": "name"}]}"#,
            #"{"expressions": [{"type": "contains", "field": "name", "sub_string": ""}]}"#,
            #"{"expressions": [{"type": "contains", "field": "pk", "sub_string": "1"}]}"#,
            #"{"expressions": [{"type": "and", "sub_expressions": [{"type": "isnull", "field": "creator"}]}]}"#,
            #"{"expressions": [{"type": "exact", "field": "colour", "value": 1}]}"#,
            #"{"expressions": [{"type": "exact", "field": "name", "value": "x", "extra": 1}]}"#,
            #"{"expressions": [{"type": "compare", "field": "pk", "operator": "!=", "value": 1}]}"#,
            #"{"expressions": [{"type": "isnull", "field": "pk", "invert": "yes"}]}"#,
            #"{"expressions": [{"field": "name"}]}"#,
            #"{"order_by": [{"field": "pk", "descending": true}]}"#, #"{"order_by": [{"ascending": true}]}"#,
            #"{"include_inactive": 1}"#, "[]",
            nested(FilterSpec.maxDepth + 1),
        ]
        for text in invalid {
            let body = try JSONParser.parse(Array(text.utf8))
            #expect(!declared.problems(in: body).isEmpty, "\(text) conforms to the schema")
            #expect(problem(text) != nil, "\(text) parses")
        }
    }
}
