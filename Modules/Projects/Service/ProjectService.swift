import Auth
import Core
import Persistence
import Platform
import Synchronization

/// Projects' domain API. Other modules use only `resolve`, `project(pk:)`, `projects(pks:)` and the events;
/// the routes and the CLI use the rest. Every check goes through the one scope checker (`Caller.authorize`).
///
/// ```swift
/// let project = try projects.resolve("cold-chain-east", for: caller, access: .write)   // 404 / 403 or the project
/// ```
public final class ProjectService: Sendable, PlatformService {
    package let context: PlatformContext
    let auth: AuthService
    let cache: ProjectCache
    /// How long trashed projects stay before the daily job purges them (`projects.trash_retention`, 30 days).
    public let trashRetention: Double
    private let counter = Mutex<(any ProjectDeviceCounter)?>(nil)
    /// Rendered project details by pk, per thread (`renderedProject`).
    let renderedViews = ThreadLocalCache<Int64, RenderedView>(ttl: 60, capacity: 256)
    static let renderedViewMaxBytes = 8 * 1024

    /// A project's view as JSON bytes and what they were rendered from.
    struct RenderedView: Sendable {
        let stamp: UInt64
        let organizationSlug: String
        let counts: DeviceCounts
        let bytes: [UInt8]
    }

    public static let cacheTTLKey = ConfigKey("projects.cache_ttl", .duration, default: "5s",
                                              "project rows and list pages are cached this long (invalidated on every project write; `0` = off)")
    public static let trashRetentionKey = ConfigKey("projects.trash_retention", .duration, default: "30d",
                                                    "trashed projects older than this are purged by the daily job and `projects purge-trash`")

    public init(context: PlatformContext, auth: AuthService) {
        self.context = context
        self.auth = auth
        cache = ProjectCache(ttl: context.config.seconds(Self.cacheTTLKey), clock: context.clock)
        // Another server's project writes: rows and pages start over (project writes are rare).
        context.db.changes.subscribe(Self.changesTopic) { [cache] _ in cache.invalidateAll() }
        trashRetention = context.config.seconds(Self.trashRetentionKey)
    }

    /// Wires the Devices implementation of the counts (done by the app at composition).
    public func setDeviceCounter(_ counter: any ProjectDeviceCounter) {
        self.counter.withLock { $0 = counter }
    }

    /// Device counts through the wired counter (zero until Devices is composed in).
    func deviceCounts(projectPKs: [Int64]) throws -> [Int64: DeviceCounts] {
        guard !projectPKs.isEmpty, let counter = counter.withLock({ $0 }) else { return [:] }
        return try counter.deviceCounts(projectPKs: projectPKs)
    }

