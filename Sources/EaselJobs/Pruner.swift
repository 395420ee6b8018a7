import Foundation
import Synchronization

/// Removes jobs (and their images and webhook deliveries) `retention` after they finished. A job leaves every
/// terminal state here and nowhere else. Runs once at start, then every `interval` on a timer.
public final class Pruner: Sendable {
    private let store: JobStore
    private let interval: TimeInterval
    private let queue = DispatchQueue(label: "easel.jobs.pruner")
    private let timer = Mutex<(any DispatchSourceTimer)?>(nil)

    public init(store: JobStore, interval: TimeInterval = 600) {
        self.store = store
        self.interval = interval
    }

    public func start() {
        timer.withLock { [queue, interval, store] slot in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now(), repeating: interval, leeway: .seconds(5))
            timer.setEventHandler { _ = try? store.prune() }
            timer.resume()
            slot = timer
        }
    }

    public func stop() {
        timer.withLock {
            $0?.cancel()
            $0 = nil
        }
    }
}
