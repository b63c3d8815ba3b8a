import Core

/// A route handler: takes the request (with path parameters), returns a response or throws a `PlatformError`.
public typealias Handler = @Sendable (Request) throws -> Response

/// One registered route, as the OpenAPI document and `/metrics` see it.
public struct RouteInfo: Sendable {
    public let method: HTTPMethod
    /// The full pattern, e.g. `/api/v2/projects/:project_id/`.
    public let pattern: String
    public let summary: String
    /// The module that registered it (an OpenAPI tag).
    public let tag: String
    /// How the route authenticates its caller: true by construction, since the handler only runs with the
    /// identity its `Authenticator` produced.
    public let authentication: RouteAuthentication
    /// Body, query parameters and responses, as registered with the route.
    public let docs: RouteDocs

    public init(method: HTTPMethod, pattern: String, summary: String, tag: String, authentication: RouteAuthentication,
                docs: RouteDocs = RouteDocs()) {
        self.method = method
        self.pattern = pattern
        self.summary = summary
        self.tag = tag
        self.authentication = authentication
        self.docs = docs
    }
}

/// Builds the routing table at startup ("build mutable, run frozen"): modules add routes through
/// `RouteGroup`s, then `freeze()` hands an immutable, `Sendable` `RouterTable` to the server.
public final class Router {
    fileprivate var root = RouteNode()
    public private(set) var routes: [RouteInfo] = []
    /// Error shapes of route groups, by path prefix (segments); the longest matching prefix wins.
    fileprivate var renderers: [(prefix: [String], renderer: ErrorRenderer)] = []

    public init() {}

    /// A group of routes under `prefix` (e.g. `/api/v2`), tagged with `tag`.
    public func group(_ prefix: String, tag: String = "") -> RouteGroup {
        RouteGroup(router: self, prefix: prefix, tag: tag)
    }

    /// Registers `handler` for `method` and `path`. Path segments starting with `:` capture a parameter.
    /// A trailing slash is optional when matching: `/api/v2/projects/` also answers `/api/v2/projects`.
    public func add<Identity>(_ method: HTTPMethod, _ path: String, summary: String = "", tag: String = "", docs: RouteDocs = RouteDocs(),
                              auth authenticator: Authenticator<Identity>, blocking: Bool? = nil,
                              handler: @escaping @Sendable (Request, Identity) throws -> Response) {
        let handler: Handler = { request in try handler(request, authenticator.authenticate(request)) }
        let segments = RouteNode.segments(of: path)
        var node = root
        node.insert(segments[...], method: method, pattern: path, handler: handler, blocking: blocking ?? !method.isSafe)
        root = node
        routes.append(RouteInfo(method: method, pattern: path, summary: summary, tag: tag, authentication: authenticator.scheme,
                                docs: docs))
    }

    /// Renders every error under `prefix` with `renderer` instead of the platform's envelope.
    public func renderErrors(under prefix: String, with renderer: ErrorRenderer) {
        let segments = RouteNode.segments(of: prefix)
        renderers.removeAll { $0.prefix == segments }
        renderers.append((segments, renderer))
    }

    /// How errors under `path` are rendered (the renderer of the longest registered prefix, else the platform's); the
    /// OpenAPI document asks it for each route's error schema.
    public func errorRenderer(for path: String) -> ErrorRenderer { ErrorRenderer.longestPrefix(renderers, path) }

    /// The immutable routing table.
    public func freeze() -> RouterTable { RouterTable(root: FrozenRouteNode(root), routes: routes, renderers: renderers) }
}

extension ErrorRenderer {
    /// The renderer of the longest prefix in `renderers` that `path` lies under, else the platform's.
    fileprivate static func longestPrefix(_ renderers: [(prefix: [String], renderer: ErrorRenderer)], _ path: String) -> ErrorRenderer {
        renderers.isEmpty ? .platform : longestPrefix(renderers, segments: RouteNode.segments(of: path))
    }

