import Core
import DomainTestSupport
import Projects
import Testing

@Suite struct ProjectInputTests {
    func fields(_ body: JSON, patch: Bool = false) -> [String: String] {
        apiError {
            if patch { _ = try ProjectChanges.parse(body) } else { _ = try ProjectDraft.parse(body) }
        }?.fields ?? [:]
    }

    @Test func aFullValidDraft() throws {
        let draft = try ProjectDraft.parse(.object([
            "project_id": .string("cold-chain_east1"), "name": .string("Cold Chain East"), "favorite": .bool(true),
            "description": .string("Reefers"), "tags": .array([.string("cold"), .string("east"), .string("cold")]),
            "custom_fields": .object(["region": .string("europe"), "depth": .object(["n": .number(1)])]),
            "identifiers": .object(["gtin": .string("0123")]),
        ]))
        #expect(draft.projectID == "cold-chain_east1" && draft.name == "Cold Chain East" && draft.favorite)
        #expect(draft.tags == ["cold", "east"])   // duplicates dropped, order kept
        #expect(draft.customFields["region"] == .string("europe"))
        #expect(draft.identifiers["gtin"] == .string("0123"))
    }

    @Test func defaultsAndNullProjectIDMeanGenerated() throws {
        let draft = try ProjectDraft.parse(.object(["name": .string("N"), "project_id": .null, "description": .null]))
        #expect(draft.projectID == nil && draft.description == "" && !draft.favorite && draft.tags.isEmpty)
    }

    @Test(arguments: ["A-upper", "x", "-dash-first", "_under", "has space", "ünï", String(repeating: "a", count: 65), "trash", ""])
    func badProjectIDsAreNamed(_ id: String) {
        #expect(fields(.object(["name": .string("N"), "project_id": .string(id)]))["project_id"] != nil)
    }

    @Test(arguments: ["ab", "0-0", "a_b-c", String(repeating: "a", count: 64)])
    func goodProjectIDs(_ id: String) throws {
        #expect(try ProjectDraft.parse(.object(["name": .string("N"), "project_id": .string(id)])).projectID == id)
    }

    @Test func nameRules() {
        #expect(fields(.object([:]))["name"] == "is required")
        #expect(fields(.object(["name": .string("")]))["name"] != nil)
        #expect(fields(.object(["name": .string("   ")]))["name"] == "must not be blank")
        #expect(fields(.object(["name": .string(String(repeating: "n", count: 201))]))["name"] != nil)
        #expect(fields(.object(["name": .string(String(repeating: "名", count: 200))])).isEmpty)
        #expect(fields(.object(["name": .number(5)]))["name"] == "must be a string, got number")
        #expect(fields(.object(["name": .null]), patch: true)["name"] == "must not be null")
    }

    @Test func limitsOfTheOtherFields() {
        #expect(fields(.object(["name": .string("N"), "description": .string(String(repeating: "d", count: 2001))]))["description"] != nil)
        #expect(fields(.object(["name": .string("N"), "tags": .array([.string(String(repeating: "t", count: 61))])]))["tags"] != nil)
        #expect(fields(.object(["name": .string("N"), "tags": .array([.string("")])]))["tags"] != nil)
        #expect(fields(.object(["name": .string("N"), "tags": .array((0..<51).map { .string("t\($0)") })]))["tags"] != nil)
        #expect(fields(.object(["name": .string("N"), "tags": .array([.number(1)])]))["tags"] != nil)
        #expect(fields(.object(["name": .string("N"), "tags": .string("one")]))["tags"] != nil)
        #expect(fields(.object(["name": .string("N"), "favorite": .string("yes")]))["favorite"] != nil)
        #expect(fields(.object(["name": .string("N"), "custom_fields": .array([])]))["custom_fields"] != nil)
        let big = JSONObject([("blob", JSON.string(String(repeating: "x", count: 16 * 1024)))])
        #expect(fields(.object(["name": .string("N"), "custom_fields": .object(big)]))["custom_fields"] != nil)
        #expect(fields(.object(["name": .string("N"), "identifiers": .object(["gtin": .number(1)])]))["identifiers"] != nil)
        #expect(fields(.object(["name": .string("N"), "identifiers": .object(["gtin": .string("")])]))["identifiers"] != nil)
        let longIdentifier = JSON.string(String(repeating: "9", count: 201))
        #expect(fields(.object(["name": .string("N"), "identifiers": .object(["gtin": longIdentifier])]))["identifiers"] != nil)
        #expect(fields(.object(["name": .string("N"), "identifiers": .object(["": .string("x")])]))["identifiers"] != nil)
    }

