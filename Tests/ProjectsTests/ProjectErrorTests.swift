import Core
import Projects
import Testing

/// `ProjectError` answers with the codes and statuses of DESIGN §4 and seed 000's verbatim transfer messages.
@Suite struct ProjectErrorTests {
    @Test(arguments: [
        (ProjectError.notFound(projectID: "p1"), 404, "PROJECT_NOT_FOUND"),
        (.exists(projectID: "p1"), 409, "PROJECT_EXISTS"),
        (.notInTrash(projectID: "p1"), 409, "PROJECT_NOT_IN_TRASH"),
        (.targetOrganizationNotFound, 404, "ORGANIZATION_NOT_FOUND"),
        (.alreadyInTargetOrganization, 400, "PROJECT_ALREADY_IN_ORGANIZATION"),
    ])
    func statusAndCode(_ error: ProjectError, _ status: Int, _ code: String) {
        #expect(error.status == status)
        #expect(error.code == code)
        #expect(error.exposesDetail)
    }

    @Test func transferMessagesAreTheSeeds() {
        #expect(ProjectError.targetOrganizationNotFound.detail == "目标组织不存在")
        #expect(ProjectError.alreadyInTargetOrganization.detail == "项目已属于目标组织")
        #expect(ProjectError.notFound(projectID: "p1").detail == "Project p1 does not exist")
    }
}
