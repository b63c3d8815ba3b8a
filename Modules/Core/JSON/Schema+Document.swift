extension Schema {
    /// The schema as OpenAPI 3.1 JSON Schema. A named schema becomes a `$ref` and is rendered once into `components`
    /// (the `components/schemas` object being built).
    public func document(components: inout JSONObject) -> JSON {
        if let name {
            if components[name] == nil {
                components[name] = .null   // reserve the name first: a schema may refer to itself through a child
                var unnamed = self
                unnamed.name = nil
                unnamed.nullable = false
                components[name] = unnamed.document(components: &components)
            }
            let reference = JSON.object(["$ref": .string("#/components/schemas/\(name)")])
            return nullable ? .object(["anyOf": .array([reference, .object(["type": .string("null")])])]) : reference
        }
        var object = JSONObject()
        func type(_ name: String) {
            object.append("type", nullable ? .array([.string(name), .string("null")]) : .string(name))
        }
        switch kind {
        case .any: break
        case .string:
            type("string")
            if let allowed { object.append("enum", .array(allowed.map(JSON.string) + (nullable ? [.null] : []))) }
            if let length {
                if length.lowerBound > 0 { object.append("minLength", .int(length.lowerBound)) }
                object.append("maxLength", .int(length.upperBound))
            }
            if let pattern { object.append("pattern", .string(pattern)) }
            if let format { object.append("format", .string(format)) }
        case .integer, .number:
            type(kind == .integer ? "integer" : "number")
            if let minimum { object.append("minimum", .number(minimum)) }
            if let maximum { object.append("maximum", .number(maximum)) }
            if let allowedIntegers { object.append("enum", .array(allowedIntegers.map(JSON.int64) + (nullable ? [.null] : []))) }
        case .boolean: type("boolean")
        case .null: object.append("type", .string("null"))
        case .array(let items):
            type("array")
            object.append("items", items.document(components: &components))
            if let minItems { object.append("minItems", .int(minItems)) }
            if let maxItems { object.append("maxItems", .int(maxItems)) }
        case .object(let properties, let additional):
            type("object")
            if !properties.isEmpty {
                var rendered = JSONObject()
                for property in properties { rendered.append(property.name, property.schema.document(components: &components)) }
                object.append("properties", .object(rendered))
                let required = properties.filter(\.required).map { JSON.string($0.name) }
                if !required.isEmpty { object.append("required", .array(required)) }
            }
            switch additional {
            case .forbidden: object.append("additionalProperties", .bool(false))
            case .allowed: break
            case .matching(let values): object.append("additionalProperties", values.document(components: &components))
            }
            if let maxProperties { object.append("maxProperties", .int(maxProperties)) }
        case .oneOf(let schemas):
            var choices = schemas.map { $0.document(components: &components) }
            if nullable { choices.append(.object(["type": .string("null")])) }
            object.append("oneOf", .array(choices))
        }
        if let description { object.append("description", .string(description)) }
        return .object(object)
    }
}