    @Test func everyProblemIsNamedAtOnce() {
        let problems = fields(.object(["name": .number(1), "colour": .string("red"), "tags": .bool(true), "favorite": .null]))
        #expect(Set(problems.keys) == ["name", "colour", "tags", "favorite"])
        #expect(problems["colour"] == "unknown field")
    }

    @Test func readOnlyFieldsAreIgnoredAndProjectIDIsImmutableInAPatch() throws {
        let changes = try ProjectChanges.parse(.object([
            "project_id": .string("other"), "organization_id": .number(9), "id": .number(1), "organization": .string("globex"),
            "created_at": .string("2020-01-01T00:00:00Z"), "updated_at": .null, "created_by": .string("x"), "device_count": .number(3),
            "name": .string("Renamed"),
        ]))
        #expect(changes == ProjectChanges(name: "Renamed"))
        #expect(try ProjectChanges.parse(.object([:])).isEmpty)
        #expect(try ProjectDraft.parse(.object(["name": .string("N"), "organization_id": .number(2), "organization": .string("x")])).name == "N")
        #expect(fields(.object(["bogus": .number(1)]), patch: true)["bogus"] == "unknown field")
        #expect(fields(.array([]))["body"] != nil)
    }
}

@Suite struct ProjectFilterTests {
    @Test func parsesEveryFilter() throws {
        let filter = try ProjectFilter.parse([
            ("search", "Green"), ("tag", "a"), ("tag", "b"), ("favorite", "TRUE"), ("identifiers.gtin", "123"), ("page", "2"),
            ("unknown", "x"),
        ])
        #expect(filter.search == "Green" && filter.tags == ["a", "b"] && filter.favorite == true)
        #expect(filter.identifiers.map { "\($0.key)=\($0.value)" } == ["gtin=123"])
        #expect(try ProjectFilter.parse([("favorite", "false"), ("search", "")]) == ProjectFilter(favorite: false))
    }

    @Test func badValuesAre400NamingTheParameter() {
        for (name, value) in [("favorite", "yes"), ("favorite", ""), ("tag", ""), ("tag", String(repeating: "t", count: 61)),
                              ("identifiers.", "x"), ("identifiers.gtin", ""), ("search", String(repeating: "s", count: 201))] {
            let error = apiError { _ = try ProjectFilter.parse([(name, value)]) }
            #expect(error?.status == 400 && error?.code == "VALIDATION_ERROR")
            #expect(error?.fields[name] != nil, "\(name)=\(value)")
        }
    }
}

@Suite struct ProjectServiceValidationTests {
    @Test func draftsAndChangesBuiltInCodeFollowTheSameRules() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        let tooLong = String(repeating: "n", count: 201)
        #expect(apiError { _ = try fixture.projects.create(ProjectDraft(name: " "), by: alice) }?.fields["name"] != nil)
        #expect(apiError { _ = try fixture.projects.create(ProjectDraft(projectID: "Bad", name: "N"), by: alice) }?.fields["project_id"] != nil)
        let created = try fixture.projects.create(ProjectDraft(name: "Fine", tags: ["a", "a", "b"]), by: alice)
        #expect(created.project.tags == ["a", "b"])
        let id = created.project.projectID
        #expect(apiError { _ = try fixture.projects.update(id, ProjectChanges(name: tooLong), by: alice) }?.fields["name"] != nil)
        #expect(apiError { _ = try fixture.projects.update(id, ProjectChanges(identifiers: ["k": .number(1)]), by: alice) }?.code
                == "VALIDATION_ERROR")
        #expect(try fixture.projects.project(id, for: alice).project.name == "Fine")
    }
}
