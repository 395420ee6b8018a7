/// The daemon's side of the server. `handle` runs on a concurrent dispatch queue, never on an event loop;
/// call `respond` exactly once, from any thread, whenever ready (later calls are ignored). Holding a request
/// (e.g. `Prefer: wait`) costs no thread if `handle` returns and `respond` is called later.
public protocol HTTPHandler {
    func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void)

    /// Whether `handle` will answer this request before returning, using only memory and short locks (no disk, no
    /// waits). The server then calls `handle` on the connection's event loop and writes the answer at once, sparing
    /// two thread hand-offs. Defaults to false; a handler that answers later anyway still works, just without the gain.
    func answersInline(_ request: HTTPRequest) -> Bool
}

extension HTTPHandler {
    public func answersInline(_ request: HTTPRequest) -> Bool { false }
}

/// An `HTTPHandler` made from a closure.
public final class HTTPClosureHandler: HTTPHandler {
    private let body: (HTTPRequest, @escaping (HTTPResponse) -> Void) -> Void
    private let inline: (HTTPRequest) -> Bool

    /// `inline` says which requests `body` answers at once from memory (see `answersInline`).
    public init(inline: @escaping (HTTPRequest) -> Bool = { _ in false },
                _ body: @escaping (HTTPRequest, @escaping (HTTPResponse) -> Void) -> Void) {
        self.body = body
        self.inline = inline
    }

    public func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) { body(request, respond) }

    public func answersInline(_ request: HTTPRequest) -> Bool { inline(request) }
}
