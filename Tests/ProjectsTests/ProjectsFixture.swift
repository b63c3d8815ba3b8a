import Auth
import Core
import DomainTestSupport
import Foundation
import Persistence
import Platform
import Projects
import Synchronization
import TestSupport

/// The shared `PlatformFixture` without seeded projects, with Projects' device counts served by a `FakeCounter`
/// (in place of Devices) and every project event logged.
final class ProjectsFixture: PlatformFixture, @unchecked Sendable {
    let counter = FakeCounter()
    let events = EventLog()

    init(config: [String: String] = [:]) throws {
        try super.init(config: config, seedProjects: false)
        projects.setDeviceCounter(counter)
        events.record(on: bus)
    }

    var module: ProjectsModule { projectsModule }
}

/// A `ProjectDeviceCounter` double: fixed counts per pk, and a log of the pks it was asked about.
final class FakeCounter: ProjectDeviceCounter, @unchecked Sendable {
    let counts = Mutex<[Int64: DeviceCounts]>([:])
    let asked = Mutex<[[Int64]]>([])

    func deviceCounts(projectPKs: [Int64]) throws -> [Int64: DeviceCounts] {
        asked.withLock { $0.append(projectPKs) }
        let counts = counts.withLock { $0 }
        return counts.filter { projectPKs.contains($0.key) }
    }
}

/// Every project event published, by name, after commit.
final class EventLog: @unchecked Sendable {
    let names = Mutex<[String]>([])

    func record(on bus: PlatformBus) {
        bus.subscribe(ProjectCreated.self, afterCommit: { [self] e in self.append("created \(e.project.projectID)") })
        bus.subscribe(ProjectUpdated.self, afterCommit: { [self] e in self.append("updated \(e.project.projectID)") })
        bus.subscribe(ProjectDeleted.self, afterCommit: { [self] e in self.append("deleted \(e.project.projectID)") })
        bus.subscribe(ProjectRestored.self, afterCommit: { [self] e in self.append("restored \(e.project.projectID)") })
        bus.subscribe(ProjectPurged.self, afterCommit: { [self] e in self.append("purged \(e.project.projectID)") })
        bus.subscribe(ProjectTransferred.self, afterCommit: { [self] e in self.append("transferred \(e.project.projectID)") })
    }

    func append(_ name: String) { names.withLock { $0.append(name) } }

    var all: [String] { names.withLock { $0 } }

    func reset() { names.withLock { $0 = [] } }
}
