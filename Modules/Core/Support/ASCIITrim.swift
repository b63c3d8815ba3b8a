extension Substring {
    /// The text without leading and trailing spaces and tabs (HTTP's optional whitespace), without Foundation.
    public func trimmingSpacesAndTabs() -> String {
        let utf8 = self.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 { start = utf8.index(after: start) }
        while end > start {
            let before = utf8.index(before: end)
            guard utf8[before] == 0x20 || utf8[before] == 0x09 else { break }
            end = before
        }
        return String(self[start..<end])
    }

    /// ASCII-only lowercase (header tokens), without Unicode case mapping.
    public func asciiLowercased() -> String { String(self).asciiLowercased() }
}

extension String {
    /// The text without leading and trailing spaces and tabs (HTTP's optional whitespace), without Foundation.
    public func trimmingSpacesAndTabs() -> String { self[...].trimmingSpacesAndTabs() }

    /// ASCII-only lowercase (header tokens), without Unicode case mapping.
    public func asciiLowercased() -> String {
        guard utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return self }
        return String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
