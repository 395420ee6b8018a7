/// The daemon's side of the server. `handle` runs on a concurrent dispatch queue, never on an event loop;
/// call `respond` exactly once, from any thread, whenever ready (later calls are ignored). Holding a request
/// (e.g. `Prefer: wait`) costs no thread if `handle` returns and `respond` is called later.
public protocol HTTPHandler {
    func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void)
}

/// An `HTTPHandler` made from a closure.
public final class HTTPClosureHandler: HTTPHandler {
    private let body: (HTTPRequest, @escaping (HTTPResponse) -> Void) -> Void

    public init(_ body: @escaping (HTTPRequest, @escaping (HTTPResponse) -> Void) -> Void) { self.body = body }

    public func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) { body(request, respond) }
}
