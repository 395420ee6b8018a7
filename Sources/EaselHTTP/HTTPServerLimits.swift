import Foundation

/// Limits and timeouts the server enforces per connection. Every field has a documented default;
/// change the ones you need on a `var limits = HTTPServerLimits()`.
public struct HTTPServerLimits: Sendable {
    /// Longest request line ("GET /path HTTP/1.1", without CRLF). Longer → 414. Default 8 KiB.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Longest header block after the request line (also bounds chunked trailers). Larger → 431. Default 32 KiB.
    public var maxHeaderBytes: Int = 32 * 1024
    /// Most header fields in one request. More → 431. Default 100.
    public var maxHeaderCount: Int = 100
    /// Largest request body (Content-Length or sum of chunks). Larger → 413. Default 16 MiB.
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    /// How long a keep-alive connection may sit between requests, or a write may stall, before it is closed. Default 60 s.
    public var idleTimeout: TimeInterval = 60
    /// How long a client has to deliver a complete header block, counted from its first byte
    /// (or from accept, for a new connection). Default 10 s.
    public var headerTimeout: TimeInterval = 10
    /// Most unsent bytes a streaming response may queue; a slower reader gets its connection dropped
    /// and `HTTPStreamWriter.write` returns false. Default 1 MiB.
    public var maxStreamBufferBytes: Int = 1024 * 1024
    /// How long `stop(graceful: true)` waits for in-flight requests before closing them. Default 30 s.
    public var gracefulStopTimeout: TimeInterval = 30
    /// Number of epoll event-loop threads. Default min(4, active processors), at least 1.
    public var eventLoopCount: Int = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))

    public init() {}
}