    fileprivate static func longestPrefix(_ renderers: [(prefix: [String], renderer: ErrorRenderer)], segments: [String]) -> ErrorRenderer {
        // Per request: indices and element compares, no tuple copies (each would retain a renderer).
        var best = -1
        var bestLength = -1
        for index in renderers.indices {
            let count = renderers[index].prefix.count
            guard count <= segments.count, count > bestLength else { continue }
            var matches = true
            for position in 0..<count where renderers[index].prefix[position] != segments[position] {
                matches = false
                break
            }
            if matches { (best, bestLength) = (index, count) }
        }
        return best >= 0 ? renderers[best].renderer : .platform
    }
}

/// Routes under a common prefix, handed to a module so it never sees the server.
public struct RouteGroup {
    let router: Router
    public let prefix: String
    public let tag: String

    public func group(_ path: String, tag: String? = nil) -> RouteGroup {
        RouteGroup(router: router, prefix: join(path), tag: tag ?? self.tag)
    }

    /// This group, with every error under its prefix (its routes' and the router's own 404/405) rendered by `renderer`.
    public func renderingErrors(with renderer: ErrorRenderer) -> RouteGroup {
        router.renderErrors(under: prefix, with: renderer)
        return self
    }

    private func join(_ path: String) -> String {
        let base = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        return base + (path.hasPrefix("/") ? path : "/" + path)
    }

    /// Registers a route whose handler receives the identity `auth` established (401 before the handler otherwise).
    /// `body`, `query` and `responses` document it (the OpenAPI document is rendered from them): pass the same
    /// `Schema` values the handler parses and encodes with. `blocking`: whether the handler may wait (a commit, a
    /// file, a long query) and so runs on the server's small blocking pool instead of its event loop; by default safe
    /// methods (GET, HEAD, OPTIONS) run on the loop and the others (which wait for the database writer) on the pool.
    public func on<Identity>(_ method: HTTPMethod, _ path: String, summary: String = "", body: RequestBody? = nil, query: [QueryParameter] = [],
                             responses: [ResponseDoc] = [], auth: Authenticator<Identity>, blocking: Bool? = nil,
                             use handler: @escaping @Sendable (Request, Identity) throws -> Response) {
        router.add(method, join(path), summary: summary, tag: tag, docs: RouteDocs(body: body, query: query, responses: responses), auth: auth,
                   blocking: blocking, handler: handler)
    }

    /// Registers a route anyone may call: `auth: .anonymous` spells that out at the call site.
    public func on(_ method: HTTPMethod, _ path: String, summary: String = "", body: RequestBody? = nil, query: [QueryParameter] = [],
                   responses: [ResponseDoc] = [], auth: Authenticator<Void>, blocking: Bool? = nil, use handler: @escaping Handler) {
        on(method, path, summary: summary, body: body, query: query, responses: responses, auth: auth, blocking: blocking) { request, _ in
            try handler(request)
        }
    }

    /// `group.get(path, summary:, body:, query:, responses:, auth:) { request, identity in … }` registers a GET route:
    /// `on(.get, …)` with the default `blocking`. With `auth: .anonymous` the handler may take only the request.
    public var get: MethodRoutes { MethodRoutes(group: self, method: .get) }
    /// `group.post(…)` registers a POST route, as `get` does a GET one.
    public var post: MethodRoutes { MethodRoutes(group: self, method: .post) }
    /// `group.patch(…)` registers a PATCH route, as `get` does a GET one.
    public var patch: MethodRoutes { MethodRoutes(group: self, method: .patch) }
    /// `group.put(…)` registers a PUT route, as `get` does a GET one.
    public var put: MethodRoutes { MethodRoutes(group: self, method: .put) }
    /// `group.delete(…)` registers a DELETE route, as `get` does a GET one.
    public var delete: MethodRoutes { MethodRoutes(group: self, method: .delete) }
}

