import Core

/// The errors of the Projects module: `APIError` values with stable codes (rendered by the HTTP layer).
public enum ProjectErrors {
    /// A missing, trashed or other organization's project: one answer, never revealing which.
    public static func notFound(_ projectID: String) -> APIError {
        APIError.notFound("Project \(projectID) does not exist", code: "PROJECT_NOT_FOUND")
    }

    /// `project_id` is taken (by any organization, trashed projects included: ids are globally unique).
    public static func exists(_ projectID: String) -> APIError {
        APIError.conflict("PROJECT_EXISTS", "project_id \(projectID) is already taken")
    }

    /// Restore of a project that is not in the trash.
    public static func notInTrash(_ projectID: String) -> APIError {
        APIError.conflict("PROJECT_NOT_IN_TRASH", "Project \(projectID) is not in the trash")
    }

    /// Transfer to an unknown organization (seed 000's message, verbatim).
    public static let targetOrganizationNotFound = APIError.notFound("目标组织不存在", code: "ORGANIZATION_NOT_FOUND")

    /// Transfer to the organization the project already belongs to (seed 000's message, verbatim).
    public static let alreadyInTargetOrganization = APIError(status: 400, code: "PROJECT_ALREADY_IN_ORGANIZATION", detail: "项目已属于目标组织")

    static let scopedTokenCannotCreate = APIError.forbidden("A token scoped to projects cannot create projects")
    static let scopedTokenCannotTransfer = APIError.forbidden("Transferring a project needs a token for all projects")
}
