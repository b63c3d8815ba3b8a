import Core
import HTTP

extension CompatModule {
    /// Mounts each dialect under its prefix with its own error shape.
    public func registerRootRoutes(on root: RouteGroup) {
        registerEvrythng(on: root.group("/compat/evrythng", tag: "compat-evrythng").renderingErrors(with: .evrythng))
        registerUfdl(on: root.group("/compat/ufdl", tag: "compat-ufdl").renderingErrors(with: .ufdl))
    }

    /// The absolute URL of `path` on the host the client addressed (EVRYTHNG's `Location` and `Link` are absolute).
    static func absoluteURL(_ request: Request, _ path: String) -> String {
        request.headers["Host"].map { "http://\($0)\(path)" } ?? path
    }

    /// A path segment percent-encoded (project ids are `[a-z0-9_-]`, so this is the identity for them).
    static func segment(_ text: String) -> String { PercentDecoding.encodeComponent(text) }
}