/// The registration of one method's routes on a group, called as a function: `group.post("/x/", auth: bearer) { … }`
/// is `group.on(.post, "/x/", auth: bearer) { … }` with the default `blocking` (see `RouteGroup.on` for the parameters).
public struct MethodRoutes {
    let group: RouteGroup
    let method: HTTPMethod

    /// Registers a route whose handler receives the identity `auth` established.
    public func callAsFunction<I>(_ path: String, summary: String = "", body: RequestBody? = nil, query: [QueryParameter] = [],
                                  responses: [ResponseDoc] = [], auth: Authenticator<I>,
                                  use handler: @escaping @Sendable (Request, I) throws -> Response) {
        group.on(method, path, summary: summary, body: body, query: query, responses: responses, auth: auth, use: handler)
    }

    /// Registers a route anyone may call, whose handler takes only the request.
    public func callAsFunction(_ path: String, summary: String = "", body: RequestBody? = nil, query: [QueryParameter] = [],
                               responses: [ResponseDoc] = [], auth: Authenticator<Void>, use handler: @escaping Handler) {
        group.on(method, path, summary: summary, body: body, query: query, responses: responses, auth: auth, use: handler)
    }
}

/// The outcome of looking a request up in the table.
public enum RouteMatch: Sendable {
    case found(Handler, pattern: String, parameters: Parameters, blocking: Bool)
    /// The path exists but not for this method.
    case methodNotAllowed(allow: [String])
    case notFound
}

/// The frozen routing table: a segment trie, literal segments before parameters.
public struct RouterTable: Sendable {
    fileprivate let root: FrozenRouteNode
    public let routes: [RouteInfo]
    fileprivate let renderers: [(prefix: [String], renderer: ErrorRenderer)]

    /// How errors of a request to `path` are rendered: the renderer of the longest registered prefix, else the platform's.
    public func errorRenderer(for path: String) -> ErrorRenderer { ErrorRenderer.longestPrefix(renderers, path) }

    /// The route of `method path` (its error renderer is looked up apart, and only when a request fails).
    public func match(method: HTTPMethod, path: String) -> RouteMatch {
        match(method: method, segments: RouteNode.segments(of: path))
    }

    private func match(method: HTTPMethod, segments: [String]) -> RouteMatch {
        // An empty segment inside the path (`//`) never matches a route.
        if segments.dropLast().contains(where: \.isEmpty) { return .notFound }
        var captured: [(String, String)] = []
        guard let node = root.find(segments[...], captured: &captured) else { return .notFound }
        let lookup = method == .head ? HTTPMethod.get : method
        if let entry = node.entry(for: lookup) ?? (method == .head ? node.entry(for: .head) : nil) {
            var parameters = Parameters()
            for (name, value) in captured { parameters.set(name, value) }
            return .found(entry.handler, pattern: entry.pattern, parameters: parameters, blocking: entry.blocking)
        }
        var allow = node.methods.map(\.method.rawValue)
        if allow.contains("GET"), !allow.contains("HEAD") { allow.append("HEAD") }
        return .methodNotAllowed(allow: allow.sorted())
    }
}

extension RouterTable {
    /// The registered route a request to `method path` reaches, if any (HEAD reaches GET's); for tests and tools that
    /// hold a response against what its route documents (not used on the request path).
    public func route(method: HTTPMethod, path: String) -> RouteInfo? {
        guard case .found(_, let pattern, _, _) = match(method: method, path: path) else { return nil }
        let lookup = method == .head ? HTTPMethod.get : method
        return routes.first { $0.pattern == pattern && $0.method == lookup } ?? routes.first { $0.pattern == pattern && $0.method == method }
    }

    /// Whether the route `method path` leads to may block (it then runs off the event loop). Unknown paths and
    /// methods are answered at once (404/405), so they never block.
    public func mayBlock(method: HTTPMethod, path: String) -> Bool {
        if case .found(_, _, _, let blocking) = match(method: method, path: path) { return blocking }
        return false
    }
}

