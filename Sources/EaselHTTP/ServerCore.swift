import Foundation
import Synchronization

/// What the loops and connections share: configuration, the handler and its queue, the loops, the stop flag.
final class ServerCore: Sendable {
    let limits: HTTPServerLimits
    let handler: any HTTPHandler
    let logger: (@Sendable (String) -> Void)?
    let handlerQueue = DispatchQueue(label: "easel.http.handlers", qos: .userInitiated, attributes: .concurrent)
    /// Set once by `HTTPServer.start`, before any loop runs.
    private let loopList = Mutex<[EventLoop]>([])
    /// How often loops look for timed-out connections: a quarter of the shortest timeout, within 10–250 ms.
    let sweepInterval: UInt64
    private let stopping = Atomic<Bool>(false)
    /// Connections open now, on every loop; counted by the listener as it accepts, uncounted as they close.
    let openConnections = Atomic<Int>(0)

    init(limits: HTTPServerLimits, handler: any HTTPHandler, logger: (@Sendable (String) -> Void)?) {
        self.limits = limits
        self.handler = handler
        self.logger = logger
        let quarter = min(limits.idleTimeout, limits.headerTimeout) / 4
        sweepInterval = Monotonic.nanoseconds(min(0.25, max(0.01, quarter)))
    }

    var loops: [EventLoop] {
        get { loopList.withLock { $0 } }
        set { loopList.withLock { $0 = newValue } }
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    func setStopping() { stopping.store(true, ordering: .releasing) }

    func log(_ message: @autoclosure () -> String) {
        logger?(message())
    }
}
