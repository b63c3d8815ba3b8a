import Core
import Foundation
import HTTP
import Projects

/// An EVRYTHNG list query: `perPage` (default 30, 1…100), `sortOrder` (by creation), `filter`, `nextPageToken`.
public struct EvrythngListQuery: Sendable, Equatable {
    public var perPage = 30
    public var ascending = false
    /// Exact name (`name=`), checked after the SQL filter (tags, identifiers).
    public var name: String?
    public var filter = ProjectFilter()
    /// Where the previous page ended: (createdAt, pk) of its last project.
    public var after: (createdAt: Int64, pk: Int64)?

    public init() {}

    public static func == (a: EvrythngListQuery, b: EvrythngListQuery) -> Bool {
        a.perPage == b.perPage && a.ascending == b.ascending && a.name == b.name && a.filter == b.filter
            && a.after?.createdAt == b.after?.createdAt && a.after?.pk == b.after?.pk
    }

    /// The query parameters `parse` reads, as the route documents them.
    public static let parameters = [
        QueryParameter("perPage", .integer(1...100), "Items per page (default 30, at most 100)"),
        QueryParameter("sortOrder", .oneOf(["ASCENDING", "DESCENDING"]), "By creation time (default DESCENDING; any letter case)"),
        QueryParameter("filter", .string(), "name=…, tags=a,b and identifiers.<key>=… joined by &"),
        QueryParameter("nextPageToken", .string(), "The token of a Link rel=next header"),
    ]

    public static func parse(perPage: String?, sortOrder: String?, filter: String?, pageToken: String?) throws -> EvrythngListQuery {
        var query = EvrythngListQuery()
        if let perPage {
            guard let value = Int(perPage), (1...100).contains(value) else {
                throw APIError.validation(field: "perPage", "must be an integer from 1 to 100")
            }
            query.perPage = value
        }
        switch sortOrder?.uppercased() {
        case nil, "DESCENDING": query.ascending = false
        case "ASCENDING": query.ascending = true
        default: throw APIError.validation(field: "sortOrder", "must be ASCENDING or DESCENDING")
        }
        if let filter, !filter.isEmpty { try query.parseFilter(filter) }
        if let pageToken, !pageToken.isEmpty { query.after = try Self.decodeToken(pageToken) }
        return query
    }

    /// `name=A&tags=b,c&identifiers.gtin=1`: `&`-joined clauses, each value percent-decoded again (`+` is a space), so a
    /// filter encoded once or twice reads the same.
    mutating func parseFilter(_ text: String) throws {
        for clause in text.split(separator: "&", omittingEmptySubsequences: true) {
            guard let equals = clause.firstIndex(of: "=") else { throw CompatError.invalidFilter("filter clause \(clause) has no =") }
            let field = clause[..<equals].trimmingCharacters(in: .whitespaces)
            let raw = clause[clause.index(after: equals)...]
            let value = PercentDecoding.decode(raw, plusAsSpace: true) ?? String(raw)
            guard !value.isEmpty else { throw CompatError.invalidFilter("filter \(field) has an empty value") }
            switch field {
            case "name":
                name = value
            case "tags":
                for tag in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !tag.isEmpty {
                    guard ProjectLimits.tagLength.contains(tag.count) else { throw CompatError.invalidFilter("filter tags: a tag is 1..60 characters") }
                    filter.tags.append(tag)
                }
            default:
                guard field.hasPrefix("identifiers."), field.count > "identifiers.".count else {
                    throw CompatError.invalidFilter("filter on \(field) is not supported; filterable: name, tags, identifiers.<key>")
                }
                let key = String(field.dropFirst("identifiers.".count))
                guard ProjectLimits.identifierKeyLength.contains(key.count), ProjectLimits.identifierValueLength.contains(value.count) else {
                    throw CompatError.invalidFilter("filter \(field): key 1..64 and value 1..200 characters")
                }
                filter.identifiers.append((key, value))
            }
        }
    }

    /// The projects of one page and whether more remain, from every visible project that passed the SQL filter.
    public func page(of projects: [Project]) -> (items: [Project], more: Bool) {
        var matching = projects
        if let name { matching = matching.filter { $0.name == name } }
        matching.sort { a, b in
            if a.createdAt != b.createdAt { return ascending ? a.createdAt < b.createdAt : a.createdAt > b.createdAt }
            return ascending ? a.pk < b.pk : a.pk > b.pk
        }
        if let after {
            matching = matching.filter { project in
                if project.createdAt != after.createdAt { return ascending ? project.createdAt > after.createdAt : project.createdAt < after.createdAt }
                return ascending ? project.pk > after.pk : project.pk < after.pk
            }
        }
        return (Array(matching.prefix(perPage)), matching.count > perPage)
    }

    /// An opaque cursor: where a page ended.
    public static func token(after project: Project) -> String {
        let digits = Array("0123456789abcdef")
        return "v1.\(project.createdAt).\(project.pk)".utf8.map { "\(digits[Int($0 >> 4)])\(digits[Int($0 & 15)])" }.joined()
    }

    static func decodeToken(_ token: String) throws(CompatError) -> (createdAt: Int64, pk: Int64) {
        let hex = Array(token.utf8)
        guard hex.count.isMultiple(of: 2), hex.count <= 128 else { throw .invalidPageToken }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: hex.count, by: 2) {
            guard let byte = UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16) else { throw .invalidPageToken }
            bytes.append(byte)
        }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ".")
        guard parts.count == 3, parts[0] == "v1", let createdAt = Int64(parts[1]), let pk = Int64(parts[2]) else { throw .invalidPageToken }
        return (createdAt, pk)
    }
}