    /// Now, in Unix milliseconds.
    var now: Int64 { Int64((clock.now().timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: - For other modules

    /// The scope check of every project-scoped route, for this module and the nested ones (devices,
    /// factors, alerts, exports): a missing, trashed or other organization's project → 404
    /// `PROJECT_NOT_FOUND`; outside the token's projects → 403; a write below manager → 403.
    public func resolve(_ projectID: String, for caller: Caller, access: Caller.Access) throws -> ProjectRef {
        try authorized(projectID, for: caller, access: access).ref
    }

    /// An active (not trashed) project by primary key.
    public func project(pk: Int64) throws -> ProjectRef? {
        try projects(pks: [pk])[pk]
    }

    /// Active projects by primary key (for lists that show `project {project_id, name}`).
    public func projects(pks: [Int64]) throws -> [Int64: ProjectRef] {
        var result: [Int64: ProjectRef] = [:]
        var missing: [Int64] = []
        for pk in Set(pks) {
            if let cached = cache.project(pk: pk) { result[pk] = cached.ref } else { missing.append(pk) }
        }
        guard !missing.isEmpty else { return result }
        let generation = cache.generation()
        let rows = try db.read { db in try ProjectStore(db: db).projects(pks: missing.sorted()) }
        let active = rows.filter { !$0.isTrashed }
        cache.store(active, generation: generation)
        for project in active { result[project.pk] = project.ref }
        return result
    }

    /// Inside the caller's write: 404 `PROJECT_NOT_FOUND` unless `project`, checked before the transaction, is still active
    /// and in the same organization, so a racing trash, purge or transfer wins.
    public func ensureActive(_ project: ProjectRef, in tx: Database) throws {
        guard let still = try self.project(pk: project.pk, in: tx), still.organizationID == project.organizationID else {
            throw ProjectError.notFound(projectID: project.projectID)
        }
    }

    /// An active project by primary key, read in the caller's write transaction (never the cache): modules that
    /// checked a project before opening their transaction recheck it here, so a racing trash or transfer wins.
    public func project(pk: Int64, in tx: Database) throws -> ProjectRef? {
        guard let project = try ProjectStore(db: tx).projects(pks: [pk]).first, !project.isTrashed else { return nil }
        return project.ref
    }

    /// The active project `projectID` after the scope check (404 / 403).
    func authorized(_ projectID: String, for caller: Caller, access: Caller.Access) throws -> Project {
        try stampedAuthorized(projectID, for: caller, access: access).project
    }

    /// `authorized`, with the stamp of the cache entry the row came from (nil when it was read from the database).
    func stampedAuthorized(_ projectID: String, for caller: Caller, access: Caller.Access) throws -> (project: Project, stamp: UInt64?) {
        guard let (project, stamp) = try activeProject(id: projectID) else { throw ProjectError.notFound(projectID: projectID) }
        try caller.authorize(projectID: project.projectID, organizationID: project.organizationID, access: access,
                             notFound: ProjectError.notFound(projectID: projectID))
        return (project, stamp)
    }

    /// An active project by `project_id`, through the cache, and the stamp of the cache entry it came from.
    func activeProject(id: String) throws -> (project: Project, stamp: UInt64?)? {
        guard AuthPatterns.isValidProjectID(id) else { return nil }
        if let cached = cache.stampedProject(id: id) { return (cached.project, cached.stamp) }
        let generation = cache.generation()
        let found = try db.read { db in try ProjectStore(db: db).project(projectID: id) }
        guard let project = found, !project.isTrashed else { return nil }
        cache.store([project], generation: generation)
        return (project, nil)
    }

    // MARK: - Reads

    /// `GET /projects/{id}/`: one active project of the caller's organization and scope, with fresh counts.
    public func project(_ projectID: String, for caller: Caller) throws -> ProjectView {
        let project = try authorized(projectID, for: caller, access: .read)
        return try views([project], organizationSlug: caller.organizationSlug)[0]
    }

    /// `project(_:for:)` as the JSON bytes of its view. The bytes are a function of the view, so each thread keeps the
    /// last ones per project and hands them out again while the view comes from the same cache entry (its stamp) with
    /// the same organization slug and counts; the scope check and the counts still run per call.
    public func renderedProject(_ projectID: String, for caller: Caller) throws -> [UInt8] {
        let (project, stamp) = try stampedAuthorized(projectID, for: caller, access: .read)
        let view = try views([project], organizationSlug: caller.organizationSlug)[0]
        guard let stamp else { return JSONWriter.bytes(view.json) }
        if let rendered = renderedViews.value(for: project.pk), rendered.stamp == stamp, rendered.counts == view.counts,
           rendered.organizationSlug.utf8.elementsEqual(view.organizationSlug.utf8) {
            return rendered.bytes
        }
        let bytes = JSONWriter.bytes(view.json)
        // Kept only for ordinary sizes: 256 entries of at most 8 KB bound a thread's renderings to 2 MB (a view can
        // reach about 40 KB with the largest custom fields; those are rendered per request).
        if bytes.count <= Self.renderedViewMaxBytes {
            renderedViews.store(RenderedView(stamp: stamp, organizationSlug: view.organizationSlug, counts: view.counts, bytes: bytes),
                                for: project.pk, generation: renderedViews.generation)
        }
        return bytes
    }

    /// `GET /projects/`: one page of the caller's active projects (only its listed ones for a scoped token),
    /// ordered `favorite desc, updated_at desc, pk`.
    public func list(for caller: Caller, filter: ProjectFilter = ProjectFilter(), page: PageRequest = PageRequest()) throws
        -> PageResult<ProjectView> {
        let scope: ProjectStore.Scope = caller.allProjects ? nil : Array(Set(caller.projects)).sorted()
        let key = JSONWriter.string(.array([
            scope.map { .array($0.map(JSON.string)) } ?? .null, .string(filter.cacheKey), .int(page.page), .int(page.pageSize),
        ]))
        let result: PageResult<Project>
        if let cached = cache.list(organizationID: caller.organizationID, key: key) {
            result = cached
        } else {
            let generation = cache.generation()
            let (count, items) = try db.read { db in
                try ProjectStore(db: db).list(organizationID: caller.organizationID, scope: scope, filter: filter, trashed: false,
                                              limit: page.limit, offset: page.offset)
            }
            result = PageResult(count: count, items: items)
            cache.storeList(organizationID: caller.organizationID, key: key, result, generation: generation)
        }
        return PageResult(count: result.count, items: try views(result.items, organizationSlug: caller.organizationSlug))
    }

    /// Every project the caller may see (its organization's, only its listed ones for a scoped token), active ones and with
    /// `includeTrashed` trashed ones too, narrowed by `filter`, in no particular order, without device counts. The
    /// compatibility dialects order, filter further and page these in their own way.
    public func projects(visibleTo caller: Caller, filter: ProjectFilter = ProjectFilter(), includeTrashed: Bool = false) throws -> [Project] {
        let scope: ProjectStore.Scope = caller.allProjects ? nil : Array(Set(caller.projects)).sorted()
        return try db.read { db in
            let store = ProjectStore(db: db)
            var rows = try store.list(organizationID: caller.organizationID, scope: scope, filter: filter, trashed: false,
                                      limit: Int(Int32.max), offset: 0).items
            if includeTrashed {
                rows += try store.list(organizationID: caller.organizationID, scope: scope, filter: filter, trashed: true,
                                       limit: Int(Int32.max), offset: 0).items
            }
            return rows
        }
    }

    /// A project by primary key after the read check (another organization's, missing, out of scope → 404 / 403);
    /// a trashed one only with `includeTrashed` (else 404). The UFDL dialect addresses projects by pk.
    public func project(pk: Int64, for caller: Caller, includeTrashed: Bool) throws -> Project {
        let found = try db.read { db in try ProjectStore(db: db).project(pk: pk) }
        guard let project = found, includeTrashed || !project.isTrashed else { throw ProjectError.notFound(projectID: "#\(pk)") }
        try caller.authorize(projectID: project.projectID, organizationID: project.organizationID, access: .read,
                             notFound: ProjectError.notFound(projectID: "#\(pk)"))
        return project
    }

    /// Every active (or trashed) project of an organization, for the CLI (no scope: the operator is trusted).
    public func projects(organizationSlug: String, trashed: Bool = false) throws -> [ProjectView] {
        guard let organization = try auth.organization(slug: organizationSlug) else {
            throw AuthError.organizationNotFound(slug: organizationSlug)
        }
        let (_, items) = try db.read { db in
            try ProjectStore(db: db).list(organizationID: organization.id, scope: nil, filter: ProjectFilter(), trashed: trashed,
                                          limit: Int(Int32.max), offset: 0)
        }
        return try views(items, organizationSlug: organization.slug)
    }

    /// Rows → API views with fresh device counts (one counter call per page).
    func views(_ projects: [Project], organizationSlug: String) throws -> [ProjectView] {
        let counts = try deviceCounts(projectPKs: projects.filter { !$0.isTrashed }.map(\.pk))
        return projects.map { ProjectView(project: $0, organizationSlug: organizationSlug, counts: counts[$0.pk] ?? .zero) }
    }

    // MARK: - Writes

    /// `POST /projects/`: needs manager and an all-projects token (a scoped token could not see what it created).
    /// A taken `project_id` (in any organization, trash included) → 409 `PROJECT_EXISTS`.
    /// With `uniqueName`, a name already used by an active project of the organization → 400 `PROJECT_NAME_TAKEN` (UFDL).
    public func create(_ draft: ProjectDraft, by caller: Caller, uniqueName: Bool = false) throws -> ProjectView {
        try caller.require(.manager)
        guard caller.allProjects else { throw APIError.forbidden("A token scoped to projects cannot create projects") }
        // The same rules whether the draft came from a request body or from code.
        let draft = try ProjectDraft.parse(draft.json)
        let time = now
        let project = try db.write { tx -> Project in
            let store = ProjectStore(db: tx)
            if uniqueName, try store.nameTaken(draft.name, organizationID: caller.organizationID, excludingPK: nil) {
                throw ProjectError.nameTaken(name: draft.name)
            }
            var projectID = draft.projectID
            if let id = projectID {
                if try store.exists(projectID: id) { throw ProjectError.exists(projectID: id) }
            } else {
                for _ in 0..<8 {
                    let candidate = RandomID.make(prefix: "proj_", length: 12)
                    if try !store.exists(projectID: candidate) {
                        projectID = candidate
                        break
                    }
                }
            }
            guard let projectID else { throw APIError.internalError("Could not generate a project_id") }
            let project: Project
            do {
                project = try store.insert(draft, projectID: projectID, organizationID: caller.organizationID, createdBy: caller.username,
                                           createdByUserID: caller.userID, at: time)
            } catch let error as DatabaseError where error.isUniqueViolation {
                throw ProjectError.exists(projectID: projectID)
            }
            invalidateOnCommit(tx, [project], organizations: [caller.organizationID])
            try bus.publish(ProjectCreated(project: project.ref), in: tx)
            return project
        }
        return try views([project], organizationSlug: caller.organizationSlug)[0]
    }

    /// `PATCH /projects/{id}/`: applies the given fields (an empty change is a no-op that keeps `updated_at`).
    /// With `uniqueName`, renaming to a name another active project of the organization uses → 400 `PROJECT_NAME_TAKEN`.
    public func update(_ projectID: String, _ changes: ProjectChanges, by caller: Caller, uniqueName: Bool = false) throws -> ProjectView {
        let changes = try ProjectChanges.parse(changes.json)
        let time = now
        let project = try db.write { tx -> Project in
            let store = ProjectStore(db: tx)
            let current = try checked(store, projectID, caller, .write, trashed: false)
            if changes.isEmpty { return current }
            if uniqueName, let name = changes.name, try store.nameTaken(name, organizationID: current.organizationID, excludingPK: current.pk) {
                throw ProjectError.nameTaken(name: name)
            }
            var project = changes.applied(to: current)
            project.updatedAt = max(time, current.updatedAt)
            try store.update(project)
            invalidateOnCommit(tx, [project], organizations: [project.organizationID])
            try bus.publish(ProjectUpdated(project: project.ref), in: tx)
            return project
        }
        return try views([project], organizationSlug: caller.organizationSlug)[0]
    }

    /// The row of `projectID` inside a write transaction, after the scope check on that fresh row.
    /// `trashed`: false = active only, true = trashed only, nil = either.
    func checked(_ store: ProjectStore, _ projectID: String, _ caller: Caller, _ access: Caller.Access, trashed: Bool?) throws -> Project {
        guard AuthPatterns.isValidProjectID(projectID), let project = try store.project(projectID: projectID) else {
            throw ProjectError.notFound(projectID: projectID)
        }
        try caller.authorize(projectID: project.projectID, organizationID: project.organizationID, access: access,
                             notFound: ProjectError.notFound(projectID: projectID))
        if let trashed, project.isTrashed != trashed {
            if trashed { throw ProjectError.notInTrash(projectID: projectID) }
            throw ProjectError.notFound(projectID: projectID)
        }
        return project
    }

    /// Drops the cached rows and list pages right after COMMIT, before the writer's call returns (and before
    /// after-commit subscribers of the event published next run), so the writer never reads its write stale.
    func invalidateOnCommit(_ tx: Database, _ projects: [Project], organizations: [Int64]) {
        let cache = cache
        tx.onCommit { cache.invalidate(projects: projects, organizations: organizations) }
        tx.announce(Self.changesTopic, scopes: organizations)
    }

    /// The change-feed topic every project write announces, scoped by organization id (other modules subscribe to it
    /// for what they show of projects: names in device lists, counts).
    public static let changesTopic = "projects"

}
