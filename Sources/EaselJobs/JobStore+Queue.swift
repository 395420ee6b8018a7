import Foundation

/// The head of a model's queue, for the scheduler's batch-fill wait.
public struct QueueHead: Sendable, Equatable {
    public var batchKey: String
    public var createdAt: Date
    /// Queued jobs of this model with the head's batch key (the head included).
    public var compatible: Int
}

extension JobStore {
    /// The job that would be claimed next for `model` (highest priority, then oldest) and how many could join it:
    /// queued jobs with its batch key, or with its admission key when `byAdmissionKey` (continuous batching).
    public func queueHead(model: String, byAdmissionKey: Bool = false) throws -> QueueHead? {
        try read { db in
            guard let (key, created) = try db.queryOne("""
                SELECT batch_key, created_ms FROM jobs WHERE status = 'queued' AND model = ?
                ORDER BY priority DESC, seq LIMIT 1
                """, [.text(model)], { ($0.text(0), $0.int(1)) }) else { return nil }
            let count: Int
            if byAdmissionKey {
                count = try db.queryOne(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = ? AND \(Self.admissionMatch)",
                    [.text(model), .text(JobRecord.admissionKey(key))]) { $0.int(0) } ?? 0
            } else {
                count = try db.queryOne(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = ? AND batch_key = ?",
                    [.text(model), .text(key)]) { $0.int(0) } ?? 0
            }
            return QueueHead(batchKey: key, createdAt: Timestamp.date(milliseconds: created), compatible: count)
        }
    }

    /// SQL true for a `batch_key` whose admission key is the statement's next parameter.
    static let admissionMatch = "(batch_key = ?2 OR substr(batch_key, 1, length(?2) + 1) = ?2 || '|')"

    /// Moves up to `maxBatchSize` queued jobs of `model` to running: the head (highest priority, then FIFO) and the
    /// next ones in the same order that share its batch key. Counts an attempt for each and records queue time.
    public func claimBatch(model: String, maxBatchSize: Int) throws -> [JobRecord] {
        let claimed: [JobRecord] = try write {
            try writer.transaction {
                guard let key = try writer.queryOne("""
                    SELECT batch_key FROM jobs WHERE status = 'queued' AND model = ?
                    ORDER BY priority DESC, seq LIMIT 1
                    """, [.text(model)], { $0.text(0) }) else { return [] }
                let ids = try writer.query("""
                    SELECT id FROM jobs WHERE status = 'queued' AND model = ? AND batch_key = ?
                    ORDER BY priority DESC, seq LIMIT ?
                    """, [.text(model), .text(key), .int(max(1, maxBatchSize))]) { $0.text(0) }
                return try markRunning(ids, batchSize: ids.count)
            }
        }
        announce(claimed)
        return claimed
    }