/// A trie node: handlers by method, literal children, one parameter child.
struct RouteNode: Sendable {
    struct Entry: Sendable {
        let handler: Handler
        let pattern: String
        let blocking: Bool
    }

    var handlers: [HTTPMethod: Entry] = [:]
    var literals: [String: RouteNode] = [:]
    var parameterName: String?
    var parameter: [RouteNode] = []   // zero or one element (a struct cannot contain itself directly)

    /// Path segments without empty leading/trailing ones: `/a/b/` → ["a", "b"]. Splits the UTF-8 bytes at `/` (an
    /// ASCII byte is always a scalar boundary), so no grapheme breaking runs on the request path.
    static func segments(of path: String) -> [String] {
        let bytes = path.utf8
        var parts: [String] = []
        parts.reserveCapacity(8)
        var start = bytes.startIndex
        var index = start
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "/") {
                parts.append(String(Substring(bytes[start..<index])))
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        parts.append(String(Substring(bytes[start..<index])))
        if parts.first == "" { parts.removeFirst() }
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    mutating func insert(_ segments: ArraySlice<String>, method: HTTPMethod, pattern: String, handler: @escaping Handler, blocking: Bool) {
        guard let first = segments.first else {
            precondition(handlers[method] == nil, "Route registered twice: \(method) \(pattern)")
            handlers[method] = Entry(handler: handler, pattern: pattern, blocking: blocking)
            return
        }
        if first.hasPrefix(":") {
            let name = String(first.dropFirst())
            precondition(parameterName == nil || parameterName == name, "Conflicting parameter names at \(pattern)")
            parameterName = name
            var child = parameter.first ?? RouteNode()
            child.insert(segments.dropFirst(), method: method, pattern: pattern, handler: handler, blocking: blocking)
            parameter = [child]
        } else {
            var child = literals[first] ?? RouteNode()
            child.insert(segments.dropFirst(), method: method, pattern: pattern, handler: handler, blocking: blocking)
            literals[first] = child
        }
    }
}

/// The trie as the request path reads it: immutable nodes reached by reference, so a lookup copies no dictionaries.
/// A node has few literal children and few methods, so both are scanned linearly (comparing short strings is cheaper
/// than hashing them); a node with many literal children also keeps them in a dictionary.
final class FrozenRouteNode: Sendable {
    let methods: [(method: HTTPMethod, entry: RouteNode.Entry)]
    let literals: [(segment: String, node: FrozenRouteNode)]
    let literalIndex: [String: FrozenRouteNode]?
    let parameterName: String?
    let parameter: FrozenRouteNode?

    static let linearLimit = 8

    init(_ node: RouteNode) {
        methods = node.handlers.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key, $0.value) }
        literals = node.literals.sorted { $0.key < $1.key }.map { ($0.key, FrozenRouteNode($0.value)) }
        literalIndex = literals.count > Self.linearLimit ? Dictionary(uniqueKeysWithValues: literals.map { ($0.segment, $0.node) }) : nil
        parameterName = node.parameterName
        parameter = node.parameter.first.map(FrozenRouteNode.init)
    }

    var hasHandlers: Bool { !methods.isEmpty }

    func entry(for method: HTTPMethod) -> RouteNode.Entry? {
        for candidate in methods where candidate.method == method { return candidate.entry }
        return nil
    }

    func literal(_ segment: String) -> FrozenRouteNode? {
        if let literalIndex { return literalIndex[segment] }
        for candidate in literals where candidate.segment == segment { return candidate.node }
        return nil
    }

    func find(_ segments: ArraySlice<String>, captured: inout [(String, String)]) -> FrozenRouteNode? {
        guard let first = segments.first else { return hasHandlers ? self : nil }
        if let child = literal(first), let found = child.find(segments.dropFirst(), captured: &captured) {
            return found
        }
        if let name = parameterName, let child = parameter, !first.isEmpty {
            captured.append((name, first))
            if let found = child.find(segments.dropFirst(), captured: &captured) { return found }
            captured.removeLast()
        }
        return nil
    }
}
