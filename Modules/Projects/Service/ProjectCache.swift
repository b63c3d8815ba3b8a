import Core
import Synchronization

/// The brief in-process cache of seed 000 ("cached briefly and refreshed whenever a project changes"):
/// active project rows by `project_id` / pk, and list pages per organization, each for `ttl` seconds.
/// Device counts are never cached here (they come fresh from the counter).
///
/// Invalidation happens on commit of every project write, before the writer's call returns, so a client
/// never reads its own write stale. A generation number closes the race with a concurrent reader that read
/// the database before the commit but stores after the invalidation: a store is dropped when any
/// invalidation happened since the reader took its generation. Changes made by another process
/// (admin-cli) are seen within `ttl`.
final class ProjectCache: Sendable {
    struct Entry<Value: Sendable>: Sendable {
        let value: Value
        let expires: Double
        /// Unique to this stored value (never reused, not even after the cache starts over): what was derived from an
        /// entry stays valid while the entry handed out has the same stamp.
        var stamp: UInt64 = 0
    }

    struct State: Sendable {
        var generation: UInt64 = 0
        var lastStamp: UInt64 = 0
        var byID: [String: Entry<Project>] = [:]
        var idByPK: [Int64: String] = [:]
        var lists: [Int64: [String: Entry<PageResult<Project>>]] = [:]
        var listCount = 0
    }

    /// Bounds on entries; beyond them the cache starts over (cheap, and writes are rare).
    static let maxRows = 10_000
    static let maxLists = 2_000

    let ttl: Double
    let clock: any WallClock
    private let state = Mutex(State())

    init(ttl: Double, clock: any WallClock) {
        self.ttl = ttl
        self.clock = clock
    }

    var isEnabled: Bool { ttl > 0 }

    private var now: Double { clock.now().timeIntervalSince1970 }

    /// Take this before reading the database; pass it back when storing what was read.
    func generation() -> UInt64 { state.withLock { $0.generation } }

    // MARK: Rows

    func project(id: String) -> Project? { stampedProject(id: id)?.project }

    /// A cached row and the stamp of its entry.
    func stampedProject(id: String) -> (project: Project, stamp: UInt64)? {
        guard isEnabled, !FreshReads.areRequested else { return nil }
        let now = now
        return state.withLock { state in
            guard let entry = state.byID[id], entry.expires > now else { return nil }
            return (entry.value, entry.stamp)
        }
    }

    func project(pk: Int64) -> Project? {
        guard isEnabled else { return nil }
        let id = state.withLock { $0.idByPK[pk] }
        return id.flatMap { project(id: $0) }
    }

    /// Stores active projects read at `generation`; dropped if an invalidation happened since.
    func store(_ projects: [Project], generation: UInt64) {
        guard isEnabled, !projects.isEmpty else { return }
        let expires = now + ttl
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.byID.count + projects.count > Self.maxRows {
                state.byID = [:]
                state.idByPK = [:]
            }
            for project in projects where !project.isTrashed {
                state.lastStamp &+= 1
                state.byID[project.projectID] = Entry(value: project, expires: expires, stamp: state.lastStamp)
                state.idByPK[project.pk] = project.projectID
            }
        }
    }

    // MARK: Lists

    func list(organizationID: Int64, key: String) -> PageResult<Project>? {
        guard isEnabled, !FreshReads.areRequested else { return nil }
        let now = now
        return state.withLock { state in
            guard let entry = state.lists[organizationID]?[key], entry.expires > now else { return nil }
            return entry.value
        }
    }

    func storeList(organizationID: Int64, key: String, _ result: PageResult<Project>, generation: UInt64) {
        guard isEnabled else { return }
        let expires = now + ttl
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.listCount >= Self.maxLists {
                state.lists = [:]
                state.listCount = 0
            }
            if state.lists[organizationID]?[key] == nil { state.listCount += 1 }
            state.lists[organizationID, default: [:]][key] = Entry(value: result, expires: expires)
        }
    }

    // MARK: Invalidation

    /// Drops everything and bumps the generation (another process changed projects).
    func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.byID = [:]
            state.idByPK = [:]
            state.lists = [:]
            state.listCount = 0
        }
    }

    /// Drops the rows of `projects` and every list page of `organizations`, and bumps the generation.
    func invalidate(projects: [Project], organizations: [Int64]) {
        state.withLock { state in
            state.generation &+= 1
            for project in projects {
                state.byID[project.projectID] = nil
                state.idByPK[project.pk] = nil
            }
            for organization in organizations {
                state.listCount -= state.lists[organization]?.count ?? 0
                state.lists[organization] = nil
            }
        }
    }
}
