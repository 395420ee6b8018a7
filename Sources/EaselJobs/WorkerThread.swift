import Foundation

/// A named background thread that sleeps until woken, until a timeout, or until stopped: the one wake-up mechanism
/// behind the model lanes, the deadline watcher and the webhook sender (no polling loops).
/// Unchecked Sendable: every mutable field is read and written only with `condition` locked; the condition variable
/// (wait with a timeout, signal) is what `Mutex` does not offer, and the compiler cannot see NSCondition's locking.
final class WorkerThread: @unchecked Sendable {
    private let name: String
    private let condition = NSCondition()
    private var woken = true  // the first sleep returns at once: there may be work from before the start
    private var stopping = false
    private var started = false
    private let done = DispatchSemaphore(value: 0)

    init(name: String) { self.name = name }

    /// Runs `body` on the thread; `body` returns when `sleep` says to stop.
    func start(_ body: @escaping @Sendable () -> Void) {
        condition.lock()
        started = true
        condition.unlock()
        let thread = Thread { [done] in
            body()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    /// Asks the body to return and waits until it has (returns at once if never started; idempotent).
    func stop() {
        condition.lock()
        let wasRunning = started && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning { done.wait() }
    }

    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Sleeps until woken since the last sleep, or `timeout` seconds (nil: no limit); false once stopping.
    func sleep(timeout: TimeInterval?) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if let timeout {
            if !woken && !stopping { _ = condition.wait(until: Date().addingTimeInterval(max(0, timeout))) }
        } else {
            while !woken && !stopping { condition.wait() }
        }
        woken = false
        return !stopping
    }
}
