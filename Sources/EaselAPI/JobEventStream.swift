import EaselJobs
import Foundation

/// One `GET /v1/jobs/{id}/events` stream: `event: status` with the job object at once, after every change and every
/// finished step; a `: keepalive` comment every interval; ends after the terminal event, when the reader goes away,
/// or at shutdown. Events are handled in order on the stream's own queue (store observers must return quickly).
/// Unchecked Sendable: the mutable fields (`token`, `hubToken`, `timer`, `ended`, `pending`) are only touched with
/// `lock` held or on `queue`, as each method says.
final class JobEventStream: @unchecked Sendable {
    private let store: JobStore
    private let jobID: String
    private let sink: EventSink
    private let imageURLBase: String
    private let keepalive: TimeInterval
    private let shutdown: ShutdownHub
    private let queue: DispatchQueue
    private var token: JobEvents.Token?
    private var hubToken: ShutdownHub.Token?
    private var timer: DispatchSourceTimer?
    private var ended = false
    /// Progress events that arrive while one is being written are folded into one render.
    private var pending = false
    private let lock = NSLock()
    private let previews: PreviewHub?
    /// The step of the last preview written (on `queue`).
    private var previewStep = 0

    init(store: JobStore, jobID: String, sink: EventSink, imageURLBase: String, keepalive: TimeInterval,
         shutdown: ShutdownHub, previews: PreviewHub? = nil) {
        self.previews = previews
        self.store = store
        self.jobID = jobID
        self.sink = sink
        self.imageURLBase = imageURLBase
        self.keepalive = keepalive
        self.shutdown = shutdown
        queue = DispatchQueue(label: "easel.sse.\(jobID)")
    }

    func start() {
        let id = jobID
        token = store.events.observe { [self] event in
            guard event.jobID == id else { return }
            // Every state change is rendered; a progress event is skipped while another one waits in the queue
            // (the render shows the latest step anyway).
            let isProgress = event.kind == .progress
            if isProgress {
                lock.lock()
                let skip = pending
                pending = true
                lock.unlock()
                if skip { return }
            }
            queue.async { [self] in
                if isProgress {
                    lock.lock()
                    pending = false
                    lock.unlock()
                }
                send()
            }
        }
        hubToken = shutdown.register { [self] in queue.async { [self] in end() } }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + keepalive, repeating: keepalive, leeway: .milliseconds(100))
        timer.setEventHandler { [self] in
            guard !ended else { return }
            if !sink.write(": keepalive\n\n") { end() }
        }
        timer.resume()
        self.timer = timer
        queue.async { [self] in send() }
    }

    private func send() {
        guard !ended else { return }
        guard let job = try? store.get(jobID) else { end(); return }
        // A newer preview first (the latest only: older ones were overwritten, never queued).
        if !job.status.isTerminal, let p = previews?.get(jobID), p.step > previewStep {
            previewStep = p.step
            if !sink.write("event: preview\ndata: {\"id\":\"\(jobID)\",\"step\":\(p.step),\"image\":\"\(p.dataURI)\"}\n\n") { end(); return }
        }
        let json = String(decoding: JobJSON.render(job, imageURLBase: imageURLBase), as: UTF8.self)
        if !sink.write("event: status\ndata: \(json)\n\n") || job.status.isTerminal { end() }
    }

    private func end() {
        guard !ended else { return }
        ended = true
        if let token { store.events.remove(token) }
        shutdown.remove(hubToken)
        timer?.cancel()
        timer = nil
        sink.finish()
    }
}
