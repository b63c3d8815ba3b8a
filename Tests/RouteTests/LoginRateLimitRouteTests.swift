import Core
import DomainTestSupport
import Foundation
import Testing
import TestSupport

/// The login limits behind a proxy: `X-Forwarded-For` names the client only when the peer is a trusted proxy.
@Suite struct LoginRateLimitRouteTests {
    static func login(_ server: InProcessServer, _ password: String, forwardedFor: String) throws -> Int {
        try server.client(token: nil).request("POST", "/api/v2/auth/login/", json: .object([
            "username": .string("admin"), "password": .string(password),
        ]), headers: [("X-Forwarded-For", forwardedFor)], token: .some(nil)).status
    }

    @Test func behindATrustedProxyEachForwardedClientHasItsOwnCount() throws {
        let server = try InProcessServer(config: ["server.trusted_proxies": "127.0.0.1", "auth.login_max_failures": "2"])
        for _ in 0..<2 { #expect(try Self.login(server, "wrong", forwardedFor: "198.51.100.7") == 401) }
        #expect(try Self.login(server, "wrong", forwardedFor: "198.51.100.7") == 429)
        // Another client behind the same proxy is not locked out (the admin has no password: 401, not 429).
        #expect(try Self.login(server, "wrong", forwardedFor: "203.0.113.9") == 401)
        // Spoofed entries left of the real client do not help: the rightmost untrusted address counts.
        #expect(try Self.login(server, "wrong", forwardedFor: "203.0.113.50, 198.51.100.7") == 429)
    }

    @Test func withoutTrustedProxiesTheHeaderIsIgnored() throws {
        let server = try InProcessServer(config: ["auth.login_max_failures": "2"])
        for address in ["198.51.100.1", "198.51.100.2"] { #expect(try Self.login(server, "wrong", forwardedFor: address) == 401) }
        // A forged header cannot buy a fresh count.
        #expect(try Self.login(server, "wrong", forwardedFor: "198.51.100.3") == 429)
    }
}
