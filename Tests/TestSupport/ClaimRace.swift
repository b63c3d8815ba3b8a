import Dispatch
import Synchronization

/// Two claimers racing, one thread each, each claiming until its `claim` returns nothing (the claim race tests of jobs,
/// export tasks and notification messages).
public enum ClaimRace {
    /// What each claimer claimed, in order, and the errors either met.
    public static func run(_ claim: @Sendable (_ claimer: Int) throws -> [Int64]) -> (first: [Int64], second: [Int64], failures: [String]) {
        let claimed = Mutex<[[Int64]]>([[], []])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            do {
                while true {
                    let batch = try claim(index)
                    if batch.isEmpty { break }
                    claimed.withLock { $0[index].append(contentsOf: batch) }
                }
            } catch {
                failures.withLock { $0.append(String(describing: error)) }
            }
        }
        let (first, second) = claimed.withLock { ($0[0], $0[1]) }
        return (first, second, failures.withLock { $0 })
    }
}
