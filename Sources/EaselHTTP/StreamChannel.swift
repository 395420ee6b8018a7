import Foundation
import Synchronization

/// The queue between an `HTTPStreamWriter` (any thread) and its connection (event loop).
/// The loop takes the queued bytes only once its previous batch has gone to the kernel, so `pending`
/// is what a slow reader makes us hold; it is capped.
final class StreamChannel: Sendable {
    enum Outcome { case streaming, finished, failed }

    private struct State {
        var pending: [UInt8] = []
        var finished = false
        var failed = false
        var notifyScheduled = false

        /// True if the loop must be woken (once per batch it has not taken yet).
        mutating func schedule() -> Bool {
            if notifyScheduled { return false }
            notifyScheduled = true
            return true
        }
    }

    private let state = Mutex(State())
    private let cap: Int
    private let chunked: Bool
    /// Asks the loop to call `take()`.
    private let notify: @Sendable () -> Void

    init(cap: Int, chunked: Bool, notify: @escaping @Sendable () -> Void) {
        self.cap = cap
        self.chunked = chunked
        self.notify = notify
    }

    var isOpen: Bool { state.withLock { !$0.finished && !$0.failed } }
    var isFailed: Bool { state.withLock { $0.failed } }

    func write(_ data: Data) -> Bool {
        let (accepted, wake): (Bool, Bool) = state.withLock { s in
            guard !s.finished, !s.failed else { return (false, false) }
            if data.isEmpty { return (true, false) }  // an empty chunk would end the body
            if s.pending.count + data.count + 32 > cap {
                s.failed = true
                s.pending = []
                return (false, true)
            }
            if chunked {
                s.pending.append(contentsOf: String(data.count, radix: 16).utf8)
                s.pending.append(contentsOf: crlf)
                s.pending.append(contentsOf: data)
                s.pending.append(contentsOf: crlf)
            } else {
                s.pending.append(contentsOf: data)
            }
            return (true, s.schedule())
        }
        if wake { notify() }
        return accepted
    }

    func finish() {
        let wake: Bool = state.withLock { s in
            guard !s.finished, !s.failed else { return false }
            s.finished = true
            if chunked { s.pending.append(contentsOf: Array("0\r\n\r\n".utf8)) }
            return s.schedule()
        }
        if wake { notify() }
    }

    /// Writer dropped: an unfinished stream fails.
    func abandon() {
        let wake: Bool = state.withLock { s in
            guard !s.finished, !s.failed else { return false }
            s.failed = true
            return true
        }
        if wake { notify() }
    }

    /// Connection gone (loop side): later writes return false.
    func cancel() {
        state.withLock { s in
            s.failed = true
            s.pending = []
        }
    }

    /// Loop side: the queued bytes and the state after them.
    func take() -> (bytes: [UInt8], outcome: Outcome) {
        state.withLock { s in
            s.notifyScheduled = false
            var bytes: [UInt8] = []
            swap(&bytes, &s.pending)
            return (bytes, s.failed ? .failed : s.finished ? .finished : .streaming)
        }
    }
}

private let crlf: [UInt8] = [13, 10]
