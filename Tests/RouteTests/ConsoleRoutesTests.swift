import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// The web console's files as the server answers them (issue 12): the page at `/`, its assets under `/console/`,
/// the security headers, ETag revalidation, and two checks on the shipped JavaScript that a browser would only
/// report at run time: every module import resolves to a served file, and every label has its Chinese translation.
@Suite struct ConsoleRoutesTests {
    let client: HTTPTestClient

    init() throws { client = HTTPTestClient(responder: try Shared.get().responder) }

    /// Every served asset name: the page's own references, then whatever the scripts import, transitively.
    func scripts() throws -> [String: String] {
        var found: [String: String] = [:]
        var queue = ["/console/app.js"]
        while let path = queue.popLast() {
            guard found[path] == nil else { continue }
            let response = try client.get(path)
            #expect(response.status == 200, "\(path) answered \(response.status)")
            found[path] = response.text
            for name in Self.imports(in: response.text) {
                let base = (path as NSString).deletingLastPathComponent
                queue.append(((base + "/" + name) as NSString).standardizingPath)
            }
        }
        return found
    }

    /// `from './x.js'` and `import './x.js'` specifiers of a module.
    static func imports(in source: String) -> [String] {
        var names: [String] = []
        for marker in ["from '", "import '"] {
            var rest = source[...]
            while let range = rest.range(of: marker) {
                let after = rest[range.upperBound...]
                guard let end = after.firstIndex(of: "'") else { break }
                names.append(String(after[..<end]))
                rest = after[end...]
            }
        }
        return names
    }

    /// The literal keys of `t('…')` / `t("…")` calls.
    static func labels(in source: String) -> Set<String> {
        var keys: Set<String> = []
        let scalars = Array(source.unicodeScalars)
        var index = 0
        while index + 2 < scalars.count {
            let isCall = scalars[index] == "t" && scalars[index + 1] == "(" && (scalars[index + 2] == "'" || scalars[index + 2] == "\"")
            let standalone = index == 0 || !(CharacterSet.alphanumerics.contains(scalars[index - 1]) || scalars[index - 1] == "." || scalars[index - 1] == "_")
            guard isCall, standalone else { index += 1; continue }
            let quote = scalars[index + 2]
            var key = String.UnicodeScalarView()
            var cursor = index + 3
            while cursor < scalars.count, scalars[cursor] != quote {
                if scalars[cursor] == "\\", cursor + 1 < scalars.count { cursor += 1 }
                key.append(scalars[cursor])
                cursor += 1
            }
            keys.insert(String(key))
            index = cursor + 1
        }
        return keys
    }

    @Test func thePageIsServedAtTheRootWithAStrictPolicy() throws {
        let page = try client.get("/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        let policy = try #require(page.header("Content-Security-Policy"))
        #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("style-src 'self'"))
        #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
        #expect(page.header("X-Content-Type-Options") == "nosniff")
        #expect(page.header("Cache-Control") == "no-cache")
        #expect(page.text.contains("<script type=\"module\" src=\"/console/app.js\"></script>"))
        // No inline script or style: every <script> has a src, and there is no <style> or style="" at all.
        #expect(!page.text.contains("<script>") && !page.text.contains("<style") && !page.text.contains("style=\""))
        #expect(try client.get("/console/").text == page.text)
    }

    @Test func assetsCarryTheirTypesAndUnknownNamesAre404() throws {
        #expect(try client.get("/console/app.js").header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(try client.get("/console/app.css").header("Content-Type") == "text/css; charset=utf-8")
        #expect(try client.get("/console/favicon.svg").header("Content-Type") == "image/svg+xml")
        #expect(try client.get("/console/missing.js").status == 404)
        #expect(try client.get("/console/../Package.swift").status == 404)
        #expect(try client.get("/console/index.html").status == 404)   // the page is served at / only
        let head = try client.request("HEAD", "/console/app.js")
        #expect(head.status == 200 && head.header("ETag") != nil)
    }

    @Test func aMatchingETagAnswers304WithoutABody() throws {
        let first = try client.get("/console/app.js")
        let etag = try #require(first.header("ETag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 34)
        for condition in [etag, "W/" + etag, "\"other\", " + etag, "*"] {
            let again = try client.request("GET", "/console/app.js", headers: [("If-None-Match", condition)])
            #expect(again.status == 304, "If-None-Match: \(condition)")
            #expect(again.body.isEmpty && again.header("ETag") == etag)
            #expect(again.header("Content-Security-Policy") != nil)
        }
        let stale = try client.request("GET", "/console/app.js", headers: [("If-None-Match", "\"0123\"")])
        #expect(stale.status == 200 && stale.body == first.body)
        #expect(try client.get("/console/app.css").header("ETag") != etag)
    }

    @Test func everyModuleImportResolvesToAServedFile() throws {
        let scripts = try scripts()
        #expect(scripts.count >= 10)
        for name in ["/console/api.js", "/console/i18n.js", "/console/chart.js", "/console/pages/device.js"] {
            #expect(scripts[name] != nil, "\(name) is not reached from app.js")
        }
    }

    @Test func everyLabelHasAChineseTranslation() throws {
        let scripts = try scripts()
        let dictionary = try #require(scripts["/console/i18n-zh.js"])
        var translated: Set<String> = []
        for line in dictionary.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard let quote = trimmed.first, quote == "'" || quote == "\"" else { continue }
            let body = trimmed.dropFirst()
            guard let end = body.firstIndex(of: quote) else { continue }
            translated.insert(String(body[..<end]))
        }
        var used: Set<String> = []
        for (path, source) in scripts where path != "/console/i18n-zh.js" { used.formUnion(Self.labels(in: source)) }
        #expect(used.count > 100)
        let missing = used.subtracting(translated).sorted()
        #expect(missing.isEmpty, "labels without a Chinese translation: \(missing)")
    }
}
