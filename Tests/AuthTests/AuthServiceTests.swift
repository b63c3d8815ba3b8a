import Auth
import Core
import Foundation
import HTTP
import Platform
import Testing
import TestSupport

/// One org `acme` (owner alice, manager bob, viewer carol) and one org `globex` (owner gina).
final class AuthFixture: @unchecked Sendable {
    let test: TestContext
    let auth: AuthService
    let platform: Platform

    init(config: [String: String] = [:]) throws {
        test = try TestContext(config: config)
        let module = AuthModule(context: test.context)
        platform = Platform(context: test.context, modules: [module])
        try platform.migrate()
        auth = module.service
        _ = try auth.initialize(organizationSlug: "acme", organizationName: "Acme", username: "alice", password: "alice-password")
        _ = try auth.createUser(username: "bob", organizationSlug: "acme", role: .manager, password: "bob-password")
        _ = try auth.createUser(username: "carol", organizationSlug: "acme", role: .viewer, password: "carol-password")
        _ = try auth.initialize(organizationSlug: "globex", organizationName: "Globex", username: "gina", password: "gina-password")
    }

    func caller(_ username: String, _ request: TokenRequest = TokenRequest()) throws -> Caller {
        let issued = try auth.issueToken(username: username, request)
        return try auth.authenticate(token: issued.secret)
    }

    deinit { test.close() }
}

@Suite struct SecretsTests {
    @Test func sha256KnownVector() {
        #expect(Secrets.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// The token cache's key: the same digest as the stored hex, equal exactly when the inputs are.
    @Test func digestValueMatchesHex() {
        for text in ["", "abc", "iot_" + String(repeating: "x", count: 43), "zählerstand ✓", String(repeating: "a", count: 256)] {
            #expect(Secrets.sha256Digest(text).hex == Secrets.sha256Hex(text))
            #expect(Secrets.sha256Digest(text) == Secrets.sha256Digest(String(text)))
        }
        #expect(Secrets.sha256Digest("abc") != Secrets.sha256Digest("abd"))
        #expect(Set(["a", "b", "c", "a"].map(Secrets.sha256Digest)).count == 3)
    }

    @Test func tokensAreRandomAndPrefixed() {
        let a = Secrets.token()
        let b = Secrets.token()
        #expect(a != b)
        #expect(a.hasPrefix("iot_") && a.count == 47)
    }

    @Test func pbkdf2MatchesRFC7914TestVector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, dkLen=64.
        let derived = Secrets.pbkdf2(password: "passwd", salt: Array("salt".utf8), iterations: 1, length: 64)
        #expect(Secrets.hex(derived).hasPrefix("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"))
    }

    @Test func passwordHashesVerifyAndResistTampering() {
        let hash = PasswordHasher.hash("correct horse", iterations: 1000)
        #expect(hash.hasPrefix("pbkdf2_sha256$1000$"))
        #expect(PasswordHasher.verify("correct horse", against: hash))
        #expect(!PasswordHasher.verify("correct horsE", against: hash))
        #expect(!PasswordHasher.verify("correct horse", against: "pbkdf2_sha256$0$AAAA$AAAA"))
        #expect(!PasswordHasher.verify("correct horse", against: "garbage"))
        #expect(PasswordHasher.hash("x", iterations: 1000) != PasswordHasher.hash("x", iterations: 1000))
    }

    @Test func constantTimeEquality() {
        #expect(Secrets.constantTimeEquals("8K2P", "8K2P"))
        #expect(!Secrets.constantTimeEquals("8K2P", "8K2Q"))
        #expect(!Secrets.constantTimeEquals("8K2P", "8K2"))
    }
}

@Suite struct ScopeCheckerTests {
    @Test func validTokenAuthenticatesWithItsScope() throws {
        let fixture = try AuthFixture()
        let caller = try fixture.caller("bob", TokenRequest(projects: ["greenhouse-a"]))
        #expect(caller.username == "bob" && caller.role == .manager && caller.organizationSlug == "acme")
        #expect(!caller.allProjects && caller.projects == ["greenhouse-a"])
    }

