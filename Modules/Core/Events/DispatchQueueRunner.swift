import Dispatch

/// A serial background queue for async event delivery.
final class DispatchQueueRunner: Sendable {
    private let queue = DispatchQueue(label: "iot.eventbus.async")

    func run(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }

    func drain() { queue.sync {} }
}
