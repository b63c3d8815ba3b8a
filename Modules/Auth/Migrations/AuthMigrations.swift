import Persistence

/// Auth's tables. Append-only: never edit a shipped migration, add the next one.
enum AuthMigrations {
    /// The tables `admin-cli db copy` copies, each before the tables that refer to it (`PlatformModule.copiedTables`).
    static let tables = ["organizations", "users", "api_tokens"]

    static let all: [Migration] = [
        Migration("auth.001.create-organizations-users-tokens", """
            CREATE TABLE organizations (
                id INTEGER PRIMARY KEY,
                slug TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                created_at TEXT NOT NULL
            );
            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                organization_id INTEGER NOT NULL REFERENCES organizations(id),
                username TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'viewer')),
                password_hash TEXT NOT NULL,
                created_at TEXT NOT NULL
            );
            CREATE INDEX users_by_organization ON users(organization_id);
            CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY,
                token_hash TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users(id),
                organization_id INTEGER NOT NULL REFERENCES organizations(id),
                role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'viewer')),
                all_projects INTEGER NOT NULL,
                projects TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at INTEGER,
                revoked_at TEXT
            );
            CREATE INDEX api_tokens_by_organization ON api_tokens(organization_id);
            """),
        // Tokens minted through the API remember their minter, so revoking a token revokes what it minted.
        Migration("auth.002.token-parents", """
            ALTER TABLE api_tokens ADD COLUMN parent_id INTEGER;
            CREATE INDEX api_tokens_by_parent ON api_tokens(parent_id);
            """),
        // Session tokens of the UFDL dialect (seed 004): short-lived `access` tokens and `refresh` tokens, which are good
        // only for minting access tokens. Every earlier token is an ordinary `api` token.
        Migration("auth.003.token-kinds", """
            ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'access', 'refresh'));
            """),
    ]
}