    @Test(arguments: [nil, "", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer iot_not-a-real-token", "bearer   "])
    func badCredentialsAre401(_ header: String?) throws {
        let fixture = try AuthFixture()
        do {
            var headers = HTTPHeaders()
            if let header { headers.add("Authorization", header) }
            _ = try fixture.auth.bearer.authenticate(Request(method: .get, target: "/api/v2/me/", headers: headers))
            Issue.record("expected 401")
        } catch let error as APIError {
            #expect(error.status == 401 && error.code == "UNAUTHORIZED")
        }
    }

    @Test func revokedAndExpiredTokensAre401() throws {
        let fixture = try AuthFixture()
        let revoked = try fixture.auth.issueToken(username: "alice", TokenRequest())
        try fixture.auth.revokeToken(id: revoked.record.id)
        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: revoked.secret) }
        let expiring = try fixture.auth.issueToken(username: "alice", TokenRequest(expiresIn: 60))
        _ = try fixture.auth.authenticate(token: expiring.secret)
        fixture.test.clock.advance(by: 61)
        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: expiring.secret) }
    }

    @Test func authorizeMatrix() throws {
        let fixture = try AuthFixture()
        let acme = try #require(try fixture.auth.organization(slug: "acme"))
        let globex = try #require(try fixture.auth.organization(slug: "globex"))
        let notFound = APIError.notFound("Project p1 not found")
        let owner = try fixture.caller("alice")
        let viewer = try fixture.caller("carol")
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["p1"]))

        func status(_ caller: Caller, _ project: String, _ org: Int64, _ access: Caller.Access) -> Int {
            do {
                try caller.authorize(projectID: project, organizationID: org, access: access, notFound: notFound)
                return 200
            } catch let error as any PlatformError {
                return error.status
            } catch {
                return -1
            }
        }
        #expect(status(owner, "p1", acme.id, .write) == 200)
        #expect(status(owner, "p1", globex.id, .read) == 404)       // another org's project is never revealed
        #expect(status(viewer, "p1", acme.id, .read) == 200)
        #expect(status(viewer, "p1", acme.id, .write) == 403)       // viewers cannot write
        #expect(status(scoped, "p1", acme.id, .write) == 200)
        #expect(status(scoped, "p2", acme.id, .read) == 403)        // outside the token's scope
        #expect(status(scoped, "p2", globex.id, .read) == 404)      // other org wins over scope: still 404
    }

    @Test func effectiveRoleIsCappedByTheUsersRole() throws {
        let fixture = try AuthFixture()
        #expect(throws: APIError.self) { _ = try fixture.auth.issueToken(username: "carol", TokenRequest(role: .owner)) }
        let viewerToken = try fixture.caller("bob", TokenRequest(role: .viewer))
        #expect(viewerToken.role == .viewer)
    }
}

@Suite struct TokenMintingTests {
    @Test func viewerCannotMint() throws {
        let fixture = try AuthFixture()
        let viewer = try fixture.caller("carol")
        #expect(throws: APIError.self) { _ = try fixture.auth.mintToken(by: viewer, TokenRequest()) }
    }

