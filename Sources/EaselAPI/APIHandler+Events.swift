import EaselHTTP
import Foundation

extension APIHandler {
    /// GET /v1/jobs/{id}/events
    func jobEvents(_ id: String) throws -> HTTPResponse {
        _ = try requireJob(id)
        let headers: HTTPHeaders = ["Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                    "X-Accel-Buffering": "no"]
        return HTTPResponse(status: 200, headers: headers, body: .stream { [self] writer in
            openEventStream(jobID: id, sink: StreamWriterSink(writer))
        })
    }

    /// Starts streaming a job's events into `sink` (the route's body; tests call it with their own sink).
    public func openEventStream(jobID: String, sink: EventSink) {
        JobEventStream(store: store, jobID: jobID, sink: sink, imageURLBase: options.imageURLBase,
                       keepalive: options.keepaliveInterval, shutdown: shutdown, previews: options.previews).start()
    }
}