    /// Continuous batching's claim at a step boundary, for a running set of `running` jobs with admission key
    /// `admissionKey` (nil: the set is empty). Claims at most `limit` jobs in queue order (priority, then FIFO):
    /// - into an empty set, the head and the queued jobs that share its admission key;
    /// - into a running set, the jobs at the front of the queue while they share its key. The first incompatible
    ///   job stops admission, so the set drains and that job goes next (nothing waits behind a stream of others).
    public func claimAdmissions(model: String, admissionKey: String?, limit: Int, running: Int = 0) throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        let claimed: [JobRecord] = try write {
            try writer.transaction {
                let ids: [String]
                if let admissionKey {
                    let front = try writer.query("""
                        SELECT id, batch_key FROM jobs WHERE status = 'queued' AND model = ?
                        ORDER BY priority DESC, seq LIMIT ?
                        """, [.text(model), .int(limit)]) { ($0.text(0), $0.text(1)) }
                    ids = front.prefix { JobRecord.admissionKey($0.1) == admissionKey }.map(\.0)
                } else {
                    guard let head = try writer.queryOne("""
                        SELECT batch_key FROM jobs WHERE status = 'queued' AND model = ?
                        ORDER BY priority DESC, seq LIMIT 1
                        """, [.text(model)], { $0.text(0) }) else { return [] }
                    ids = try writer.query("""
                        SELECT id FROM jobs WHERE status = 'queued' AND model = ?1 AND \(Self.admissionMatch)
                        ORDER BY priority DESC, seq LIMIT ?3
                        """, [.text(model), .text(JobRecord.admissionKey(head)), .int(limit)]) { $0.text(0) }
                }
                return try markRunning(ids, batchSize: running + ids.count)
            }
        }
        announce(claimed)
        return claimed
    }

    /// queued → running for `ids` (inside a writer transaction): an attempt counted, queue time and batch size kept.
    private func markRunning(_ ids: [String], batchSize: Int) throws -> [JobRecord] {
        let startedMs = Timestamp.milliseconds(now)
        return try ids.map { id in
            try writer.run("""
                UPDATE jobs SET status = 'running', started_ms = ?, attempts = attempts + 1, step = 0,
                    queue_ms = MAX(0, ? - created_ms), batch_size = ?
                WHERE id = ?
                """, [.int(startedMs), .int(startedMs), .int(batchSize), .text(id)])
            return try fetch(writer, id: id)!
        }
    }

    private func announce(_ claimed: [JobRecord]) {
        guard !claimed.isEmpty else { return }
        for job in claimed { live.start(job.id, model: job.model, steps: job.steps) }
        events.publish(claimed.map { event(.started, $0) })
    }

    /// Records a finished step of a running job: in memory at once (for status and SSE), in the database at most
    /// every `progressPersistInterval`, without making the executor wait for the write.
    public func recordProgress(_ id: String, step: Int, steps: Int) {
        guard let (due, model) = live.progress(id, step: step, steps: steps, now: now,
                                               interval: options.progressPersistInterval) else { return }
        if due {
            writeQueue.async { [writer, cache] in
                _ = try? writer.run("UPDATE jobs SET step = ?, steps = ? WHERE id = ? AND status = 'running'",
                                    [.int(step), .int(steps), .text(id)])
                cache.invalidate()
            }
        }
        events.publish([JobEvent(kind: .progress, jobID: id, model: model, status: .running, step: step, steps: steps,
                                 webhookEnqueued: false)])
    }

    /// Whether a cancel was requested for a running job (checked by the executor at each step boundary).
    public func isCancelRequested(_ id: String) -> Bool { live.isCancelRequested(id) }

    /// The earliest deadline among queued jobs, for the scheduler's deadline timer.
    public func nextQueuedDeadline() throws -> Date? {
        try read { db in
            try db.queryOne("SELECT MIN(deadline_ms) FROM jobs WHERE status = 'queued' AND deadline_ms IS NOT NULL") {
                $0.optionalInt(0).map(Timestamp.date(milliseconds:))
            } ?? nil
        }
    }

    /// Fails every queued job whose deadline has passed with `deadline_exceeded`.
    @discardableResult
    public func expireDeadlines() throws -> [JobRecord] {
        let nowMs = Timestamp.milliseconds(now)
        // Most wake-ups find nothing due: check on the reader before taking the write lock.
        guard let next = try nextQueuedDeadline(), Timestamp.milliseconds(next) <= nowMs else { return [] }
        let (jobs, events): ([JobRecord], [JobEvent]) = try write {
            try writer.transaction {
                let ids = try writer.query(
                    "SELECT id FROM jobs WHERE status = 'queued' AND deadline_ms IS NOT NULL AND deadline_ms <= ?",
                    [.int(nowMs)]) { $0.text(0) }
                var jobs: [JobRecord] = []
                var events: [JobEvent] = []
                for id in ids {
                    let (job, e) = try terminate(id, status: .failed, error: JobError(
                        code: JobError.deadlineExceeded, message: "the job did not finish within its timeout_s"))
                    jobs.append(job)
                    events.append(e)
                }
                return (jobs, events)
            }
        }
        self.events.publish(events)
        return jobs
    }
}
