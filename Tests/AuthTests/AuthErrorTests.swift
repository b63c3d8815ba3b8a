import Auth
import Core
import Testing

/// `AuthError` maps each case to one code and status.
@Suite struct AuthErrorTests {
    @Test(arguments: [
        (AuthError.organizationNotFound(slug: "acme"), 404, "ORGANIZATION_NOT_FOUND"),
        (.organizationExists(slug: "acme"), 409, "ORGANIZATION_EXISTS"),
        (.userNotFound(username: "bob"), 404, "USER_NOT_FOUND"),
        (.userExists(username: "bob"), 409, "USER_EXISTS"),
    ])
    func statusAndCode(_ error: AuthError, _ status: Int, _ code: String) {
        #expect(error.status == status)
        #expect(error.code == code)
        #expect(error.exposesDetail)
    }

    @Test func detailsCarryTheirValues() {
        #expect(AuthError.organizationNotFound(slug: "acme").detail == "Organization acme does not exist")
        #expect(AuthError.userNotFound(username: "bob").detail == "No user bob")
    }
}
