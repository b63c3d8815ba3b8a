import Core
import Foundation
import Synchronization

extension Platform {
    /// The `scheduler` program's commands: `run` (loop until SIGTERM/SIGINT), `once [JOB…]` (every job, or the named
    /// ones, one time now whatever its interval, then exit; 1 when a job failed, 2 for an unknown job), `status [--json]`.
    public var schedulerCommands: [any CLICommand] {
        [
            SimpleCommand(["run"], summary: "Run due jobs until SIGTERM/SIGINT (finishing the job in progress)") { [self] arguments, output in
                try arguments.expectPositionals(0)
                let scheduler = JobScheduler(platform: self)
                let stop = Atomic<Bool>(false)
                let sources = SignalSources.make([SIGTERM, SIGINT]) { _ in stop.store(true, ordering: .relaxed) }
                if context.config.bool(KernelKeys.serverReleaseStartupMemory) {
                    // As the api-server does: a long-running process gives back the pages only its startup touched.
                    _ = StartupMemory.release()
                }
                context.db.changes.start(logger: context.logger)
                output.out("scheduler running \(jobs.count) jobs: \(jobs.map(\.name).joined(separator: ", "))")
                scheduler.run { stop.load(ordering: .relaxed) }
                sources.forEach { $0.cancel() }
                shutdown()
                output.out("scheduler stopped")
                return 0
            },
            SimpleCommand(["once"], summary: "Run every job (or the named ones) one time now, whatever its interval; one line per job; "
                              + "exit 1 when a job failed", usage: "[JOB…]") { [self] arguments, output in
                let known = jobs.map(\.name)
                let unknown = arguments.positionals.filter { !known.contains($0) }
                guard unknown.isEmpty else {
                    throw UsageError("unknown job\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); the jobs are: "
                                     + known.joined(separator: ", "))
                }
                let outcomes = JobScheduler(platform: self).runNow(arguments.positionals.isEmpty ? nil : arguments.positionals)
                for outcome in outcomes {
                    let seconds = String(format: "%.3f", outcome.seconds)
                    if let skipped = outcome.skipped {
                        output.out("job \(outcome.job) skipped: \(skipped)")
                    } else if let error = outcome.error {
                        output.line("job \(outcome.job) failed after \(seconds) s: \(error)")
                    } else {
                        output.out("job \(outcome.job) ok (\(seconds) s)")
                    }
                }
                shutdown()
                return outcomes.contains { $0.error != nil } ? 1 : 0
            },
            SimpleCommand(["status"], summary: "Each job's runs, last start/finish and last error", usage: "[--json]",
                          flags: ["json"]) { [self] arguments, output in
                try arguments.expectPositionals(0)
                let states = try JobScheduler(platform: self).states()
                if arguments.flag("json") {
                    output.json(.array(states.map(\.json)))
                } else {
                    for state in states {
                        let finished = state.lastFinishedAt.map { Timestamp.format(unixSeconds: $0) } ?? "never"
                        output.rows([[state.name, "runs=\(state.runs)", "last_finished=\(finished)"] + (state.lastError.map { ["error=" + $0] } ?? [])])
                    }
                }
                return 0
            },
        ]
    }
}
