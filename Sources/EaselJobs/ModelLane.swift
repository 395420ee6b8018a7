import Foundation
import Synchronization

/// One model's dispatcher: a thread that sleeps until the store says a job was queued for its model, claims a batch
/// (waiting up to max_queue_delay after the head's submission for compatible jobs), runs it on the executor, and
/// records each job's end. A job leaves `queued` here by being claimed, and leaves `running` here by `finish`.
final class ModelLane: Sendable {
    let config: ModelLaneConfig
    private let store: JobStore
    private let worker: WorkerThread

    init(config: ModelLaneConfig, store: JobStore) {
        self.config = config
        self.store = store
        worker = WorkerThread(name: "easel.lane.\(config.model)")
    }

    func start() { worker.start { [self] in loop() } }

    /// Stops after the batch in progress (if any) has been recorded.
    func stop() { worker.stop() }

    func wake() { worker.wake() }

    private func loop() {
        while worker.sleep(timeout: nil) {
            while !worker.isStopping, let batch = nextBatch(), !batch.isEmpty {
                run(batch)
            }
        }
    }

    /// Waits while the head's batch is not full and its fill window is open, then claims.
    private func nextBatch() -> [JobRecord]? {
        while true {
            guard let head = try? store.queueHead(model: config.model) else { return nil }
            let fillUntil = head.createdAt.addingTimeInterval(config.maxQueueDelay)
            if head.compatible >= config.maxBatchSize || store.now >= fillUntil { break }
            if !worker.sleep(timeout: fillUntil.timeIntervalSince(store.now)) { return nil }
        }
        return try? store.claimBatch(model: config.model, maxBatchSize: config.maxBatchSize)
    }

    fileprivate enum Stop { case canceled, deadline }

    private func run(_ batch: [JobRecord]) {
        let deadlines = Dictionary(uniqueKeysWithValues: batch.map { ($0.id, $0.deadline) })
        let stopped = StopReasons()
        let store = self.store
        let started = Date()
        let results = config.executor.run(batch: batch) { id, step, steps in
            store.recordProgress(id, step: step, steps: steps)
            let reason: Stop?
            if store.isCancelRequested(id) {
                reason = .canceled
            } else if let deadline = deadlines[id] ?? nil, store.now >= deadline {
                reason = .deadline
            } else {
                reason = nil
            }
            guard let reason else { return true }
            stopped.record(id, reason)
            return false
        }
        let inferenceMs = Int(Date().timeIntervalSince(started) * 1000)
        for job in batch {
            let outcome: JobOutcome
            let pastDeadline = job.deadline.map { store.now >= $0 } ?? false
            let stop = stopped[job.id]
            if stop == .canceled {
                outcome = .canceled(inferenceMs: inferenceMs)
            } else if stop == .deadline || pastDeadline {
                outcome = .failed(JobError(code: JobError.deadlineExceeded,
                                           message: "the job did not finish within its timeout_s"), inferenceMs: inferenceMs)
            } else {
                switch results[job.id] {
                case .success(let output)?:
                    outcome = save(output.images, of: job, inferenceMs: inferenceMs, counters: output.counters)
                case .failure(let error)?:
                    outcome = .failed(error, inferenceMs: inferenceMs)
                case nil:
                    outcome = .failed(JobError(code: JobError.internalError, message: "the executor returned no result"),
                                      inferenceMs: inferenceMs)
                }
            }
            _ = try? store.finish(job.id, outcome)
        }
    }

    /// Writes every image before the job may be recorded as succeeded.
    private func save(_ images: [GeneratedImage], of job: JobRecord, inferenceMs: Int, counters: [String: Int]) -> JobOutcome {
        do {
            var stored: [JobImage] = []
            for (index, image) in images.enumerated() {
                let file = try store.images.write(image.bytes, jobID: job.id, index: index)
                stored.append(JobImage(index: index, width: image.width, height: image.height, seed: image.seed,
                                       contentType: image.contentType, file: file))
            }
            return .succeeded(stored, inferenceMs: inferenceMs, counters: counters)
        } catch {
            store.images.remove(jobID: job.id)
            return .failed(JobError(code: JobError.internalError, message: "could not store the images: \(error)"),
                           inferenceMs: inferenceMs)
        }
    }
}

/// Why the executor was told to stop each job (the first reason wins), written from its progress callback.
private final class StopReasons: Sendable {
    private let reasons = Mutex<[String: ModelLane.Stop]>([:])

    func record(_ id: String, _ reason: ModelLane.Stop) {
        reasons.withLock { $0[id] = $0[id] ?? reason }
    }

    subscript(id: String) -> ModelLane.Stop? { reasons.withLock { $0[id] } }
}
