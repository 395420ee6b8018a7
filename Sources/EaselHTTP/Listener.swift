import Glibc

/// The listening socket, owned by the first loop; hands accepted sockets to the loops in turn.
final class Listener {
    let fd: Int32
    unowned let loop: EventLoop
    private var nextLoop = 0
    private var closed = false
    private(set) var isPaused = false
    private var pausedUntil: UInt64 = 0
    private var refusedSinceLog = 0
    private var nextRefusalLog: UInt64 = 0

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
    }

    func acceptAll() {
        while !closed {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Epoll.accept4(fd, $0, &length, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                }
            }
            if client < 0 {
                let e = errno
                switch e {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: stop polling the listener for a moment instead of spinning on it.
                    loop.core.log("accept paused: \(String(cString: strerror(e)))")
                    loop.modify(fd: fd, events: 0)
                    isPaused = true
                    pausedUntil = Monotonic.now() + 100_000_000
                    return
                default:
                    loop.core.log("accept failed: \(String(cString: strerror(e)))")
                    return
                }
            }
            let core = loop.core
            if core.openConnections.load(ordering: .relaxed) >= core.limits.maxConnections {
                refuseOverCapacity(client)
                continue
            }
            core.openConnections.add(1, ordering: .relaxed)
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let address = SocketAddress.describe(storage)
            let loops = loop.core.loops
            let target = loops[nextLoop % loops.count]
            nextLoop &+= 1
            if target === loop {
                target.adopt(fd: client, remoteAddress: address)
            } else {
                target.execute { target.adopt(fd: client, remoteAddress: address) }
            }
        }
    }

    /// One connection too many: a 503 if the socket takes it at once (it is new, so its buffer is empty), then close.
    private func refuseOverCapacity(_ client: Int32) {
        let response = HTTPResponse.error(status: 503, code: "unavailable",
                                          message: "too many connections (server.max_connections \(loop.core.limits.maxConnections))")
        var encoded = ResponseEncoder.encode(response, .init(isHead: false, isHTTP10: false, keepAlive: false)).bytes
        _ = encoded.withUnsafeMutableBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        Glibc.close(client)
        refusedSinceLog += 1
        let now = Monotonic.now()
        if now >= nextRefusalLog {
            loop.core.log("refused \(refusedSinceLog) connection(s): \(loop.core.limits.maxConnections) are open")
            refusedSinceLog = 0
            nextRefusalLog = now + 1_000_000_000
        }
    }

    func resumeIfPaused(now: UInt64) {
        guard isPaused, !closed, now >= pausedUntil else { return }
        isPaused = false
        loop.modify(fd: fd, events: Epoll.readable)
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}
