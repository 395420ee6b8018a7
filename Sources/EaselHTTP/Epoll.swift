import Glibc

/// epoll, eventfd and accept4: Swift's Glibc module map leaves out <sys/epoll.h> and <sys/eventfd.h>, so
/// rather than add a C shim target we bind the three libc entry points once through dlsym and lay out
/// `struct epoll_event` by hand (packed, 12 bytes, on x86_64; 16 bytes elsewhere).
enum Epoll {
    static let readable: UInt32 = 0x001     // EPOLLIN
    static let writable: UInt32 = 0x004     // EPOLLOUT
    static let error: UInt32 = 0x008        // EPOLLERR
    static let hangup: UInt32 = 0x010       // EPOLLHUP
    static let readHangup: UInt32 = 0x2000  // EPOLLRDHUP
    static let edgeTriggered: UInt32 = 1 << 31  // EPOLLET
    static let cloexec: Int32 = 0o2000000   // EPOLL_CLOEXEC, EFD_CLOEXEC
    static let eventfdNonblock: Int32 = 0o4000  // EFD_NONBLOCK
    enum Op: Int32 { case add = 1, delete = 2, modify = 3 }

    #if arch(x86_64)
    static let eventSize = 12
    static let dataOffset = 4
    #else
    static let eventSize = 16
    static let dataOffset = 8
    #endif

    private static func bind<T>(_ name: String, _ type: T.Type) -> T {
        guard let address = dlsym(nil, name) else { fatalError("libc lacks \(name)") }
        return unsafeBitCast(address, to: type)
    }

    static let create = bind("epoll_create1", (@convention(c) (Int32) -> Int32).self)
    private static let control = bind("epoll_ctl", (@convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32).self)
    private static let waitFunction = bind("epoll_wait", (@convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32).self)
    static let eventfd = bind("eventfd", (@convention(c) (UInt32, Int32) -> Int32).self)
    static let accept4 = bind("accept4", (@convention(c) (Int32, UnsafeMutablePointer<sockaddr>?,
                                                           UnsafeMutablePointer<socklen_t>?, Int32) -> Int32).self)

    /// epoll_ctl with the descriptor itself as the event data.
    @discardableResult
    static func control(_ epollFD: Int32, _ op: Op, _ fd: Int32, events: UInt32) -> Int32 {
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { event in
            event.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
            event.storeBytes(of: UInt64(UInt32(bitPattern: fd)), toByteOffset: dataOffset, as: UInt64.self)
            event.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
            return control(epollFD, op.rawValue, fd, event.baseAddress)
        }
    }

    /// A buffer for `wait` results.
    struct Events {
        let buffer: UnsafeMutableRawBufferPointer
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            buffer = .allocate(byteCount: capacity * Epoll.eventSize, alignment: 8)
        }

        func deallocate() { buffer.deallocate() }

        func events(_ i: Int) -> UInt32 { buffer.loadUnaligned(fromByteOffset: i * Epoll.eventSize, as: UInt32.self) }

        func fd(_ i: Int) -> Int32 {
            Int32(truncatingIfNeeded: buffer.loadUnaligned(fromByteOffset: i * Epoll.eventSize + Epoll.dataOffset, as: UInt64.self))
        }
    }

    static func wait(_ epollFD: Int32, _ events: Events, timeoutMilliseconds: Int32) -> Int32 {
        waitFunction(epollFD, events.buffer.baseAddress, Int32(events.capacity), timeoutMilliseconds)
    }
}
