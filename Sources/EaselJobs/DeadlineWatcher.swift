import Foundation

/// Fails queued jobs whose deadline passed (`deadline_exceeded`). A thread sleeps until the earliest queued deadline
/// and is woken early by new submissions, whose deadline may be earlier.
final class DeadlineWatcher: @unchecked Sendable {
    private let store: JobStore
    private let condition = NSCondition()
    private var woken = true
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    init(store: JobStore) { self.store = store }

    func start() {
        let thread = Thread { [self] in
            loop()
            done.signal()
        }
        thread.name = "easel.deadlines"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        done.wait()
    }

    func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            _ = try? store.expireDeadlines()
            let next = (try? store.nextQueuedDeadline()) ?? nil
            condition.lock()
            if !woken && !stopping {
                if let next {
                    // A few ms past the deadline so the expiry query sees it as passed.
                    _ = condition.wait(until: Date().addingTimeInterval(next.timeIntervalSince(store.now) + 0.002))
                } else {
                    condition.wait()
                }
            }
            woken = false
            let stop = stopping
            condition.unlock()
            if stop { return }
        }
    }
}
