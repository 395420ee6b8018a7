import Foundation
import Synchronization

/// What changes too often to write on every change: the step counter of running jobs (persisted at most every
/// `progressPersistInterval`) and the cancel flags the executor polls at each step boundary (also persisted, on the
/// cancel itself). Entries enter when a job is claimed or cancel-requested and leave when it finishes.
final class LiveJobState: Sendable {
    private struct Entry {
        var model = ""
        var step = 0
        var steps = 0
        var lastPersisted: Date = .distantPast
        var cancelRequested = false
    }
    private let entries = Mutex<[String: Entry]>([:])

    func start(_ id: String, model: String, steps: Int) {
        entries.withLock { $0[id] = Entry(model: model, step: 0, steps: steps) }
    }

    /// Records progress of a claimed job: whether it is time to persist it, and the job's model (for the event).
    /// nil for a job that is not running here.
    func progress(_ id: String, step: Int, steps: Int, now: Date,
                  interval: TimeInterval) -> (persist: Bool, model: String)? {
        entries.withLock { entries in
            guard var entry = entries[id], !entry.model.isEmpty else { return nil }
            entry.step = step
            entry.steps = steps
            let due = now.timeIntervalSince(entry.lastPersisted) >= interval
            if due { entry.lastPersisted = now }
            entries[id] = entry
            return (due, entry.model)
        }
    }

    func requestCancel(_ id: String) {
        entries.withLock { $0[id, default: Entry()].cancelRequested = true }
    }

    func isCancelRequested(_ id: String) -> Bool {
        entries.withLock { $0[id]?.cancelRequested ?? false }
    }

    func progress(of id: String) -> (step: Int, steps: Int)? {
        entries.withLock { entries in
            guard let e = entries[id], e.steps > 0 else { return nil }
            return (e.step, e.steps)
        }
    }

    func finish(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
