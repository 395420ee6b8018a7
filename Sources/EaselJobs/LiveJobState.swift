import Foundation

/// What changes too often to write on every change: the step counter of running jobs (persisted at most every
/// `progressPersistInterval`) and the cancel flags the executor polls at each step boundary (also persisted, on the
/// cancel itself). Entries enter when a job is claimed or cancel-requested and leave when it finishes.
final class LiveJobState: @unchecked Sendable {
    private struct Entry {
        var model = ""
        var step = 0
        var steps = 0
        var lastPersisted: Date = .distantPast
        var cancelRequested = false
    }
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    func start(_ id: String, model: String, steps: Int) {
        lock.lock()
        entries[id] = Entry(model: model, step: 0, steps: steps)
        lock.unlock()
    }

    /// Records progress of a claimed job: whether it is time to persist it, and the job's model (for the event).
    /// nil for a job that is not running here.
    func progress(_ id: String, step: Int, steps: Int, now: Date,
                  interval: TimeInterval) -> (persist: Bool, model: String)? {
        lock.lock()
        defer { lock.unlock() }
        guard var entry = entries[id], !entry.model.isEmpty else { return nil }
        entry.step = step
        entry.steps = steps
        let due = now.timeIntervalSince(entry.lastPersisted) >= interval
        if due { entry.lastPersisted = now }
        entries[id] = entry
        return (due, entry.model)
    }

    func requestCancel(_ id: String) {
        lock.lock()
        entries[id, default: Entry()].cancelRequested = true
        lock.unlock()
    }

    func isCancelRequested(_ id: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return entries[id]?.cancelRequested ?? false
    }

    func progress(of id: String) -> (step: Int, steps: Int)? {
        lock.lock()
        defer { lock.unlock() }
        guard let e = entries[id], e.steps > 0 else { return nil }
        return (e.step, e.steps)
    }

    func finish(_ id: String) {
        lock.lock()
        entries[id] = nil
        lock.unlock()
    }
}
