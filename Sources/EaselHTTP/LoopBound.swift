/// A connection carried through other threads (a handler's `respond`, a stream's wake-up) only to be used back on
/// the event loop that owns it. Sendable because nothing touches `value` except closures `EventLoop.execute` runs
/// on `loop`'s thread, where every other use of a connection happens too. Weak: a connection closed meanwhile is
/// gone, and what was meant for it is dropped (as its own checks would drop it).
struct LoopBound<Value: AnyObject>: @unchecked Sendable {
    private weak var value: Value?
    let loop: EventLoop

    init(_ value: Value, on loop: EventLoop) {
        self.value = value
        self.loop = loop
    }

    /// Runs `body` with the value on its loop's thread, soon. Callable from any thread.
    func execute(_ body: @escaping @Sendable (Value) -> Void) {
        let bound = self
        loop.execute { if let value = bound.value { body(value) } }
    }
}
