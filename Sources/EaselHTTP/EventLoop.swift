import Foundation
import Glibc
import Synchronization

/// One epoll thread owning a set of connections. Other threads talk to it only through `execute`.
/// Unchecked Sendable by confinement: `tasks` and `wakePending` are guarded by `lock`; everything else that changes
/// (the connections, the listener, `isShuttingDown`, the read buffer) is touched only on the loop's own thread,
/// from `run` and the tasks it executes. The compiler cannot see a thread confinement, hence the unchecked.
final class EventLoop: @unchecked Sendable {
    unowned let core: ServerCore
    let epollFD: Int32
    private let wakeFD: Int32
    private let lock = NSLock()
    private var tasks: [@Sendable () -> Void] = []
    private var wakePending = false
    /// Connections by descriptor (descriptors are small and dense).
    private var connections: [Connection?] = []
    private(set) var connectionCount = 0
    /// Receive scratch space shared by this loop's connections.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private(set) var isShuttingDown = false
    private var listener: Listener?
    let done = DispatchSemaphore(value: 0)

    init(core: ServerCore) throws {
        self.core = core
        epollFD = Epoll.create(Epoll.cloexec)
        guard epollFD >= 0 else { throw HTTPServerError.system("epoll_create1", errno) }
        wakeFD = Epoll.eventfd(0, Epoll.eventfdNonblock | Epoll.cloexec)
        guard wakeFD >= 0 else { throw HTTPServerError.system("eventfd", errno) }
        add(fd: wakeFD, events: Epoll.readable)
    }

    deinit {
        readBuffer.deallocate()
        close(wakeFD)
        close(epollFD)
    }

    /// Runs `task` on this loop's thread, soon. Callable from any thread.
    func execute(_ task: @escaping @Sendable () -> Void) {
        lock.lock()
        tasks.append(task)
        let wake = !wakePending
        wakePending = true
        lock.unlock()
        if wake {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    func add(fd: Int32, events: UInt32) {
        Epoll.control(epollFD, .add, fd, events: events)
    }

    func modify(fd: Int32, events: UInt32) {
        Epoll.control(epollFD, .modify, fd, events: events)
    }

    func attach(_ listener: Listener) {
        self.listener = listener
        add(fd: listener.fd, events: Epoll.readable)
    }

    /// Adopts an accepted, non-blocking socket.
    func adopt(fd: Int32, remoteAddress: String) {
        if isShuttingDown {
            close(fd)
            core.openConnections.subtract(1, ordering: .relaxed)
            return
        }
        let connection = Connection(fd: fd, loop: self, remoteAddress: remoteAddress)
        if Int(fd) >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: max(Int(fd) + 1 - connections.count, 64)))
        }
        connections[Int(fd)] = connection
        connectionCount += 1
        add(fd: fd, events: Epoll.readable | Epoll.writable | Epoll.readHangup | Epoll.edgeTriggered)
    }

    /// Called by a connection as it closes its descriptor.
    func forget(_ connection: Connection) {
        if connections[Int(connection.fd)] === connection {
            connections[Int(connection.fd)] = nil
            connectionCount -= 1
            core.openConnections.subtract(1, ordering: .relaxed)
        }
    }

    /// Stops taking connections; closes idle ones now and the rest as their responses finish (or all now).
    func beginShutdown(graceful: Bool) {
        isShuttingDown = true
        if let listener {
            listener.close()
            self.listener = nil
        }
        for case let connection? in connections { connection.shutdown(graceful: graceful) }
    }

    /// The loop body: wait, dispatch readiness, run queued tasks, sweep timeouts. Returns once shut down and empty.
    func run() {
        let maxEvents = 256
        let events = Epoll.Events(capacity: maxEvents)
        defer { events.deallocate() }
        let tick = core.sweepInterval
        var nextSweep = Monotonic.now() + tick
        while !(isShuttingDown && connectionCount == 0) {
            let sleepForever = connectionCount == 0 && !(listener?.isPaused ?? false)
            let now = Monotonic.now()
            let timeout = sleepForever ? -1 : Int32(clamping: (nextSweep > now ? nextSweep - now : 0) / 1_000_000 + 1)
            let n = Epoll.wait(epollFD, events, timeoutMilliseconds: timeout)
            if n < 0 && errno != EINTR {
                core.log("epoll_wait failed: \(String(cString: strerror(errno)))")
                break
            }
            for i in 0..<Int(max(n, 0)) {
                let fd = events.fd(i)
                if fd == wakeFD {
                    runTasks()
                } else if let listener, fd == listener.fd {
                    listener.acceptAll()
                } else if Int(fd) < connections.count, let connection = connections[Int(fd)] {
                    connection.handle(events: events.events(i))
                }
            }
            let after = Monotonic.now()
            if after >= nextSweep {
                nextSweep = after + tick
                listener?.resumeIfPaused(now: after)
                for case let connection? in connections { connection.checkTimeouts(now: after) }
            }
        }
        runTasks()
        done.signal()
    }

    private func runTasks() {
        var value: UInt64 = 0
        _ = Glibc.read(wakeFD, &value, 8)
        lock.lock()
        var batch: [@Sendable () -> Void] = []
        swap(&batch, &tasks)
        wakePending = false
        lock.unlock()
        for task in batch { task() }
    }
}
