import Persistence

/// Projects' tables. Append-only: never edit a shipped migration, add the next one.
///
/// `organization_id` is Auth's organization id, kept without a cross-module foreign key (a module owns
/// its tables). Times are Unix milliseconds (ordering needs sub-second precision; the API shows RFC 3339).
/// `tags` / `identifiers` are kept as JSON text for rendering and mirrored into `project_tags` /
/// `project_identifiers` so the list filters are plain indexed SQL.
enum ProjectMigrations {
    /// The tables `admin-cli db copy` copies, each before the tables that refer to it (`PlatformModule.copiedTables`).
    static let tables = ["projects", "project_tags", "project_identifiers"]

    static let all: [Migration] = [
        Migration("projects.001.create-projects", """
            CREATE TABLE projects (
                pk INTEGER PRIMARY KEY,
                project_id TEXT NOT NULL UNIQUE,
                organization_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                name_folded TEXT NOT NULL,
                favorite INTEGER NOT NULL DEFAULT 0,
                description TEXT NOT NULL DEFAULT '',
                tags TEXT NOT NULL DEFAULT '[]',
                custom_fields TEXT NOT NULL DEFAULT '{}',
                identifiers TEXT NOT NULL DEFAULT '{}',
                created_by TEXT NOT NULL,
                created_by_user_id INTEGER,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                deleted_ms INTEGER
            );
            CREATE INDEX projects_by_organization ON projects(organization_id, deleted_ms, favorite, updated_ms);
            CREATE INDEX projects_trash ON projects(deleted_ms);
            CREATE TABLE project_tags (
                project_pk INTEGER NOT NULL REFERENCES projects(pk) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                PRIMARY KEY (project_pk, tag)
            );
            CREATE INDEX project_tags_by_tag ON project_tags(tag, project_pk);
            CREATE TABLE project_identifiers (
                project_pk INTEGER NOT NULL REFERENCES projects(pk) ON DELETE CASCADE,
                ident_key TEXT NOT NULL,
                ident_value TEXT NOT NULL,
                PRIMARY KEY (project_pk, ident_key)
            );
            CREATE INDEX project_identifiers_by_value ON project_identifiers(ident_key, ident_value, project_pk);
            """),
        // Seed 002's project fields (the EVRYTHNG dialect maps them, the native API shows them too), and the index of the
        // per-organization name check the UFDL dialect asks for.
        Migration("projects.002.schedule-and-short-domains", """
            ALTER TABLE projects ADD COLUMN starts_ms INTEGER;
            ALTER TABLE projects ADD COLUMN ends_ms INTEGER;
            ALTER TABLE projects ADD COLUMN short_domains TEXT NOT NULL DEFAULT '[]';
            CREATE INDEX projects_by_organization_name ON projects(organization_id, name);
            """),
    ]
}