    @Test func neverMoreRoleOrProjectsThanTheMinter() throws {
        let fixture = try AuthFixture()
        let manager = try fixture.caller("bob")
        #expect(throws: APIError.self) { _ = try fixture.auth.mintToken(by: manager, TokenRequest(role: .owner)) }
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["p1", "p2"]))
        #expect(throws: APIError.self) { _ = try fixture.auth.mintToken(by: scoped, TokenRequest(allProjects: true)) }
        #expect(throws: APIError.self) { _ = try fixture.auth.mintToken(by: scoped, TokenRequest(projects: ["p3"])) }
        let child = try fixture.auth.mintToken(by: scoped, TokenRequest(role: .viewer, projects: ["p2"]))
        let childCaller = try fixture.auth.authenticate(token: child.secret)
        #expect(childCaller.role == .viewer && childCaller.projects == ["p2"] && !childCaller.allProjects)
        let inherited = try fixture.auth.mintToken(by: scoped, TokenRequest())
        #expect(inherited.record.projects == ["p1", "p2"] && !inherited.record.allProjects)
    }

    @Test func expiryNeverOutlivesTheMinter() throws {
        let fixture = try AuthFixture()
        let shortLived = try fixture.caller("alice", TokenRequest(expiresIn: 3600))
        let forever = try fixture.auth.mintToken(by: shortLived, TokenRequest())
        #expect(forever.record.expiresAt == shortLived.expiresAt)
        let longer = try fixture.auth.mintToken(by: shortLived, TokenRequest(expiresIn: 86_400))
        #expect(longer.record.expiresAt == shortLived.expiresAt)
        let shorter = try fixture.auth.mintToken(by: shortLived, TokenRequest(expiresIn: 60))
        #expect(shorter.record.expiresAt! < shortLived.expiresAt!)
    }

    @Test func visibilityAndRevocationRules() throws {
        let fixture = try AuthFixture()
        let viewer = try fixture.caller("carol")
        let manager = try fixture.caller("bob")
        let owner = try fixture.caller("alice")
        let gina = try fixture.caller("gina")
        // Viewers list only their own tokens; managers the organization's.
        let viewerList = try fixture.auth.tokens(visibleTo: viewer, page: PageRequest())
        #expect(viewerList.items.allSatisfy { $0.username == "carol" })
        let managerList = try fixture.auth.tokens(visibleTo: manager, page: PageRequest())
        #expect(Set(managerList.items.map(\.username)) == ["alice", "bob", "carol"])
        // Another org's token is 404, never revocable.
        do {
            try fixture.auth.revokeToken(id: owner.tokenID, by: gina)
            Issue.record("expected 404")
        } catch let error as APIError {
            #expect(error.status == 404)
        }
        // A manager cannot revoke the owner's token; the owner can revoke the manager's; anyone their own.
        #expect(throws: APIError.self) { try fixture.auth.revokeToken(id: owner.tokenID, by: manager) }
        try fixture.auth.revokeToken(id: viewer.tokenID, by: viewer)
        try fixture.auth.revokeToken(id: manager.tokenID, by: owner)
        #expect(throws: APIError.self) { _ = try fixture.auth.authenticate(token: "x") }
    }
}

@Suite struct ScopedTokenVisibilityTests {
    @Test func aProjectScopedManagerSeesOnlyItsOwnTokensAndTokensWithinItsScope() throws {
        let fixture = try AuthFixture()
        let scoped = try fixture.caller("bob", TokenRequest(name: "bob-p1", projects: ["p1"]))
        let bobAll = try fixture.auth.issueToken(username: "bob", TokenRequest(name: "bob-all"))
        let aliceAll = try fixture.auth.issueToken(username: "alice", TokenRequest(name: "alice-all"))
        let carolAll = try fixture.auth.issueToken(username: "carol", TokenRequest(name: "carol-all"))
        let carolP1 = try fixture.auth.issueToken(username: "carol", TokenRequest(name: "carol-p1", projects: ["p1"]))
        let aliceP2 = try fixture.auth.issueToken(username: "alice", TokenRequest(name: "alice-p2", projects: ["p2"]))
        let aliceP1P2 = try fixture.auth.issueToken(username: "alice", TokenRequest(name: "alice-p1-p2", projects: ["p1", "p2"]))
        let ginaP1 = try fixture.auth.issueToken(username: "gina", TokenRequest(name: "gina-p1", projects: ["p1"]))

        let listed = try fixture.auth.tokens(visibleTo: scoped, page: PageRequest(page: 1, pageSize: 100))
        let names = Set(listed.items.map(\.name))
        // Itself and tokens scoped within ["p1"]; nothing wider, not even its own user's all-projects token.
        #expect(names == ["bob-p1", "carol-p1"], "\(names)")
        #expect(listed.count == 2)
        for hidden in [bobAll, aliceAll, carolAll, aliceP2, aliceP1P2, ginaP1] {
            #expect(!listed.items.contains { $0.id == hidden.record.id }, "\(hidden.record.name) is listed")
        }
        // Paging counts only what the caller may see.
        let firstPage = try fixture.auth.tokens(visibleTo: scoped, page: PageRequest(page: 1, pageSize: 1))
        let secondPage = try fixture.auth.tokens(visibleTo: scoped, page: PageRequest(page: 2, pageSize: 1))
        #expect(firstPage.count == 2 && firstPage.items.count == 1 && secondPage.items.count == 1)
        #expect(Set((firstPage.items + secondPage.items).map(\.id)).count == 2)
        // Reading one by id follows the same rule.
        #expect(try fixture.auth.token(id: carolP1.record.id, visibleTo: scoped).name == "carol-p1")
        #expect(throws: APIError.self) { try fixture.auth.token(id: bobAll.record.id, visibleTo: scoped) }
        // The same manager with an all-projects token still sees the whole organization.
        let unscoped = try fixture.auth.tokens(visibleTo: fixture.caller("bob"), page: PageRequest(page: 1, pageSize: 100))
        #expect(Set(unscoped.items.map(\.name)).isSuperset(of: ["alice-all", "carol-all", "alice-p2", "alice-p1-p2", "carol-p1"]))
    }

