import Foundation

/// Writes a streaming response body (chunked on HTTP/1.1). Thread-safe; never blocks: bytes are queued
/// and sent by the connection's event loop. If the queue would exceed `HTTPServerLimits.maxStreamBufferBytes`
/// (a reader too slow), the connection is dropped. Dropping the last reference without `finish()` aborts
/// the response (the connection is closed, so the client sees a truncated body).
public final class HTTPStreamWriter: Sendable {
    let channel: StreamChannel

    init(channel: StreamChannel) { self.channel = channel }

    deinit { channel.abandon() }

    /// Queues `data` as one chunk. False once the client went away, the buffer cap was hit, or after `finish()`.
    @discardableResult
    public func write(_ data: Data) -> Bool { channel.write(data) }

    @discardableResult
    public func write(_ text: String) -> Bool { channel.write(Data(text.utf8)) }

    /// Ends the body (the terminating zero chunk). Idempotent.
    public func finish() { channel.finish() }

    /// False once the client went away or the stream ended.
    public var isOpen: Bool { channel.isOpen }
}
