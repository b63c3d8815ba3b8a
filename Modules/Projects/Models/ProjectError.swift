import Core

/// The errors of the Projects module; each case's code, status and detail are mapped here only.
public enum ProjectError: PlatformError, Equatable {
    /// 404 `PROJECT_NOT_FOUND`: a missing, trashed or other organization's project, one answer never revealing which.
    case notFound(projectID: String)
    /// 409 `PROJECT_EXISTS`: the `project_id` is taken (by any organization, trashed projects included).
    case exists(projectID: String)
    /// 409 `PROJECT_NOT_IN_TRASH`: restore of a project that is not in the trash.
    case notInTrash(projectID: String)
    /// 404 `ORGANIZATION_NOT_FOUND`: transfer to an unknown organization (seed 000's message, verbatim).
    case targetOrganizationNotFound
    /// 400 `PROJECT_ALREADY_IN_ORGANIZATION`: transfer to the project's own organization (seed 000's message, verbatim).
    case alreadyInTargetOrganization
    /// 400 `PROJECT_NAME_TAKEN`: an active project of the organization already has this name (only where a caller asks for
    /// unique names: the UFDL dialect, seed 004).
    case nameTaken(name: String)

    public var status: Int {
        switch self {
        case .notFound, .targetOrganizationNotFound: 404
        case .exists, .notInTrash: 409
        case .alreadyInTargetOrganization, .nameTaken: 400
        }
    }

    public var code: String {
        switch self {
        case .notFound: "PROJECT_NOT_FOUND"
        case .exists: "PROJECT_EXISTS"
        case .notInTrash: "PROJECT_NOT_IN_TRASH"
        case .targetOrganizationNotFound: "ORGANIZATION_NOT_FOUND"
        case .alreadyInTargetOrganization: "PROJECT_ALREADY_IN_ORGANIZATION"
        case .nameTaken: "PROJECT_NAME_TAKEN"
        }
    }

    /// The field a validation-like case concerns (dialects render it as a field error).
    public var fields: [String: String] {
        switch self {
        case .nameTaken: ["name": "a project with this name already exists"]
        default: [:]
        }
    }

    public var detail: String {
        switch self {
        case .notFound(let projectID): "Project \(projectID) does not exist"
        case .exists(let projectID): "project_id \(projectID) is already taken"
        case .notInTrash(let projectID): "Project \(projectID) is not in the trash"
        case .targetOrganizationNotFound: "目标组织不存在"
        case .alreadyInTargetOrganization: "项目已属于目标组织"
        case .nameTaken(let name): "A project named \(name) already exists"
        }
    }
}