    @Test func anAllProjectsTokenOfAnotherUserIs404ToAScopedManagerAndStaysValid() throws {
        let fixture = try AuthFixture()
        let scoped = try fixture.caller("bob", TokenRequest(projects: ["p1"]))
        // A viewer's token: the manager's role would be enough to revoke it, only the scope stands in the way.
        let carolAll = try fixture.auth.issueToken(username: "carol", TokenRequest(name: "carol-all"))
        let aliceP2 = try fixture.auth.issueToken(username: "alice", TokenRequest(name: "alice-p2", role: .viewer, projects: ["p2"]))
        for target in [carolAll, aliceP2] {
            do {
                _ = try fixture.auth.token(id: target.record.id, visibleTo: scoped)
                Issue.record("expected 404 reading \(target.record.name)")
            } catch let error as APIError {
                #expect(error.status == 404)
            }
            do {
                try fixture.auth.revokeToken(id: target.record.id, by: scoped)
                Issue.record("expected 404 revoking \(target.record.name)")
            } catch let error as APIError {
                #expect(error.status == 404)
            }
            // Still valid.
            let caller = try fixture.auth.authenticate(token: target.secret)
            #expect(caller.tokenID == target.record.id)
        }
        // Nor its own user's all-projects token (a probe revoked one with a project-scoped token), nor as a viewer.
        let bobAll = try fixture.auth.issueToken(username: "bob", TokenRequest(name: "bob-all"))
        #expect(throws: APIError.self) { try fixture.auth.revokeToken(id: bobAll.record.id, by: scoped) }
        #expect(try fixture.auth.authenticate(token: bobAll.secret).tokenID == bobAll.record.id)
        let carolScoped = try fixture.caller("carol", TokenRequest(projects: ["p1"]))
        let carolWide = try fixture.auth.issueToken(username: "carol", TokenRequest(name: "carol-wide"))
        #expect(try fixture.auth.tokens(visibleTo: carolScoped, page: PageRequest(page: 1, pageSize: 100)).items.map(\.id) == [carolScoped.tokenID])
        #expect(throws: APIError.self) { try fixture.auth.revokeToken(id: carolWide.record.id, by: carolScoped) }
        // A token within the scope is revocable by it (the role allows).
        let carolP1 = try fixture.auth.issueToken(username: "carol", TokenRequest(name: "carol-p1", projects: ["p1"]))
        try fixture.auth.revokeToken(id: carolP1.record.id, by: scoped)
        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: carolP1.secret) }
    }
}

@Suite struct LoginTests {
    @Test func loginIssuesAnAllProjectsTokenWithTheUsersRole() throws {
        let fixture = try AuthFixture()
        let (issued, caller) = try fixture.auth.login(username: "bob", password: "bob-password", clientAddress: "10.0.0.1")
        #expect(caller.role == .manager && caller.allProjects)
        #expect(issued.record.expiresAt != nil)
    }

