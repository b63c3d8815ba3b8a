import Foundation
import Core

/// How a route establishes who calls it; declared at registration, so the OpenAPI document says what the code does.
public enum RouteAuthentication: String, Sendable {
    /// No credentials (health checks, login, the API index, pre-signed downloads).
    case none
    /// `Authorization: Bearer <token>` of a user.
    case bearer
    /// `Authorization: Basic base64(device_id:device_key)` of a device (the gateway API).
    case deviceBasic
    /// `Authorization: <token>` or `Authorization: Token <token>` (the EVRYTHNG dialect's API keys).
    case apiKey
}

/// Turns a request into the identity a handler receives, or throws (401). The HTTP layer knows no domain:
/// the identity type (`Caller`, `Device`) and the check come from the module that builds the authenticator.
///
/// ```swift
/// api.get("/me/", summary: "The caller", auth: auth.bearer) { request, caller in .json(caller.json) }
/// ```
public struct Authenticator<Identity>: Sendable {
    public let scheme: RouteAuthentication
    public let authenticate: @Sendable (Request) throws -> Identity

    public init(scheme: RouteAuthentication, authenticate: @escaping @Sendable (Request) throws -> Identity) {
        self.scheme = scheme
        self.authenticate = authenticate
    }
}

extension Authenticator where Identity == Void {
    /// A route anyone may call.
    public static var anonymous: Authenticator<Void> { Authenticator(scheme: .none) { _ in } }
}

/// Parses `Authorization` header values (RFC 9110 §11.6.2, RFC 6750, RFC 7617); the schemes are case-insensitive.
public enum AuthorizationHeader {
    /// Whether the request carries no `Authorization` header at all.
    public static func isMissing(_ request: Request) -> Bool { request.headers["Authorization"] == nil }

    /// The token of `Bearer <token>`, or nil when the header is missing or of another scheme.
    public static func bearerToken(_ request: Request) -> String? {
        credentials(request, scheme: "bearer")
    }

    /// `(user, password)` of `Basic base64(user:password)`, or nil when missing, of another scheme or malformed.
    public static func basic(_ request: Request) -> (user: String, password: String)? {
        guard let encoded = credentials(request, scheme: "basic"), encoded.utf8.count <= 1024,
              let data = Data(base64Encoded: encoded), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The key of `Authorization: <key>` or `Authorization: Token <key>` (EVRYTHNG's operator API keys); a `Bearer`
    /// value is accepted too. Nil when missing or empty.
    public static func apiKey(_ request: Request) -> String? {
        if let token = credentials(request, scheme: "token") ?? credentials(request, scheme: "bearer") { return token }
        guard let header = request.headers["Authorization"]?.trimmingCharacters(in: .whitespaces), !header.isEmpty,
              !header.contains(" ") else { return nil }
        return header
    }

    /// `<scheme> <value>` with the scheme compared ASCII case-insensitively; byte-wise, since it runs per request
    /// (`scheme` is lowercase ASCII).
    private static func credentials(_ request: Request, scheme: String) -> String? {
        guard let header = request.headers["Authorization"] else { return nil }
        let bytes = header.utf8
        var start = bytes.startIndex
        while start != bytes.endIndex, bytes[start] == 0x20 { start = bytes.index(after: start) }
        guard let space = bytes[start...].firstIndex(of: 0x20),
              bytes[start..<space].elementsEqual(scheme.utf8, by: { ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }) else { return nil }
        let value = header[bytes.index(after: space)...].trimmingSpacesAndTabs()
        return value.isEmpty ? nil : value
    }
}
