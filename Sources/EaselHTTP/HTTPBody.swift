import Foundation

/// A response body: fixed bytes (sent with Content-Length) or a stream (sent with chunked encoding).
public enum HTTPBody: Sendable {
    case data(Data)
    /// Called once on a handler thread after the head is queued; write with the writer from any thread,
    /// then `finish()`. Not called for HEAD requests.
    case stream(@Sendable (HTTPStreamWriter) -> Void)
}
