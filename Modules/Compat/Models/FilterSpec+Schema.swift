import Core

extension FilterSpec {
    /// The keys each part of a FilterSpec may carry: the parser accepts exactly these (an unknown key → 400
    /// `INVALID_FILTER`) and `schema(fields:name:)` declares exactly these, so the two cannot drift.
    enum Keys {
        static let spec = ["expressions", "order_by", "include_inactive"]
        static let orderBy = ["field", "ascending", "nulls_first"]
        static let exact = ["type", "field", "value", "case_insensitive", "invert"]
        static let contains = ["type", "field", "sub_string", "case_insensitive", "invert"]
        static let compare = ["type", "field", "operator", "value", "invert"]
        static let isNull = ["type", "field", "invert"]
        static let logical = ["type", "sub_expressions", "invert"]
        /// Keys an expression must carry (the parser answers "is required" without them).
        static let required: Set<String> = ["type", "field", "value", "sub_string", "operator", "sub_expressions"]
    }

    /// The JSON Schema of a FilterSpec over `fields` (field name → type), as the parser reads it: an expression is one
    /// of `exact`, `contains` (text fields only), `compare`, `isnull`, `and`/`or` (at least two sub-expressions),
    /// nested at most `maxDepth` levels (one named component per level, `<name>Expression`, `<name>Expression2`, …,
    /// since a schema value cannot refer to itself). The flags and `order_by`'s fields take null for their default.
    /// What JSON Schema cannot say — a value's type depends on its field, at most `maxExpressions` expressions — the
    /// parser still answers with 400 `INVALID_FILTER`.
    public static func schema(fields: [String: FieldType], name: String) -> Schema {
        let fieldNames = Schema.oneOf(fields.keys.sorted())
        let textFields = Schema.oneOf(fields.filter { $0.value == .text }.keys.sorted())
        let flag = Schema.boolean.orNull
        let value = Schema.oneOf([.integer(), .string()])
            .described("An integer field's integer (or its digits as a string), a text field's string, a time field's ISO 8601 date-time")
        func object(_ keys: [String], _ types: [String: Schema]) -> Schema {
            .object(keys.map { Keys.required.contains($0) ? .required($0, types[$0]!) : .optional($0, types[$0]!) })
        }
        let leaves: [Schema] = [
            object(Keys.exact, ["type": .oneOf(["exact"]), "field": fieldNames, "value": value, "case_insensitive": flag, "invert": flag]),
            object(Keys.contains, ["type": .oneOf(["contains"]), "field": textFields, "sub_string": .string(1...Int(Int32.max)),
                                   "case_insensitive": flag, "invert": flag]),
            object(Keys.compare, ["type": .oneOf(["compare"]), "field": fieldNames, "operator": .oneOf(Comparison.allCases.map(\.rawValue)),
                                  "value": value, "invert": flag]),
            object(Keys.isNull, ["type": .oneOf(["isnull"]), "field": fieldNames, "invert": flag]),
        ]
        // Built from the deepest level up: an `and`/`or` at the last level would need sub-expressions one level deeper.
        var expression = Schema.oneOf(leaves).named("\(name)Expression\(maxDepth)")
        for depth in stride(from: maxDepth - 1, through: 1, by: -1) {
            let logical = object(Keys.logical, ["type": .oneOf(["and", "or"]), "sub_expressions": .array(expression, minItems: 2), "invert": flag])
            expression = Schema.oneOf(leaves + [logical]).named(depth == 1 ? "\(name)Expression" : "\(name)Expression\(depth)")
        }
        let orderBy = object(Keys.orderBy, ["field": fieldNames, "ascending": flag, "nulls_first": flag])
        return object(Keys.spec, [
            "expressions": Schema.array(expression).orNull.described("Applied one after another (AND)"),
            "order_by": Schema.array(orderBy).orNull,
            "include_inactive": flag,
        ]).named(name)
    }
}
