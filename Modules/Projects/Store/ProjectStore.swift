import Core
import Persistence

/// SQL over Projects' own tables: projects, project_tags, project_identifiers. Portable SQL, `?` placeholders.
struct ProjectStore {
    let db: Database

    private static let columns = """
        p.pk, p.project_id, p.organization_id, p.name, p.favorite, p.description, p.tags, p.custom_fields, p.identifiers,
        p.created_by, p.created_ms, p.updated_ms, p.deleted_ms, p.starts_ms, p.ends_ms, p.short_domains, p.created_by_user_id
        """

    /// Which projects a list may contain: nil = every project of the organization, else only these ids.
    typealias Scope = [String]?

    // MARK: Reads

    func project(projectID: String) throws -> Project? {
        try db.queryOne("SELECT \(Self.columns) FROM projects p WHERE p.project_id = ?", [projectID]).map(Self.project)
    }

    func project(pk: Int64) throws -> Project? {
        try db.queryOne("SELECT \(Self.columns) FROM projects p WHERE p.pk = ?", [pk]).map(Self.project)
    }

    func projects(pks: [Int64]) throws -> [Project] {
        guard !pks.isEmpty else { return [] }
        var result: [Project] = []
        // Chunks keep the statement text (and so the statement cache) to a handful of shapes.
        for chunk in stride(from: 0, to: pks.count, by: 100).map({ Array(pks[$0..<min($0 + 100, pks.count)]) }) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            result += try db.query("SELECT \(Self.columns) FROM projects p WHERE p.pk IN (\(marks))", chunk).map(Self.project)
        }
        return result
    }

    /// Whether an active project of the organization other than `excludingPK` is named `name` (exactly).
    func nameTaken(_ name: String, organizationID: Int64, excludingPK: Int64?) throws -> Bool {
        try db.queryOne("SELECT 1 FROM projects WHERE organization_id = ? AND name = ? AND deleted_ms IS NULL AND pk <> ?",
                        [organizationID, name, excludingPK ?? 0]) != nil
    }

    func exists(projectID: String) throws -> Bool {
        try db.queryOne("SELECT 1 FROM projects WHERE project_id = ?", [projectID]) != nil
    }

    /// One page of an organization's active (or trashed) projects matching `filter`, and the total count.
    /// Active: `favorite DESC, updated DESC, pk`; trash: `deleted DESC, pk`.
    func list(organizationID: Int64, scope: Scope, filter: ProjectFilter, trashed: Bool, limit: Int, offset: Int) throws
        -> (count: Int64, items: [Project]) {
        var conditions = ["p.organization_id = ?", trashed ? "p.deleted_ms IS NOT NULL" : "p.deleted_ms IS NULL"]
        var arguments: [any SQLBindable] = [organizationID]
        if let scope {
            if scope.isEmpty {
                conditions.append("1 = 0")
            } else {
                conditions.append("p.project_id IN (\(Array(repeating: "?", count: scope.count).joined(separator: ", ")))")
                arguments += scope.map { $0 as any SQLBindable }
            }
        }
        if let search = filter.search {
            conditions.append("p.name_folded LIKE ? ESCAPE '\\'")
            arguments.append("%" + Self.escapeLike(search.lowercased()) + "%")
        }
        if let favorite = filter.favorite {
            conditions.append("p.favorite = ?")
            arguments.append(favorite)
        }
        for tag in filter.tags {
            conditions.append("EXISTS (SELECT 1 FROM project_tags t WHERE t.project_pk = p.pk AND t.tag = ?)")
            arguments.append(tag)
        }
        for (key, value) in filter.identifiers {
            conditions.append(
                "EXISTS (SELECT 1 FROM project_identifiers i WHERE i.project_pk = p.pk AND i.ident_key = ? AND i.ident_value = ?)")
            arguments += [key as any SQLBindable, value]
        }
        let whereClause = conditions.joined(separator: " AND ")
        let order = trashed ? "p.deleted_ms DESC, p.pk" : "p.favorite DESC, p.updated_ms DESC, p.pk"
        let count = try db.queryOne("SELECT COUNT(*) FROM projects p WHERE \(whereClause)", arguments)?.int(0) ?? 0
        guard count > Int64(offset) else { return (count, []) }
        let items = try db.query("SELECT \(Self.columns) FROM projects p WHERE \(whereClause) ORDER BY \(order) LIMIT ? OFFSET ?",
                                 arguments + [Int64(limit), Int64(offset)]).map(Self.project)
        return (count, items)
    }

    /// Trashed projects that went to the trash before `cutoff` (Unix ms), oldest first.
    func trashed(before cutoff: Int64, limit: Int) throws -> [Project] {
        try db.query("SELECT \(Self.columns) FROM projects p WHERE p.deleted_ms IS NOT NULL AND p.deleted_ms < ? ORDER BY p.deleted_ms, p.pk LIMIT ?",
                     [cutoff, limit]).map(Self.project)
    }

    // MARK: Writes

    func insert(_ draft: ProjectDraft, projectID: String, organizationID: Int64, createdBy: String, createdByUserID: Int64?,
                at time: Int64) throws -> Project {
        try db.execute("""
            INSERT INTO projects (project_id, organization_id, name, name_folded, favorite, description, tags, custom_fields, identifiers,
                                  created_by, created_by_user_id, created_ms, updated_ms, starts_ms, ends_ms, short_domains)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [projectID, organizationID, draft.name, draft.name.lowercased(), draft.favorite, draft.description,
                  Self.encode(draft.tags), JSONWriter.string(.object(draft.customFields)), JSONWriter.string(.object(draft.identifiers)),
                  createdBy, createdByUserID, time, time, draft.startsAt, draft.endsAt, Self.encode(draft.shortDomains)])
        let project = Project(pk: db.lastInsertRowID, projectID: projectID, organizationID: organizationID, name: draft.name,
                              favorite: draft.favorite, description: draft.description, tags: draft.tags, customFields: draft.customFields,
                              identifiers: draft.identifiers, createdBy: createdBy, createdAt: time, updatedAt: time, deletedAt: nil,
                              startsAt: draft.startsAt, endsAt: draft.endsAt, shortDomains: draft.shortDomains, creatorUserID: createdByUserID)
        try replaceIndexes(of: project)
        return project
    }

    /// Writes every mutable column of `project` (and its tag/identifier index rows).
    func update(_ project: Project) throws {
        try db.execute("""
            UPDATE projects SET organization_id = ?, name = ?, name_folded = ?, favorite = ?, description = ?, tags = ?, custom_fields = ?,
                                identifiers = ?, updated_ms = ?, deleted_ms = ?, starts_ms = ?, ends_ms = ?, short_domains = ?
            WHERE pk = ?
            """, [project.organizationID, project.name, project.name.lowercased(), project.favorite, project.description,
                  Self.encode(project.tags), JSONWriter.string(.object(project.customFields)),
                  JSONWriter.string(.object(project.identifiers)), project.updatedAt, project.deletedAt, project.startsAt, project.endsAt,
                  Self.encode(project.shortDomains), project.pk])
        try replaceIndexes(of: project)
    }

    func delete(pk: Int64) throws {
        try db.execute("DELETE FROM project_tags WHERE project_pk = ?", [pk])
        try db.execute("DELETE FROM project_identifiers WHERE project_pk = ?", [pk])
        try db.execute("DELETE FROM projects WHERE pk = ?", [pk])
    }

    private func replaceIndexes(of project: Project) throws {
        try db.execute("DELETE FROM project_tags WHERE project_pk = ?", [project.pk])
        try db.executeMany("INSERT INTO project_tags (project_pk, tag) VALUES (?, ?)", project.tags.map { [project.pk, $0] })
        try db.execute("DELETE FROM project_identifiers WHERE project_pk = ?", [project.pk])
        try db.executeMany("INSERT INTO project_identifiers (project_pk, ident_key, ident_value) VALUES (?, ?, ?)",
                           project.identifiers.entries.map { [project.pk, $0.key, $0.value.stringValue ?? ""] })
    }

    // MARK: Rows

    static func project(_ row: Row) -> Project {
        Project(pk: row.int(0), projectID: row.string(1), organizationID: row.int(2), name: row.string(3), favorite: row.bool(4),
                description: row.string(5), tags: decodeArray(row.string(6)), customFields: decodeObject(row.string(7)),
                identifiers: decodeObject(row.string(8)), createdBy: row.string(9), createdAt: row.int(10), updatedAt: row.int(11),
                deletedAt: row.optionalInt(12), startsAt: row.optionalInt(13), endsAt: row.optionalInt(14), shortDomains: decodeArray(row.string(15)),
                creatorUserID: row.optionalInt(16))
    }

    static func encode(_ tags: [String]) -> String { JSONWriter.string(.array(tags.map(JSON.string))) }

    static func decodeArray(_ text: String) -> [String] {
        (try? JSONParser.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    static func decodeObject(_ text: String) -> JSONObject {
        (try? JSONParser.parse(text))?.objectValue ?? JSONObject()
    }

    /// Escapes `%`, `_` and the escape character itself for `LIKE … ESCAPE '\'`.
    static func escapeLike(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
