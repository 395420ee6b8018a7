import Foundation

/// Fails queued jobs whose deadline passed (`deadline_exceeded`). A thread sleeps until the earliest queued deadline
/// and is woken early by new submissions, whose deadline may be earlier.
final class DeadlineWatcher: Sendable {
    private let store: JobStore
    private let worker = WorkerThread(name: "easel.deadlines")

    init(store: JobStore) { self.store = store }

    func start() { worker.start { [self] in loop() } }
    func stop() { worker.stop() }
    func wake() { worker.wake() }

    private func loop() {
        repeat {
            _ = try? store.expireDeadlines()
        } while worker.sleep(timeout: ((try? store.nextQueuedDeadline()) ?? nil).map {
            // A few ms past the deadline so the expiry query sees it as passed.
            $0.timeIntervalSince(store.now) + 0.002
        })
    }
}
