import Foundation

/// The queue between an `HTTPStreamWriter` (any thread) and its connection (event loop).
/// The loop takes the queued bytes only once its previous batch has gone to the kernel, so `pending`
/// is what a slow reader makes us hold; it is capped.
final class StreamChannel: @unchecked Sendable {
    enum Outcome { case streaming, finished, failed }

    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var finished = false
    private var failed = false
    private var notifyScheduled = false
    private let cap: Int
    private let chunked: Bool
    /// Asks the loop to call `take()`; set by the connection before the writer is handed out.
    var notify: () -> Void = {}

    init(cap: Int, chunked: Bool) {
        self.cap = cap
        self.chunked = chunked
    }

    var isOpen: Bool { lock.withLock { !finished && !failed } }
    var isFailed: Bool { lock.withLock { failed } }

    func write(_ data: Data) -> Bool {
        lock.lock()
        guard !finished, !failed else { lock.unlock(); return false }
        if data.isEmpty { lock.unlock(); return true }  // an empty chunk would end the body
        if pending.count + data.count + 32 > cap {
            failed = true
            pending = []
            lock.unlock()
            notify()
            return false
        }
        if chunked {
            pending.append(contentsOf: String(data.count, radix: 16).utf8)
            pending.append(contentsOf: crlf)
            pending.append(contentsOf: data)
            pending.append(contentsOf: crlf)
        } else {
            pending.append(contentsOf: data)
        }
        let wake = schedule()
        lock.unlock()
        if wake { notify() }
        return true
    }

    func finish() {
        lock.lock()
        guard !finished, !failed else { lock.unlock(); return }
        finished = true
        if chunked { pending.append(contentsOf: Array("0\r\n\r\n".utf8)) }
        let wake = schedule()
        lock.unlock()
        if wake { notify() }
    }

    /// Writer dropped: an unfinished stream fails.
    func abandon() {
        lock.lock()
        guard !finished, !failed else { lock.unlock(); return }
        failed = true
        lock.unlock()
        notify()
    }

    /// Connection gone (loop side): later writes return false.
    func cancel() {
        lock.withLock {
            failed = true
            pending = []
        }
    }

    /// Loop side: the queued bytes and the state after them.
    func take() -> (bytes: [UInt8], outcome: Outcome) {
        lock.lock()
        defer { lock.unlock() }
        notifyScheduled = false
        var bytes: [UInt8] = []
        swap(&bytes, &pending)
        return (bytes, failed ? .failed : finished ? .finished : .streaming)
    }

    private func schedule() -> Bool {
        if notifyScheduled { return false }
        notifyScheduled = true
        return true
    }
}

private let crlf: [UInt8] = [13, 10]
