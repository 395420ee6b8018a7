import Foundation

/// Requests held open (Prefer: wait, event streams) register here to be answered at once when the daemon stops,
/// instead of holding the graceful stop for up to a minute.
/// Unchecked Sendable: `handlers`, `next` and `stopping` are only touched with `lock` held.
public final class ShutdownHub: @unchecked Sendable {
    public typealias Token = Int
    private let lock = NSLock()
    private var handlers: [Token: @Sendable () -> Void] = [:]
    private var next = 0
    private var stopping = false

    public init() {}

    public var isStopping: Bool { lock.withLock { stopping } }

    /// Registers `handler`; if already stopping, runs it now and returns nil.
    @discardableResult
    public func register(_ handler: @escaping @Sendable () -> Void) -> Token? {
        lock.lock()
        if stopping {
            lock.unlock()
            handler()
            return nil
        }
        next += 1
        handlers[next] = handler
        lock.unlock()
        return next
    }

    public func remove(_ token: Token?) {
        guard let token else { return }
        lock.lock()
        handlers[token] = nil
        lock.unlock()
    }

    public func fire() {
        lock.lock()
        stopping = true
        let all = Array(handlers.values)
        handlers = [:]
        lock.unlock()
        all.forEach { $0() }
    }
}
