/// The daemon's side of the server. `handle` runs on a concurrent dispatch queue, never on an event loop;
/// call `respond` exactly once, from any thread, whenever ready (later calls are ignored). Holding a request
/// (e.g. `Prefer: wait`) costs no thread if `handle` returns and `respond` is called later.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void)

    /// Answers the request now if that takes only memory and short locks (no disk, no waits), and returns true; or
    /// returns false without calling `respond`, and the server calls `handle` on its dispatch queue instead. The
    /// server calls this on the connection's event loop, sparing two thread hand-offs for what it answers. An answer
    /// given later than the return still works, just without the gain. The default answers nothing inline.
    func handleInline(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> Bool
}

extension HTTPHandler {
    public func handleInline(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> Bool { false }
}

/// An `HTTPHandler` made from a closure.
public final class HTTPClosureHandler: HTTPHandler, Sendable {
    private let body: @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void
    private let inline: @Sendable (HTTPRequest) -> Bool

    /// `inline` says which requests `body` answers at once from memory (see `handleInline`).
    public init(inline: @escaping @Sendable (HTTPRequest) -> Bool = { _ in false },
                _ body: @escaping @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void) {
        self.body = body
        self.inline = inline
    }

    public func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) { body(request, respond) }

    public func handleInline(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> Bool {
        guard inline(request) else { return false }
        body(request, respond)
        return true
    }
}
