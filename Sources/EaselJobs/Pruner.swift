import Foundation

/// Removes jobs (and their images and webhook deliveries) `retention` after they finished. A job leaves every
/// terminal state here and nowhere else. Runs once at start, then every `interval` on a timer.
public final class Pruner: @unchecked Sendable {
    private let store: JobStore
    private let interval: TimeInterval
    private let queue = DispatchQueue(label: "easel.jobs.pruner")
    private var timer: DispatchSourceTimer?

    public init(store: JobStore, interval: TimeInterval = 600) {
        self.store = store
        self.interval = interval
    }

    public func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: interval, leeway: .seconds(5))
        timer.setEventHandler { [store] in _ = try? store.prune() }
        timer.resume()
        self.timer = timer
    }

    public func stop() {
        timer?.cancel()
        timer = nil
    }
}
