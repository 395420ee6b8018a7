import Foundation

/// Runs at most one of the closures given to `run` (the first).
/// Unchecked Sendable: `done` is only touched with `lock` held.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    /// True for the first caller only.
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}
