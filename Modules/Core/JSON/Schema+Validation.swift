extension Schema {
    /// Where `value` departs from this schema, one line per problem with its JSON path (`$.results[0].name: …`);
    /// empty when it conforms. Tests check real responses against their routes' declared schemas with it.
    public func problems(in value: JSON, at path: String = "$") -> [String] {
        var found: [String] = []
        check(value, at: path, into: &found)
        return found
    }

    private func check(_ value: JSON, at path: String, into found: inout [String]) {
        if value.isNull {
            if !nullable && kind != .null && kind != .any { found.append("\(path): null where \(kindName) is required") }
            return
        }
        switch kind {
        case .any: return
        case .null: found.append("\(path): must be null, got \(value.typeName)")
        case .boolean: if value.boolValue == nil { found.append("\(path): must be a boolean, got \(value.typeName)") }
        case .string:
            guard case .string(let text) = value else { return found.append("\(path): must be a string, got \(value.typeName)") }
            if let length, !length.contains(text.unicodeScalars.count) {
                found.append("\(path): length \(text.unicodeScalars.count) outside \(length.lowerBound)..\(length.upperBound)")
            }
            if let allowed, !allowed.contains(text) { found.append("\(path): \(text) is not one of \(allowed.joined(separator: ", "))") }
            if let pattern, !Self.matches(text, pattern) { found.append("\(path): \(text) does not match \(pattern)") }
            if format == "date-time", !Self.isDateTime(text) { found.append("\(path): \(text) is not an RFC 3339 date-time") }
        case .integer, .number:
            guard case .number(let number) = value else { return found.append("\(path): must be a number, got \(value.typeName)") }
            if kind == .integer, number.rounded() != number { found.append("\(path): \(number) is not an integer") }
            if let minimum, number < minimum { found.append("\(path): \(number) < minimum \(minimum)") }
            if let maximum, number > maximum { found.append("\(path): \(number) > maximum \(maximum)") }
            if let allowedIntegers, !allowedIntegers.contains(where: { Double($0) == number }) {
                found.append("\(path): \(number) is not one of \(allowedIntegers.map(String.init).joined(separator: ", "))")
            }
        case .array(let items):
            guard case .array(let elements) = value else { return found.append("\(path): must be an array, got \(value.typeName)") }
            if let minItems, elements.count < minItems { found.append("\(path): \(elements.count) items < \(minItems)") }
            if let maxItems, elements.count > maxItems { found.append("\(path): \(elements.count) items > \(maxItems)") }
            for (index, element) in elements.enumerated() { items.check(element, at: "\(path)[\(index)]", into: &found) }
        case .object(let properties, let additional):
            guard case .object(let object) = value else { return found.append("\(path): must be an object, got \(value.typeName)") }
            if let maxProperties, object.count > maxProperties { found.append("\(path): \(object.count) keys > \(maxProperties)") }
            for property in properties {
                if let member = object[property.name] {
                    property.schema.check(member, at: "\(path).\(property.name)", into: &found)
                } else if property.required {
                    found.append("\(path).\(property.name): missing (required)")
                }
            }
            for entry in object.entries where property(entry.key) == nil {
                switch additional {
                case .forbidden: found.append("\(path).\(entry.key): not declared (additionalProperties: false)")
                case .allowed: break
                case .matching(let values): values.check(entry.value, at: "\(path).\(entry.key)", into: &found)
                }
            }
        case .oneOf(let schemas):
            let matching = schemas.filter { $0.problems(in: value).isEmpty }.count
            if matching != 1 { found.append("\(path): matches \(matching) of the \(schemas.count) oneOf choices, not exactly one") }
        }
    }

    private var kindName: String {
        switch kind {
        case .any: "any value"
        case .string: "a string"
        case .integer: "an integer"
        case .number: "a number"
        case .boolean: "a boolean"
        case .null: "null"
        case .array: "an array"
        case .object: "an object"
        case .oneOf: "one of several shapes"
        }
    }

    /// JSON Schema's `pattern` (an unanchored ECMA-262 search); our patterns are plain enough for Swift's `Regex`.
    private static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.firstMatch(in: text)) != nil
    }

    /// `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)`, as JSON Schema's `date-time` format (RFC 3339 §5.6).
    static func isDateTime(_ text: String) -> Bool {
        matches(text, #"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#)
    }
}
