import Foundation
import Synchronization

/// HTTP/1.1 server: a listening socket and a few epoll event-loop threads; handlers run on a concurrent
/// dispatch queue. Start once, stop once.
public final class HTTPServer: Sendable {
    public let host: String
    public let limits: HTTPServerLimits
    private let requestedPort: Int
    private let core: ServerCore
    private let state = Mutex<(boundPort: Int, started: Bool, stopped: Bool)>((0, false, false))

    /// - Parameters:
    ///   - host: an IPv4 or IPv6 literal ("127.0.0.1", "0.0.0.0", "::1", "::"); "localhost" means 127.0.0.1.
    ///   - port: TCP port; 0 picks a free one (read it from `start()` or `port`).
    ///   - logger: receives one line per notable event (refused requests, timeouts, accept trouble).
    public init(host: String = "127.0.0.1", port: Int = 0, limits: HTTPServerLimits = HTTPServerLimits(),
                handler: any HTTPHandler, logger: (@Sendable (String) -> Void)? = nil) {
        self.host = host
        self.requestedPort = port
        self.limits = limits
        core = ServerCore(limits: limits, handler: handler, logger: logger)
    }

    deinit { stop(graceful: false) }

    /// The bound port once started (0 before).
    public var port: Int { state.withLock { $0.boundPort } }

    /// Binds, listens and starts the event loops. Returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        try state.withLock { s in
            guard !s.started else { throw HTTPServerError.alreadyStarted }
            let port = try startLoops()
            s.boundPort = port
            s.started = true
            return port
        }
    }

    private func startLoops() throws -> Int {
        let (fd, port) = try SocketAddress.listen(host: host, port: requestedPort)
        let loops: [EventLoop]
        do {
            loops = try (0..<max(1, limits.eventLoopCount)).map { _ in try EventLoop(core: core) }
        } catch {
            close(fd)
            throw error
        }
        core.loops = loops
        loops[0].attach(Listener(fd: fd, loop: loops[0]))
        for (i, loop) in loops.enumerated() {
            let thread = Thread { loop.run() }
            thread.name = "easel-http-\(i)"
            thread.start()
        }
        core.log("listening on \(host.contains(":") ? "[\(host)]" : host):\(port) with \(loops.count) event loops")
        return port
    }

    /// Stops accepting. Graceful: idle connections close now, requests already handed to the handler are
    /// answered (with `Connection: close`), then their connections close; whatever remains after
    /// `limits.gracefulStopTimeout` is closed. Not graceful: everything closes now. Returns when done.
    public func stop(graceful: Bool = true) {
        let proceed = state.withLock { s in
            guard s.started, !s.stopped else { return false }
            s.stopped = true
            return true
        }
        guard proceed else { return }
        core.setStopping()
        let loops = core.loops
        for loop in loops { loop.execute { loop.beginShutdown(graceful: graceful) } }
        let deadline = DispatchTime.now() + (graceful ? limits.gracefulStopTimeout : 0)
        for loop in loops where loop.done.wait(timeout: deadline) == .timedOut {
            loop.execute { loop.beginShutdown(graceful: false) }
            loop.done.wait()
        }
        core.log("stopped")
    }
}
