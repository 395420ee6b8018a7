import Foundation
import Synchronization

/// Removes jobs (and their images and webhook deliveries) `retention` after they finished. A job leaves every
/// terminal state here and nowhere else. Runs once at start, then every `interval` on a timer.
public final class Pruner: Sendable {
    private let store: JobStore
    private let interval: TimeInterval
    private let queue = DispatchQueue(label: "easel.jobs.pruner")
    private let timer = Mutex<(any DispatchSourceTimer)?>(nil)
    /// Runs after each pass over the jobs (the daemon prunes request images there).
    private let after: @Sendable (JobStore) -> Void

    public init(store: JobStore, interval: TimeInterval = 600, after: @escaping @Sendable (JobStore) -> Void = { _ in }) {
        self.store = store
        self.interval = interval
        self.after = after
    }

    public func start() {
        timer.withLock { [queue, interval, store, after] slot in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now(), repeating: interval, leeway: .seconds(5))
            timer.setEventHandler {
                _ = try? store.prune()
                after(store)
            }
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
