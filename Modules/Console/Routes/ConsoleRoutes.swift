import Core
import HTTP
import Platform

extension ConsoleModule {
    /// `GET /` (the page) and `GET /console/<file>` (one route per shipped file, so nothing outside the folder is reachable).
    public func registerRootRoutes(on root: RouteGroup) {
        guard let assets = loadAssets() else {
            root.on(.get, "/", summary: "Web console (its files were not found: 503)",
                    responses: [.content(503, "application/json", "The console's files were not found (the error envelope)")],
                    auth: .anonymous, blocking: false) { _ in
                .error(APIError.unavailable("The console's files were not found beside the executable (set console.assets)"))
            }
            return
        }
        let index = assets.files["index.html"]!
        root.on(.get, "/", summary: "Web console: the page", responses: Self.docs(index), auth: .anonymous, blocking: false) { request in
            Self.serve(index, to: request)
        }
        root.on(.get, "/console/", summary: "Web console: the page", responses: Self.docs(index), auth: .anonymous, blocking: false) { request in
            Self.serve(index, to: request)
        }
        for name in assets.files.keys.sorted() where name != "index.html" {
            let asset = assets.files[name]!
            root.on(.get, "/console/" + name, summary: "Web console file", responses: Self.docs(asset), auth: .anonymous,
                    blocking: false) { request in
                Self.serve(asset, to: request)
            }
        }
    }

    /// The policy of every console answer: only our own scripts, styles, images and API (no inline script or style,
    /// no frames, no plug-ins), nothing sniffed, no referrer.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        // Always revalidate (the ETag makes that a 304 without a body): a new build is seen at once, module imports
        // need no versioned names.
        ("Cache-Control", "no-cache"),
    ]

    /// The OpenAPI answers of a file: its bytes, or 304 when `If-None-Match` names its ETag.
    static func docs(_ asset: ConsoleAssets.Asset) -> [ResponseDoc] {
        let media = String(asset.contentType.split(separator: ";").first ?? "")
        return [.content(200, media, "The file (Cache-Control: no-cache, ETag)"),
                ResponseDoc(status: 304, description: "Not modified (If-None-Match named the current ETag)", schema: nil, contentType: nil)]
    }

    /// 200 with the bytes, or 304 when `If-None-Match` names the file's current ETag (or `*`).
    static func serve(_ asset: ConsoleAssets.Asset, to request: Request) -> Response {
        var headers = HTTPHeaders(securityHeaders)
        headers.add("ETag", asset.etag)
        if let condition = request.headers["If-None-Match"], matches(condition, etag: asset.etag) {
            return Response(status: 304, headers: headers)
        }
        headers.add("Content-Type", asset.contentType)
        return Response(status: 200, headers: headers, body: asset.bytes)
    }

    /// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 §13.1.2 asks for this header).
    static func matches(_ condition: String, etag: String) -> Bool {
        for candidate in condition.split(separator: ",") {
            var tag = candidate.trimmingSpacesAndTabs()
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            if tag == etag { return true }
        }
        return false
    }
}
