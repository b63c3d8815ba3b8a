import Core

/// What other modules know of a project: its keys, name and organization. Devices, Factors, Alerts and
/// Exports hold `pk` (or `projectID`) in their own tables and learn the rest through `ProjectService`.
public struct ProjectRef: Sendable, Equatable {
    /// Internal primary key (never shown in URLs).
    public let pk: Int64
    /// The public, immutable `project_id` used in URLs.
    public let projectID: String
    public let name: String
    public let organizationID: Int64

    public init(pk: Int64, projectID: String, name: String, organizationID: Int64) {
        self.pk = pk
        self.projectID = projectID
        self.name = name
        self.organizationID = organizationID
    }
}

/// Device counts of one project, as shown in project lists and details.
public struct DeviceCounts: Sendable, Equatable {
    public let total: Int
    public let offline: Int

    public init(total: Int, offline: Int) {
        self.total = total
        self.offline = offline
    }

    public static let zero = DeviceCounts(total: 0, offline: 0)
}

/// Declared by Projects, implemented by Devices, wired by the app: Projects never reads device tables.
public protocol ProjectDeviceCounter: Sendable {
    /// Counts for each of `projectPKs` (missing keys mean zero). `offline` uses the configured threshold.
    func deviceCounts(projectPKs: [Int64]) throws -> [Int64: DeviceCounts]
}
