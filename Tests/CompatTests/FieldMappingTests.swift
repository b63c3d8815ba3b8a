import Compat
import Core
import Projects
import Testing

@Suite struct FieldMappingTests {
    static let project = Project(
        pk: 42, projectID: "proj_abc", organizationID: 3, name: "European Region", favorite: false, description: "Europe", tags: ["eu"],
        customFields: ["region": .string("europe")], identifiers: ["gtin": .string("0001")], createdBy: "alice",
        createdAt: 1_560_774_729_291, updatedAt: 1_560_774_729_300, deletedAt: nil, startsAt: 1_510_918_931_000, endsAt: 1_542_454_931_123,
        shortDomains: ["tn.gg"], creatorUserID: 9)

    @Test func evrythngDocumentCarriesEveryField() {
        let json = EvrythngProjectDocument(Self.project).json
        #expect(json["id"] == .string("proj_abc") && json["name"] == .string("European Region") && json["description"] == .string("Europe"))
        #expect(json["createdAt"] == .number(1_560_774_729_291) && json["updatedAt"] == .number(1_560_774_729_300))
        #expect(json["tags"] == .array([.string("eu")]) && json["customFields"]?["region"] == .string("europe"))
        #expect(json["identifiers"]?["gtin"] == .string("0001") && json["shortDomains"] == .array([.string("tn.gg")]))
        #expect(json["startsAt"] == .number(1_510_918_931_000) && json["endsAt"] == .number(1_542_454_931_123))
        #expect(json["scopes"] == .object(["users": .array([]), "projects": .array([])]))
        #expect(json["errors"] == nil && json["project_id"] == nil)
        var bare = Self.project
        bare.startsAt = nil
        #expect(EvrythngProjectDocument(bare).json["startsAt"] == nil)   // absent, not null
    }

    @Test func evrythngBodyBecomesNativeBody() throws {
        let body = try JSONParser.parse(Array("""
            {"name": "N", "description": null, "tags": ["a"], "customFields": {"k": 1}, "identifiers": {"gtin": "1"}, "startsAt": 1510918931001,
             "endsAt": null, "shortDomains": ["tn.gg"], "id": "ignored", "createdAt": 1, "updatedAt": 2, "scopes": {"users": [], "projects": []}}
            """.utf8))
        let native = try EvrythngProjectDocument.nativeBody(body)
        #expect(native == .object([
            "name": .string("N"), "tags": .array([.string("a")]), "custom_fields": .object(["k": .number(1)]),
            "identifiers": .object(["gtin": .string("1")]), "starts_at": .string("2017-11-17T11:42:11.001Z"), "short_domains": .array([.string("tn.gg")]),
        ]))
        let draft = try ProjectDraft.parse(native)
        #expect(draft.startsAt == 1_510_918_931_001 && draft.endsAt == nil && draft.shortDomains == ["tn.gg"] && draft.description == "")
        #expect(throws: APIError.self) { try EvrythngProjectDocument.nativeBody(.object(["name": .string("N"), "colour": .string("red")])) }
        #expect(throws: APIError.self) { try EvrythngProjectDocument.nativeBody(.object(["startsAt": .string("soon")])) }
        #expect(throws: CompatError.unsupportedField("imageUrl")) { try EvrythngProjectDocument.nativeBody(.object(["imageUrl": .string("x")])) }
        #expect(EvrythngProjectDocument.evrythngName("custom_fields") == "customFields" && EvrythngProjectDocument.evrythngName("x") == "x")
    }

    @Test func projectTimesRoundTrip() {
        for value: Int64 in [0, 1_510_918_931_000, 1_510_918_931_001, 1_542_454_931_999, -1] {
            #expect(ProjectTime.parse(ProjectTime.format(value)) == value, "\(value)")
        }
        #expect(ProjectTime.format(1_510_918_931_000) == "2017-11-17T11:42:11Z")
    }

    @Test func ufdlDocumentAndBodies() throws {
        var project = Self.project
        project.deletedAt = 1_700_000_000_500
        let json = UfdlProjectDocument(project).json
        #expect(json == .object([
            "pk": .number(42), "name": .string("European Region"), "team": .number(3), "creator": .number(9),
            "creation_time": .string("2019-06-17T12:32:09.291+00:00"), "deletion_time": .string("2023-11-14T22:13:20.500+00:00"),
        ]))
        #expect(UfdlProjectDocument(Self.project).json["deletion_time"] == .null)
        #expect(UfdlProjectDocument(project).value(of: "deletion_time") == .time(1_700_000_000_500))
        #expect(try UfdlProjectDocument.draft(.object(["name": .string("P"), "team": .number(3)]), callerTeam: 3).name == "P")
        #expect(throws: CompatError.foreignTeam(4)) { try UfdlProjectDocument.draft(.object(["name": .string("P"), "team": .number(4)]), callerTeam: 3) }
        #expect(throws: APIError.self) { try UfdlProjectDocument.draft(.object(["name": .string("P")]), callerTeam: 3) }
        #expect(throws: APIError.self) { try UfdlProjectDocument.changes(.object(["name": .string("P")]), partial: false, callerTeam: 3) }
        #expect(try UfdlProjectDocument.changes(.object(["name": .string("P"), "pk": .number(1)]), partial: true, callerTeam: 3).name == "P")
        #expect(try UfdlProjectDocument.changes(.object([:]), partial: true, callerTeam: 3).isEmpty)
    }

    @Test func evrythngListQuery() throws {
        let query = try EvrythngListQuery.parse(perPage: "100", sortOrder: "ascending", filter: "name=European+Region&tags=a,b&identifiers.gtin=0%2B1",
                                                pageToken: nil)
        #expect(query.perPage == 100 && query.ascending && query.name == "European Region")
        #expect(query.filter.tags == ["a", "b"] && query.filter.identifiers.map(\.value) == ["0+1"])
        #expect(try EvrythngListQuery.parse(perPage: nil, sortOrder: nil, filter: "name=A%20B", pageToken: nil).name == "A B")
        #expect(throws: APIError.self) { try EvrythngListQuery.parse(perPage: "0", sortOrder: nil, filter: nil, pageToken: nil) }
        #expect(throws: APIError.self) { try EvrythngListQuery.parse(perPage: "101", sortOrder: nil, filter: nil, pageToken: nil) }
        #expect(throws: APIError.self) { try EvrythngListQuery.parse(perPage: nil, sortOrder: "SIDEWAYS", filter: nil, pageToken: nil) }
        #expect(throws: CompatError.self) { try EvrythngListQuery.parse(perPage: nil, sortOrder: nil, filter: "colour=red", pageToken: nil) }
        #expect(throws: CompatError.invalidPageToken) { try EvrythngListQuery.parse(perPage: nil, sortOrder: nil, filter: nil, pageToken: "zz") }
        let token = EvrythngListQuery.token(after: Self.project)
        let resumed = try EvrythngListQuery.parse(perPage: "1", sortOrder: nil, filter: nil, pageToken: token)
        #expect(resumed.after?.createdAt == Self.project.createdAt && resumed.after?.pk == 42)
    }
}
