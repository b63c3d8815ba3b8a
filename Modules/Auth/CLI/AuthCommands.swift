import Core
import Platform

/// `admin-cli` commands of the Auth module (DESIGN §6): init, org, user, token.
enum AuthCommands {
    static func all(_ auth: AuthService) -> [any CLICommand] {
        [
            SimpleCommand(["init"], summary: "Create the database, an organization and its owner; print the owner token",
                          usage: "--org SLUG --org-name NAME --user USERNAME --password PW [--json]",
                          options: ["org", "org-name", "user", "password"], flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                let (organization, user, token) = try auth.initialize(
                    organizationSlug: arguments.require("org"), organizationName: arguments.require("org-name"),
                    username: arguments.require("user"), password: arguments.require("password"))
                if arguments.flag("json") {
                    output.json(.object(["organization": .string(organization.slug), "user": .string(user.username),
                                         "token": .string(token.secret)]))
                } else {
                    output.err("created organization \(organization.slug) with owner \(user.username); the token is shown once:")
                    output.out(token.secret)
                }
                return 0
            },
            SimpleCommand(["org", "create"], summary: "Create an organization", usage: "SLUG --name NAME [--json]",
                          options: ["name"], flags: ["json"]) { arguments, output in
                let slug = try arguments.positional(0, "SLUG")
                try arguments.expectPositionals(1)
                let organization = try auth.createOrganization(slug: slug, name: arguments.require("name"))
                if arguments.flag("json") { output.json(organization.json) } else { output.out("created organization \(organization.slug)") }
                return 0
            },
            SimpleCommand(["org", "list"], summary: "List organizations", usage: "[--json]", flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                let organizations = try auth.organizations()
                if arguments.flag("json") {
                    output.json(.array(organizations.map(\.json)))
                } else {
                    output.rows(organizations.map { [$0.slug, $0.name] })
                }
                return 0
            },
            SimpleCommand(["user", "create"], summary: "Create a user in an organization",
                          usage: "USERNAME --org SLUG --role owner|manager|viewer --password PW [--json]",
                          options: ["org", "role", "password"], flags: ["json"]) { arguments, output in
                let username = try arguments.positional(0, "USERNAME")
                try arguments.expectPositionals(1)
                let role = try parseRole(arguments.require("role"))
                let user = try auth.createUser(username: username, organizationSlug: arguments.require("org"), role: role,
                                               password: arguments.require("password"))
                if arguments.flag("json") { output.json(user.json) } else { output.out("created user \(user.username) (\(user.role.rawValue))") }
                return 0
            },
            SimpleCommand(["user", "list"], summary: "List an organization's users", usage: "--org SLUG [--json]",
                          options: ["org"], flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                let users = try auth.users(organizationSlug: arguments.require("org"))
                if arguments.flag("json") {
                    output.json(.array(users.map(\.json)))
                } else {
                    output.rows(users.map { [$0.username, $0.role.rawValue] })
                }
                return 0
            },
            SimpleCommand(["user", "passwd"], summary: "Set a user's password", usage: "USERNAME --password PW",
                          options: ["password"]) { arguments, output in
                let username = try arguments.positional(0, "USERNAME")
                try arguments.expectPositionals(1)
                try auth.setPassword(username: username, password: arguments.require("password"))
                output.out("password set for \(username)")
                return 0
            },
            SimpleCommand(["token", "create"], summary: "Mint a token for a user; prints it once",
                          usage: "--user USERNAME [--role ROLE] [--projects a,b] [--expires-in 30d] [--name NAME] [--json]",
                          options: ["user", "role", "projects", "expires-in", "name"], flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                let role = try arguments.option("role").map(parseRole)
                var projects: [String]?
                if let list = arguments.option("projects") {
                    let ids = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    if let bad = ids.first(where: { !AuthPatterns.isValidProjectID($0) }) { throw UsageError("\(bad) is not a valid project_id") }
                    if ids.isEmpty { throw UsageError("--projects needs at least one project_id") }
                    projects = ids
                }
                var expiresIn: Double?
                if let text = arguments.option("expires-in") {
                    guard let seconds = DurationText.seconds(text), seconds > 0 else { throw UsageError("--expires-in takes a duration such as 30d") }
                    expiresIn = seconds
                }
                let issued = try auth.issueToken(username: arguments.require("user"), TokenRequest(
                    name: arguments.option("name") ?? "cli", role: role, allProjects: projects == nil, projects: projects, expiresIn: expiresIn))
                if arguments.flag("json") {
                    output.json(.object(["id": .int64(issued.record.id), "token": .string(issued.secret)]))
                } else {
                    output.out(issued.secret)
                }
                return 0
            },
            SimpleCommand(["token", "list"], summary: "List tokens (never their secrets)", usage: "[--org SLUG] [--json]",
                          options: ["org"], flags: ["json"]) { arguments, output in
                try arguments.expectPositionals(0)
                let tokens = try auth.allTokens(organizationSlug: arguments.option("org"))
                if arguments.flag("json") {
                    output.json(.array(tokens.map(\.json)))
                } else {
                    for token in tokens {
                        let scope = token.allProjects ? "all projects" : token.projects.joined(separator: ",")
                        let state = token.revokedAt != nil ? "revoked" : token.expiresAt.map { "expires \(Timestamp.format(unixSeconds: $0))" } ?? "no expiry"
                        output.rows([["\(token.id)", token.username, token.role.rawValue, scope, state, token.name]])
                    }
                }
                return 0
            },
            SimpleCommand(["token", "revoke"], summary: "Revoke a token by id", usage: "ID") { arguments, output in
                let text = try arguments.positional(0, "ID")
                try arguments.expectPositionals(1)
                guard let id = Int64(text) else { throw UsageError("ID must be a number") }
                try auth.revokeToken(id: id)
                output.out("revoked token \(id)")
                return 0
            },
        ]
    }

    static func parseRole(_ text: String) throws -> Role {
        guard let role = Role(rawValue: text) else { throw UsageError("role must be owner, manager or viewer") }
        return role
    }
}
