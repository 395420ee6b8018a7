import EaselHTTP
import EaselJobs
import Foundation

extension APIHandler {
    /// GET /readyz: 200 once every startup model is loaded (the store is open while this handler exists).
    func readyz() -> HTTPResponse {
        let (ready, waiting) = registry.readiness
        if ready && !shutdown.isStopping { return .json(Data(#"{"status":"ready"}"#.utf8)) }
        return APIError.unavailable(shutdown.isStopping ? "shutting down" : waiting.joined(separator: "; ")).response
    }

    /// GET /metrics
    func metricsResponse() -> HTTPResponse {
        let depths = (try? store.queueDepths()) ?? [:]
        let text = metrics.render(queueDepths: depths, models: registry.entries.map(\.id),
                                  resident: registry.memory.resident, budget: registry.memory.budget)
        return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                            body: .data(Data(text.utf8)))
    }

    /// Counts submitted and finished jobs and times finished ones, from the store's events.
    func observeJobs() -> JobEvents.Token {
        let queue = DispatchQueue(label: "easel.metrics.jobs")
        return store.events.observe { [weak self] event in
            guard let self else { return }
            switch event.kind {
            case .queued:
                metrics.increment(Metrics.jobsTotal, [("model", event.model), ("status", "queued")])
            case .finished:
                metrics.increment(Metrics.jobsTotal, [("model", event.model), ("status", event.status.rawValue)])
                queue.async { [weak self] in
                    guard let self, let job = try? store.get(event.jobID), let end = job.completedAt else { return }
                    metrics.observe(Metrics.jobSeconds, end.timeIntervalSince(job.createdAt))
                    if let q = job.queueMs, job.startedAt != nil { metrics.observe(Metrics.queueWaitSeconds, Double(q) / 1000) }
                    logger.info("job \(job.status.rawValue)", metadata: [
                        "job_id": "\(job.id)", "model": "\(job.model)", "queue_ms": "\(job.queueMs ?? 0)",
                        "inference_ms": "\(job.inferenceMs ?? 0)", "batch_size": "\(job.batchSize ?? 0)",
                        "error": "\(job.error?.code ?? "")"])
                }
            default: break
            }
        }
    }
}
