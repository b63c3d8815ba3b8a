/// Which page of a list a client asked for (DESIGN §4): `page` from 1, `page_size` default 20, max 100.
public struct PageRequest: Sendable, Equatable {
    public static let defaultSize = 20
    public static let maxSize = 100

    public let page: Int
    public let pageSize: Int

    public init(page: Int = 1, pageSize: Int = PageRequest.defaultSize) {
        self.page = max(1, page)
        self.pageSize = min(max(1, pageSize), PageRequest.maxSize)
    }

    public var offset: Int { (page - 1) * pageSize }
    public var limit: Int { pageSize }

    /// Parses the query values: non-integers or values below 1 → 400 `VALIDATION_ERROR`;
    /// a `page_size` above 100 is clamped to 100; a page past the end is an empty page, not an error.
    public static func parse(page: String?, pageSize: String?) throws(APIError) -> PageRequest {
        var problems: [String: String] = [:]
        var pageNumber = 1
        var size = defaultSize
        if let page {
            if let value = Int(page), value >= 1, value <= 1_000_000 { pageNumber = value } else { problems["page"] = "must be an integer 1..1000000" }
        }
        if let pageSize {
            if let value = Int(pageSize), value >= 1 { size = min(value, maxSize) } else { problems["page_size"] = "must be an integer >= 1" }
        }
        if !problems.isEmpty { throw APIError.validation(problems) }
        return PageRequest(page: pageNumber, pageSize: size)
    }
}

/// One page of results and the total count.
public struct PageResult<Item: Sendable>: Sendable {
    public let count: Int64
    public let items: [Item]
    public init(count: Int64, items: [Item]) {
        self.count = count
        self.items = items
    }
}
