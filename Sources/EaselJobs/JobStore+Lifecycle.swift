import EaselJSON
import Foundation

/// How a running job ended, as the scheduler reports it to `finish`.
public enum JobOutcome: Sendable {
    /// Every image already written to disk (`ImageFiles.write`).
    case succeeded([JobImage], inferenceMs: Int, counters: [String: Int] = [:])
    case failed(JobError, inferenceMs: Int?)
    /// A requested cancel was honoured at a step boundary.
    case canceled(inferenceMs: Int?)
}

/// What `JobStore.init` did to jobs that were running when the previous process stopped.
public struct RecoveryReport: Sendable, Equatable {
    /// Back to queued, in their original order (attempts already counted when they were claimed).
    public var requeued: [String] = []
    /// Reached max_attempts: failed with `worker_lost`.
    public var workerLost: [String] = []
    /// A cancel had been requested before the crash: canceled instead of re-run.
    public var canceled: [String] = []
    /// Webhook deliveries still pending, which the sender resumes.
    public var pendingWebhooks = 0
}

extension JobStore {
    /// DELETE /v1/jobs/{id}: queued ⇒ canceled now; running ⇒ cancel_requested (honoured at the next step boundary);
    /// terminal ⇒ `.alreadyTerminal`.
    public func cancel(_ id: String) throws -> CancelOutcome {
        let (outcome, events): (CancelOutcome, [JobEvent]) = try write {
            try writer.transaction {
                guard let job = try fetch(writer, id: id) else { return (.notFound, []) }
                switch job.status {
                case .queued:
                    let (done, e) = try terminate(id, status: .canceled,
                                                  error: JobError(code: JobError.canceled, message: "canceled by request"))
                    return (.canceled(done), [e])
                case .running:
                    try writer.run("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", [.text(id)])
                    live.requestCancel(id)
                    let updated = try fetch(writer, id: id)!
                    return (.cancelRequested(updated), [event(.cancelRequested, updated)])
                case .succeeded, .failed, .canceled:
                    return (.alreadyTerminal(job), [])
                }
            }
        }
        self.events.publish(events)
        return outcome
    }

    /// Records the end of a running job. Returns nil if the job is not running (e.g. already finished).
    @discardableResult
    public func finish(_ id: String, _ outcome: JobOutcome) throws -> JobRecord? {
        let result: (JobRecord, JobEvent)? = try write {
            try writer.transaction {
                guard let job = try fetch(writer, id: id), job.status == .running else { return nil }
                switch outcome {
                case .succeeded(let images, let ms, let counters):
                    let encoded = try JSONValueEncoder().encode(images).data
                    let metrics = counters.isEmpty ? nil : try JSONValueEncoder().encode(counters).data
                    try writer.run("UPDATE jobs SET images = ?, inference_ms = ?, engine_metrics = ?, step = steps WHERE id = ?",
                                   [.blob(encoded), .int(ms), metrics.map { .blob($0) } ?? .null, .text(id)])
                    return try terminate(id, status: .succeeded, error: nil)
                case .failed(let error, let ms):
                    try writer.run("UPDATE jobs SET inference_ms = ? WHERE id = ?", [.int(ms), .text(id)])
                    return try terminate(id, status: .failed, error: error)
                case .canceled(let ms):
                    try writer.run("UPDATE jobs SET inference_ms = ? WHERE id = ?", [.int(ms), .text(id)])
                    return try terminate(id, status: .canceled,
                                         error: JobError(code: JobError.canceled, message: "canceled by request"))
                }
            }
        }
        live.finish(id)
        guard let (job, e) = result else { return nil }
        events.publish([e])
        return job
    }

    /// Moves a job to a terminal status and, when it has a webhook URL, enqueues the delivery in the same
    /// transaction (so a committed terminal state always has its webhook). Call inside a writer transaction.
    func terminate(_ id: String, status: JobStatus, error: JobError?) throws -> (JobRecord, JobEvent) {
        let completedMs = Timestamp.milliseconds(now)
        try writer.run("""
            UPDATE jobs SET status = ?, completed_ms = ?, error_code = ?, error_message = ?,
                webhook_state = CASE WHEN webhook_url IS NULL THEN NULL ELSE 'pending' END
            WHERE id = ?
            """, [.text(status.rawValue), .int(completedMs), .text(error?.code), .text(error?.message), .text(id)])
        var job = try fetch(writer, id: id)!
        if let progress = live.progress(of: id), status != .succeeded {
            job.step = progress.step
            job.steps = progress.steps
            try writer.run("UPDATE jobs SET step = ? WHERE id = ?", [.int(progress.step), .text(id)])
        }
        var enqueued = false
        if let url = job.webhook?.url {
            let payload = renderer.webhookPayload(job)
            try writer.run("""
                INSERT INTO webhook_deliveries (id, job_id, url, payload, state, next_attempt_ms, created_ms)
                VALUES (?, ?, ?, ?, 'pending', ?, ?)
                """, [.text(ids.next(prefix: "msg_", now: now)), .text(id), .text(url), .blob(payload),
                      .int(completedMs), .int(completedMs)])
            enqueued = true
        }
        return (job, event(.finished, job, webhookEnqueued: enqueued))
    }

    /// Run once on open: jobs left running by a dead process go back to the queue (their attempt was counted when
    /// claimed), or fail with `worker_lost` at max_attempts, or end canceled if a cancel had been requested.
    func recover() throws -> RecoveryReport {
        try write {
            try writer.transaction {
                var report = RecoveryReport()
                let running = try writer.query(
                    "SELECT id, attempts, cancel_requested FROM jobs WHERE status = 'running' ORDER BY seq") {
                    ($0.text(0), $0.int(1), $0.int(2) != 0)
                }
                for (id, attempts, cancelRequested) in running {
                    if cancelRequested {
                        _ = try terminate(id, status: .canceled,
                                          error: JobError(code: JobError.canceled, message: "canceled by request"))
                        report.canceled.append(id)
                    } else if attempts >= options.maxAttempts {
                        _ = try terminate(id, status: .failed, error: JobError(
                            code: JobError.workerLost,
                            message: "the worker stopped while running this job \(attempts) times"))
                        report.workerLost.append(id)
                    } else {
                        try writer.run("UPDATE jobs SET status = 'queued', started_ms = NULL, step = 0, "
                                       + "queue_ms = NULL, batch_size = NULL WHERE id = ?", [.text(id)])
                        report.requeued.append(id)
                    }
                }
                report.pendingWebhooks = try writer.queryOne(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'") { $0.int(0) } ?? 0
                return report
            }
        }
    }

    /// Deletes terminal jobs completed more than `retention` ago, their webhook deliveries and their images.
    /// Returns the pruned ids.
    @discardableResult
    public func prune() throws -> [String] {
        let cutoff = Timestamp.milliseconds(now.addingTimeInterval(-options.retention))
        let pruned: [String] = try write {
            try writer.transaction {
                let ids = try writer.query("""
                    SELECT id FROM jobs WHERE completed_ms IS NOT NULL AND completed_ms < ?
                        AND status IN ('succeeded', 'failed', 'canceled')
                    """, [.int(cutoff)]) { $0.text(0) }
                for id in ids {
                    try writer.run("DELETE FROM webhook_deliveries WHERE job_id = ?", [.text(id)])
                    try writer.run("DELETE FROM jobs WHERE id = ?", [.text(id)])
                }
                return ids
            }
        }
        // After the commit: a crash in between leaves orphan files, never a job whose images are gone.
        for id in pruned { images.remove(jobID: id) }
        return pruned
    }
}
