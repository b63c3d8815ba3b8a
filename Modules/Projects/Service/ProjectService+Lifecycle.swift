import Auth
import Core
import Persistence

/// What a `DELETE` did.
public enum ProjectDeletion: Sendable, Equatable {
    /// Moved to the trash (`ProjectDeleted`).
    case trashed
    /// Removed for good (`ProjectPurged`).
    case purged
}

extension ProjectService {
    // MARK: - Trash

    /// `DELETE /projects/{id}/`: an active project goes to the trash (`ProjectDeleted`: Devices unbinds its
    /// devices in the same transaction); with `hard`, or when it is already trashed, it is removed for good
    /// (`ProjectDeleted` first when it was active, then `ProjectPurged`).
    /// With `activeOnly`, a trashed project is 404 instead of purged (the dialects' DELETE, where a trashed project is gone).
    @discardableResult
    public func delete(_ projectID: String, hard: Bool, by caller: Caller, activeOnly: Bool = false) throws -> ProjectDeletion {
        let time = now
        return try db.write { tx -> ProjectDeletion in
            let store = ProjectStore(db: tx)
            var project = try checked(store, projectID, caller, .write, trashed: activeOnly ? false : nil)
            invalidateOnCommit(tx, [project], organizations: [project.organizationID])
            if !project.isTrashed {
                project.deletedAt = time
                try store.update(project)
                try bus.publish(ProjectDeleted(project: project.ref), in: tx)
                if !hard { return .trashed }
            }
            try store.delete(pk: project.pk)
            try bus.publish(ProjectPurged(project: project.ref), in: tx)
            return .purged
        }
    }

    /// `GET /projects/trash/`: the caller's trashed projects (same scope rules as the list), most recently
    /// trashed first. Not cached: the trash is rarely read.
    public func trash(for caller: Caller, page: PageRequest = PageRequest()) throws -> PageResult<ProjectView> {
        let scope: ProjectStore.Scope = caller.allProjects ? nil : Array(Set(caller.projects)).sorted()
        let (count, items) = try db.read { db in
            try ProjectStore(db: db).list(organizationID: caller.organizationID, scope: scope, filter: ProjectFilter(), trashed: true,
                                          limit: page.limit, offset: page.offset)
        }
        return PageResult(count: count, items: try views(items, organizationSlug: caller.organizationSlug))
    }

    /// `POST /projects/{id}/restore/`: a trashed project becomes active again (its devices stay unbound);
    /// `updated_at` moves to now. An active project → 409 `PROJECT_NOT_IN_TRASH`.
    public func restore(_ projectID: String, by caller: Caller) throws -> ProjectView {
        let time = now
        let project = try db.write { tx -> Project in
            let store = ProjectStore(db: tx)
            var project = try checked(store, projectID, caller, .write, trashed: true)
            project.deletedAt = nil
            project.updatedAt = max(time, project.updatedAt)
            try store.update(project)
            invalidateOnCommit(tx, [project], organizations: [project.organizationID])
            try bus.publish(ProjectRestored(project: project.ref), in: tx)
            return project
        }
        return try views([project], organizationSlug: caller.organizationSlug)[0]
    }

    /// Purges projects trashed more than `seconds` ago, one transaction each (`ProjectPurged` each); returns
    /// how many. The daily scheduler job and `admin-cli projects purge-trash` call this.
    @discardableResult
    public func purgeTrash(olderThan seconds: Double) throws -> Int {
        let cutoff = now - Int64((max(0, seconds) * 1000).rounded(.down))
        var purged = 0
        var skipped = Set<Int64>()
        while true {
            let batch = try db.read { try ProjectStore(db: $0).trashed(before: cutoff, limit: 100 + skipped.count) }
                .filter { !skipped.contains($0.pk) }
            if batch.isEmpty { break }
            for candidate in batch {
                let done = try db.write { tx -> Bool in
                    let store = ProjectStore(db: tx)
                    // Restored or purged meanwhile (another process): leave it.
                    guard let project = try store.project(pk: candidate.pk), let deletedAt = project.deletedAt, deletedAt < cutoff else {
                        return false
                    }
                    try store.delete(pk: project.pk)
                    invalidateOnCommit(tx, [project], organizations: [project.organizationID])
                    try bus.publish(ProjectPurged(project: project.ref), in: tx)
                    return true
                }
                if done { purged += 1 } else { skipped.insert(candidate.pk) }
            }
        }
        if purged > 0 { logger.info("purged trashed projects", ["count": .int(purged), "older_than_s": .number(seconds)]) }
        return purged
    }

    // MARK: - Transfer

    /// `POST /projects/{id}/transfer/`: moves an active project of the caller's organization to the organization
    /// `targetSlug`, in one transaction that also carries `ProjectTransferred` (Devices moves its rows there).
    /// Needs manager and an all-projects token. Unknown slug → 404 `目标组织不存在`; same org → 400 `项目已属于目标组织`.
    public func transfer(_ projectID: String, toOrganization targetSlug: String, by caller: Caller) throws -> ProjectView {
        let current = try authorized(projectID, for: caller, access: .write)
        guard caller.allProjects else { throw APIError.forbidden("Transferring a project needs a token for all projects") }
        guard let target = try auth.organization(slug: targetSlug) else { throw ProjectError.targetOrganizationNotFound }
        guard target.id != current.organizationID else { throw ProjectError.alreadyInTargetOrganization }
        let time = now
        let project = try db.write { tx -> Project in
            let store = ProjectStore(db: tx)
            // The fresh row, checked again: it may have moved or gone to the trash since the cached read.
            var project = try checked(store, projectID, caller, .write, trashed: false)
            let from = project.organizationID
            guard target.id != from else { throw ProjectError.alreadyInTargetOrganization }
            project.organizationID = target.id
            project.updatedAt = max(time, project.updatedAt)
            try store.update(project)
            invalidateOnCommit(tx, [project], organizations: [from, target.id])
            try bus.publish(ProjectTransferred(project: project.ref, fromOrganizationID: from, toOrganizationID: target.id), in: tx)
            return project
        }
        return try views([project], organizationSlug: target.slug)[0]
    }
}
