import Core

/// List filters (`GET /api/v2/projects/`): `search` (name, case-insensitive substring), `tag` (repeatable: all
/// must match), `favorite` (true/false), `identifiers.<key>=value` (repeatable: all must match).
public struct ProjectFilter: Sendable, Equatable {
    public var search: String?
    public var tags: [String]
    public var favorite: Bool?
    public var identifiers: [(key: String, value: String)]

    public init(search: String? = nil, tags: [String] = [], favorite: Bool? = nil, identifiers: [(key: String, value: String)] = []) {
        self.search = search
        self.tags = tags
        self.favorite = favorite
        self.identifiers = identifiers
    }

    public static func == (a: ProjectFilter, b: ProjectFilter) -> Bool {
        a.search == b.search && a.tags == b.tags && a.favorite == b.favorite
            && a.identifiers.map { [$0.key, $0.value] } == b.identifiers.map { [$0.key, $0.value] }
    }

    /// Parses query items; a bad value → 400 `VALIDATION_ERROR` naming the parameter. Other parameters
    /// (`page`, `page_size`, unknown ones) are not this parser's business and are ignored.
    public static func parse(_ items: [(name: String, value: String)]) throws(APIError) -> ProjectFilter {
        var filter = ProjectFilter()
        var problems: [String: String] = [:]
        for (name, value) in items {
            switch name {
            case "search":
                if !ProjectLimits.searchLength.contains(value.count) {
                    problems["search"] = "length must be at most \(ProjectLimits.searchLength.upperBound)"
                } else {
                    filter.search = value.isEmpty ? nil : value
                }
            case "tag":
                if ProjectLimits.tagLength.contains(value.count) {
                    filter.tags.append(value)
                } else {
                    problems["tag"] = "length must be 1..\(ProjectLimits.tagLength.upperBound)"
                }
            case "favorite":
                switch value.lowercased() {
                case "true": filter.favorite = true
                case "false": filter.favorite = false
                default: problems["favorite"] = "must be true or false"
                }
            default:
                guard name.hasPrefix("identifiers.") else { continue }
                let key = String(name.dropFirst("identifiers.".count))
                if !ProjectLimits.identifierKeyLength.contains(key.count) {
                    problems[name] = "identifier key length must be 1..\(ProjectLimits.identifierKeyLength.upperBound)"
                } else if !ProjectLimits.identifierValueLength.contains(value.count) {
                    problems[name] = "length must be 1..\(ProjectLimits.identifierValueLength.upperBound)"
                } else {
                    filter.identifiers.append((key, value))
                }
            }
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return filter
    }

    /// A stable, unambiguous text form, for cache keys.
    var cacheKey: String {
        let identifierPairs = identifiers.map { [$0.key, $0.value] }.sorted { $0.lexicographicallyPrecedes($1) }
        return JSONWriter.string(.array([
            .optional(search), favorite.map(JSON.bool) ?? .null, .array(tags.sorted().map(JSON.string)),
            .array(identifierPairs.map { .array($0.map(JSON.string)) }),
        ]))
    }
}
