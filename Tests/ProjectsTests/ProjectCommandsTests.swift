import Auth
import Core
import DomainTestSupport
import Foundation
import Platform
import Projects
import Synchronization
import Testing
import TestSupport

@Suite struct ProjectCommandsTests {
    /// Runs one of the module's admin-cli commands; returns (exit code, stdout, stderr).
    func run(_ fixture: ProjectsFixture, _ words: [String]) -> (Int32, String, String) {
        let out = EventLog()
        let err = EventLog()
        let output = CommandOutput(out: { out.append($0) }, err: { err.append($0) })
        let code = CommandRunner(program: "admin-cli", commands: fixture.module.commands, output: output).run(words, help: false)
        return (code, out.all.joined(separator: "\n"), err.all.joined(separator: "\n"))
    }

    @Test func listPrintsTextOrJSON() throws {
        let fixture = try ProjectsFixture()
        try fixture.create("cli-a", name: "CLI A", favorite: true)
        try fixture.create("cli-b", name: "CLI B")
        try fixture.create("cli-gone")
        try fixture.projects.delete("cli-gone", hard: false, by: fixture.caller("alice"))
        let (code, text, _) = run(fixture, ["projects", "list", "--org", "acme"])
        #expect(code == 0)
        #expect(text.split(separator: "\n").map { $0.split(separator: "\t").first.map(String.init) } == ["cli-a", "cli-b"])
        #expect(text.contains("CLI A\tfavorite"))
        let (jsonCode, json, _) = run(fixture, ["projects", "list", "--org", "acme", "--json"])
        #expect(jsonCode == 0)
        let parsed = try JSONParser.parse(json)
        #expect(parsed.arrayValue?.compactMap { $0["project_id"]?.stringValue } == ["cli-a", "cli-b"])
        #expect(parsed.arrayValue?.first?["organization"] == .string("acme"))
        let (_, trash, _) = run(fixture, ["projects", "list", "--org", "acme", "--trash"])
        #expect(trash.hasPrefix("cli-gone\t"))
        #expect(run(fixture, ["projects", "list", "--org", "nope"]).0 == 1)
        #expect(run(fixture, ["projects", "list"]).0 == 2)
    }

    @Test func purgeTrashUsesTheDurationAndPrintsTheCount() throws {
        let fixture = try ProjectsFixture()
        let alice = try fixture.caller("alice")
        for id in ["t-old", "t-new"] { try fixture.create(id) }
        try fixture.projects.delete("t-old", hard: false, by: alice)
        fixture.clock.advance(by: 3 * 86_400)
        try fixture.projects.delete("t-new", hard: false, by: alice)
        fixture.clock.advance(by: 3600)
        #expect(run(fixture, ["projects", "purge-trash"]).1 == "purged 0 projects")        // default retention: 30 days
        #expect(run(fixture, ["projects", "purge-trash", "--older-than", "2d"]).1 == "purged 1 project")
        #expect(fixture.events.all.last == "purged t-old")
        #expect(run(fixture, ["projects", "purge-trash", "--older-than", "soon"]).0 == 2)
        #expect(run(fixture, ["projects", "purge-trash", "--older-than", "0"]).1 == "purged 1 project")
        #expect(try fixture.projects.trash(for: alice).count == 0)
    }

    @Test func theDailyJobPurgesWithTheConfiguredRetention() throws {
        let fixture = try ProjectsFixture(config: ["projects.trash_retention": "7d"])
        let alice = try fixture.caller("alice")
        try fixture.create("job-old")
        try fixture.projects.delete("job-old", hard: false, by: alice)
        let job = try #require(fixture.module.jobs.first { $0.name == "projects.purge-trash" })
        #expect(job.interval == 86_400)
        fixture.clock.advance(by: 6 * 86_400)
        try job.run()
        #expect(try fixture.projects.trash(for: alice).count == 1)
        fixture.clock.advance(by: 2 * 86_400)
        try job.run()
        #expect(try fixture.projects.trash(for: alice).count == 0)
        #expect(fixture.platform.jobs.contains { $0.name == "projects.purge-trash" })
    }

    @Test func migrationsAreNamedAndAppendOnly() throws {
        let fixture = try ProjectsFixture()
        #expect(fixture.module.migrations.map(\.name) == ["projects.001.create-projects", "projects.002.schedule-and-short-domains"])
        #expect(try fixture.test.context.db.appliedMigrations().contains("projects.001.create-projects"))
        #expect(try fixture.platform.migrate().isEmpty)
    }
}
