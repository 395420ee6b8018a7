import Foundation
import Glibc

/// One client socket, driven by its event loop (all methods run on that loop's thread).
/// Requests are handled one at a time per connection, so pipelined responses leave in order.
final class Connection {
    enum Phase {
        /// Waiting for (or parsing) a request.
        case reading
        /// The handler has the request.
        case handling
        /// A streaming body is being sent.
        case streaming(StreamChannel)
        /// Sending the last response; then linger.
        case closing
        /// Write side shut; discarding input until EOF or a short deadline, so the client reads our answer.
        case lingering
        case closed
    }

    /// Bytes of the next pipelined request(s) read ahead while a request is being handled.
    static let readAhead = 64 * 1024
    /// Stop turning parsed requests into responses while this much output is unsent.
    static let outputHighWater = 256 * 1024
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    let fd: Int32
    unowned let loop: EventLoop
    let remoteAddress: String
    var parser: HTTPRequestParser
    var out: [UInt8] = []
    var outIndex = 0
    var phase = Phase.reading
    var readable = false
    var peerClosed = false
    var blockedOnOutput = false
    var keepAliveAfterStream = false
    var requestID: UInt64 = 0
    /// True while `processInput` runs: a response finished inline then lets that loop go on instead of recursing
    /// (a long pipeline of inline answers would otherwise nest one call per request).
    var processingInput = false
    /// When the current head's first byte came (or the connection was accepted); nil between requests.
    var headStartedAt: UInt64?
    /// Bytes read since `headStartedAt`, for the minimum request rate.
    var requestBytesRead = 0
    var lastRead: UInt64
    var lastWrite: UInt64 = 0
    var lingerDeadline: UInt64 = 0

    init(fd: Int32, loop: EventLoop, remoteAddress: String) {
        self.fd = fd
        self.loop = loop
        self.remoteAddress = remoteAddress
        parser = HTTPRequestParser(limits: loop.core.limits)
        lastRead = Monotonic.now()
        headStartedAt = lastRead
    }

    var limits: HTTPServerLimits { loop.core.limits }
    var hasPendingOutput: Bool { outIndex < out.count }
    var isClosed: Bool { if case .closed = phase { return true } else { return false } }

    func handle(events: UInt32) {
        if events & Epoll.writable != 0 && hasPendingOutput { flush() }
        if events & (Epoll.readable | Epoll.readHangup | Epoll.hangup | Epoll.error) != 0 {
            readable = true
            readAndProcess()
        }
    }

    /// Reads while the socket has bytes and we want them (bounded read-ahead while a request is busy).
    func readAndProcess() {
        while readable {
            switch phase {
            case .closed: return
            case .handling, .streaming: if parser.bufferedCount >= Self.readAhead { return }
            case .reading: if blockedOnOutput && parser.bufferedCount >= Self.readAhead { return }
            case .closing, .lingering: break
            }
            let buffer = loop.readBuffer
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                if n < buffer.count { readable = false }  // drained; edge-triggered epoll reports new data
                switch phase {
                case .closing, .lingering: continue  // discard
                default: break
                }
                lastRead = Monotonic.now()
                if case .reading = phase { requestBytesRead += n }
                parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if case .reading = phase { processInput() }
            } else if n == 0 {
                readable = false
                peerClosed = true
                peerDidClose()
                return
            } else {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: readable = false
                default: close(); return
                }
            }
        }
    }

    private func peerDidClose() {
        switch phase {
        case .reading, .closing: if !hasPendingOutput { close() }  // else closed once the output drains
        case .handling: break  // still answer: the client may only have shut its write side
        case .streaming, .lingering: close()
        case .closed: break
        }
    }

    /// Appends bytes to the output queue.
    func enqueue(_ bytes: [UInt8]) {
        if !hasPendingOutput {
            lastWrite = Monotonic.now()
            if out.isEmpty { out = bytes; outIndex = 0; return }
        }
        out.append(contentsOf: bytes)
    }

    /// Sends queued output; true once all of it went out. Closes the connection on a send error.
    func write() -> Bool {
        while outIndex < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + outIndex, $0.count - outIndex, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                outIndex += n
                lastWrite = Monotonic.now()
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return false
            } else {
                close()
                return false
            }
        }
        if out.capacity > 1 << 20 { out = [] } else { out.removeAll(keepingCapacity: true) }
        outIndex = 0
        return true
    }

    /// Sends what it can; once drained, moves on (linger, more stream, blocked input, or close).
    func flush() {
        guard write() else { return }
        switch phase {
        case .closing: beginLinger()
        case .streaming: pumpStream()
        case .reading:
            if blockedOnOutput {
                blockedOnOutput = false
                processInput()
                if case .reading = phase, readable { readAndProcess() }  // reading had paused on us
            } else if peerClosed {
                close()
            }
        default: break
        }
    }

    private func beginLinger() {
        if peerClosed || (loop.isShuttingDown && parser.bufferedCount == 0) {
            close()
            return
        }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        phase = .lingering
        lingerDeadline = Monotonic.now() + min(Self.lingerNanoseconds, Monotonic.nanoseconds(limits.idleTimeout))
        readable = true
        readAndProcess()
    }

    func close() {
        if isClosed { return }
        if case .streaming(let channel) = phase { channel.cancel() }
        phase = .closed
        loop.forget(self)
        Glibc.close(fd)
        out = []
        outIndex = 0
        parser = HTTPRequestParser(limits: limits)
    }
}
