import Foundation

/// What the loops and connections share: configuration, the handler and its queue, the loops, the stop flag.
final class ServerCore: @unchecked Sendable {
    let limits: HTTPServerLimits
    let handler: HTTPHandler
    let logger: ((String) -> Void)?
    let handlerQueue = DispatchQueue(label: "easel.http.handlers", qos: .userInitiated, attributes: .concurrent)
    var loops: [EventLoop] = []
    /// How often loops look for timed-out connections: a quarter of the shortest timeout, within 10–250 ms.
    let sweepInterval: UInt64
    private let lock = NSLock()
    private var stopping = false

    init(limits: HTTPServerLimits, handler: HTTPHandler, logger: ((String) -> Void)?) {
        self.limits = limits
        self.handler = handler
        self.logger = logger
        let quarter = min(limits.idleTimeout, limits.headerTimeout) / 4
        sweepInterval = Monotonic.nanoseconds(min(0.25, max(0.01, quarter)))
    }

    var isStopping: Bool { lock.withLock { stopping } }

    func setStopping() { lock.withLock { stopping = true } }

    func log(_ message: @autoclosure () -> String) {
        logger?(message())
    }
}
