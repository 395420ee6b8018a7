import EaselHTTP

/// Where an event stream writes: the HTTP stream writer in the server, a recorder in tests.
public protocol EventSink: AnyObject, Sendable {
    /// False once the reader went away.
    func write(_ text: String) -> Bool
    func finish()
}

/// An `EventSink` over the server's `HTTPStreamWriter`.
final class StreamWriterSink: EventSink, Sendable {
    let writer: HTTPStreamWriter
    init(_ writer: HTTPStreamWriter) { self.writer = writer }
    func write(_ text: String) -> Bool { writer.write(text) }
    func finish() { writer.finish() }
}