    static func login(_ fixture: AuthFixture, _ username: String, _ password: String, from address: String) -> Int {
        do {
            _ = try fixture.auth.login(username: username, password: password, clientAddress: address)
            return 200
        } catch let error as APIError {
            if error.status == 429 { #expect(error.code == "RATE_LIMITED" && error.headers.contains { $0.0 == "Retry-After" }) }
            return error.status
        } catch {
            return 500
        }
    }

    /// Failures count per (address, username) and per address (a probe locked everyone out behind one proxy, and
    /// could lock any named user out): a user's correct login from a fresh address works, another user's from the same
    /// address works until the address's own (higher) limit.
    @Test func failuresAreLimitedPerAddressAndUsernameAndPerAddress() throws {
        let fixture = try AuthFixture(config: ["auth.login_max_failures": "3", "auth.login_max_failures_per_address": "5",
                                               "auth.login_window": "60"])
        for _ in 0..<3 { #expect(Self.login(fixture, "bob", "wrong-password", from: "10.0.0.1") == 401) }
        #expect(Self.login(fixture, "bob", "bob-password", from: "10.0.0.1") == 429)
        // Bob from another address, and another user from the same address, are not locked out.
        #expect(Self.login(fixture, "bob", "bob-password", from: "10.0.0.2") == 200)
        #expect(Self.login(fixture, "carol", "carol-password", from: "10.0.0.1") == 200)
        // A flood of guesses at many names from one address reaches the address's limit (5 failures).
        for name in ["x1", "x2"] { #expect(Self.login(fixture, name, "guess", from: "10.0.0.1") == 401) }
        #expect(Self.login(fixture, "carol", "carol-password", from: "10.0.0.1") == 429)
        #expect(Self.login(fixture, "carol", "carol-password", from: "10.0.0.3") == 200)
        fixture.test.clock.advance(by: 61)
        #expect(Self.login(fixture, "bob", "bob-password", from: "10.0.0.1") == 200)
    }

    @Test func unknownUserAndWrongPasswordLookTheSame() throws {
        let fixture = try AuthFixture()
        var details: [String] = []
        for username in ["nobody", "bob"] {
            do {
                _ = try fixture.auth.login(username: username, password: "wrong-password", clientAddress: "1.1.1.1")
            } catch let error as APIError {
                details.append("\(error.status) \(error.code) \(error.detail)")
            }
        }
        #expect(details.count == 2 && details[0] == details[1])
    }
}

@Suite struct OrganizationTests {
    @Test func validatesAndRejectsDuplicates() throws {
        let fixture = try AuthFixture()
        #expect(throws: APIError.self) { _ = try fixture.auth.createOrganization(slug: "Bad Slug", name: "x") }
        #expect(throws: AuthError.organizationExists(slug: "acme")) { _ = try fixture.auth.createOrganization(slug: "acme", name: "Again") }
        #expect(throws: AuthError.userExists(username: "bob")) {
            _ = try fixture.auth.createUser(username: "bob", organizationSlug: "acme", role: .viewer, password: "password1")
        }
        #expect(throws: AuthError.organizationNotFound(slug: "nope")) {
            _ = try fixture.auth.createUser(username: "dave", organizationSlug: "nope", role: .viewer, password: "password1")
        }
        #expect(throws: APIError.self) { _ = try fixture.auth.createUser(username: "dave", organizationSlug: "acme", role: .viewer, password: "short") }
        #expect(try fixture.auth.organizations().map(\.slug) == ["acme", "globex"])
    }

    @Test func bootstrapOnlyOnAnEmptyDatabase() throws {
        let test = try TestContext()
        defer { test.close() }
        let module = AuthModule(context: test.context)
        try Platform(context: test.context, modules: [module]).migrate()
        let token = try #require(try module.service.bootstrapIfEmpty())
        let caller = try module.service.authenticate(token: token)
        #expect(caller.organizationSlug == "default" && caller.username == "admin" && caller.role == .owner)
        #expect(try module.service.bootstrapIfEmpty() == nil)
    }
}

@Suite struct TokenRevocationCascadeTests {
    @Test func revokingATokenRevokesEveryTokenMintedFromIt() throws {
        let fixture = try AuthFixture()
        let parent = try fixture.caller("bob")
        let child = try fixture.auth.mintToken(by: parent, TokenRequest(name: "child"))
        let childCaller = try fixture.auth.authenticate(token: child.secret)
        let grandchild = try fixture.auth.mintToken(by: childCaller, TokenRequest(name: "grandchild", role: .viewer))
        let unrelated = try fixture.auth.mintToken(by: try fixture.caller("alice"), TokenRequest(name: "unrelated"))

        try fixture.auth.revokeToken(id: parent.tokenID)

        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: child.secret) }
        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: grandchild.secret) }
        #expect(try fixture.auth.authenticate(token: unrelated.secret).tokenID == unrelated.record.id)
        // Revoking again is a no-op, and revoking a child leaves its parent alone.
        try fixture.auth.revokeToken(id: parent.tokenID)
        let other = try fixture.auth.issueToken(username: "bob", TokenRequest(name: "other"))
        let otherCaller = try fixture.auth.authenticate(token: other.secret)
        let otherChild = try fixture.auth.mintToken(by: otherCaller, TokenRequest(name: "other-child"))
        try fixture.auth.revokeToken(id: otherChild.record.id)
        #expect(try fixture.auth.authenticate(token: other.secret).tokenID == other.record.id)
        #expect(throws: APIError.self) { try fixture.auth.authenticate(token: otherChild.secret) }
    }
}
