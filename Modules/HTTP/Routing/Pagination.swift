import Core

extension Request {
    /// `?page=&page_size=` as a `PageRequest` (400 on bad values, page_size clamped to 100).
    public func pageRequest() throws(APIError) -> PageRequest {
        try PageRequest.parse(page: query["page"], pageSize: query["page_size"])
    }

    /// The link to another page of the same list: the request's URL with `page` replaced.
    func pageLink(_ page: Int) -> String { link(replacing: "page", with: String(page)) }

    /// The request's absolute URL with query parameter `name` set to `value` (cursor and page links).
    public func link(replacing name: String, with value: String) -> String {
        var items = query.items.filter { $0.name != name }
        items.append((name, value))
        let queryText = items.map { "\(PercentDecoding.encodeComponent($0.name))=\(PercentDecoding.encodeComponent($0.value))" }
            .joined(separator: "&")
        let rawPath = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        let base = headers["Host"].map { "http://\($0)" } ?? ""
        return "\(base)\(rawPath)?\(queryText)"
    }
}

extension Response {
    /// The DESIGN §4 page envelope `{"count", "next", "previous", "results"}`.
    public static func page<Item: JSONRepresentable & Sendable>(_ result: PageResult<Item>, of pageRequest: PageRequest, for request: Request) -> Response {
        let hasNext = Int64(pageRequest.offset + result.items.count) < result.count && !result.items.isEmpty
        let hasPrevious = pageRequest.page > 1
        var object = JSONObject()
        object.append("count", .int64(result.count))
        object.append("next", hasNext ? .string(request.pageLink(pageRequest.page + 1)) : .null)
        object.append("previous", hasPrevious ? .string(request.pageLink(pageRequest.page - 1)) : .null)
        object.append("results", .array(result.items.map(\.json)))
        return .json(object)
    }
}
