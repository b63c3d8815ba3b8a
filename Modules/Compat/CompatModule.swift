import Auth
import Core
import Platform
import Projects

/// The compatibility dialects (DESIGN §5.6): other vendors' project APIs served over Projects and Auth, so that their
/// existing clients work unchanged. Routes only: no tables, no project logic of its own (see docs/DECISIONS.md).
///
/// ```swift
/// let compat = CompatModule(projects: projects.service, auth: auth.service)   // serves /compat/evrythng/ and /compat/ufdl/
/// ```
public final class CompatModule: PlatformModule {
    public let name = "compat"
    let projects: ProjectService
    let auth: AuthService

    public init(projects: ProjectService, auth: AuthService) {
        self.projects = projects
        self.auth = auth
    }
}
