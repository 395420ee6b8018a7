import Foundation
import Synchronization

/// One model's dispatcher: a thread that sleeps until the store says a job was queued for its model, claims a batch
/// (waiting up to max_queue_delay after the head's submission for compatible jobs), runs it on the executor, and
/// records each job's end. A job leaves `queued` here by being claimed, and leaves `running` here by `finish`.
///
/// With continuous batching the claimed jobs form a running set instead: after every step the lane records the jobs
/// that finished and admits queued jobs with the set's admission key, in queue order, while there is room.
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
        let continuous = config.batching == .continuous ? config.executor as? ContinuousBatchExecutor : nil
        while worker.sleep(timeout: nil) {
            if let continuous {
                while !worker.isStopping, let first = nextBatch(byAdmissionKey: true), !first.isEmpty {
                    runContinuously(first, executor: continuous)
                }
            } else {
                while !worker.isStopping, let batch = nextBatch(byAdmissionKey: false), !batch.isEmpty {
                    run(batch)
                }
            }
        }
    }

    /// Waits while the head's batch is not full and its fill window is open, then claims.
    private func nextBatch(byAdmissionKey: Bool) -> [JobRecord]? {
        while true {
            guard let head = try? store.queueHead(model: config.model, byAdmissionKey: byAdmissionKey) else { return nil }
            let fillUntil = head.createdAt.addingTimeInterval(config.maxQueueDelay)
            if head.compatible >= config.maxBatchSize || store.now >= fillUntil { break }
            if !worker.sleep(timeout: fillUntil.timeIntervalSince(store.now)) { return nil }
        }
        if byAdmissionKey {
            return try? store.claimAdmissions(model: config.model, admissionKey: nil, limit: config.maxBatchSize)
        }
        return try? store.claimBatch(model: config.model, maxBatchSize: config.maxBatchSize)
    }

    /// Runs a running set from its first jobs until it is empty: each round admits what fits (not once stopping,
    /// so a stop drains the set), takes one step, and records every job that left it.
    private func runContinuously(_ first: [JobRecord], executor: ContinuousBatchExecutor) {
        let set = executor.openRunningSet()
        let key = first[0].admissionKey
        var jobs: [String: (job: JobRecord, admitted: Date)] = [:]
        let stopped = StopReasons()
        func admit(_ claimed: [JobRecord]) {
            for job in claimed {
                if let error = set.admit(job) {
                    _ = try? store.finish(job.id, .failed(error, inferenceMs: 0))
                } else {
                    jobs[job.id] = (job, Date())
                }
            }
        }
        admit(first)
        while !jobs.isEmpty {
            let left = set.step { id, step, steps in
                store.recordProgress(id, step: step, steps: steps)
                guard let reason = self.stopReason(id, deadline: jobs[id]?.job.deadline ?? nil) else { return true }
                stopped.record(id, reason)
                return false
            }
            for (id, result) in left {
                guard let (job, admitted) = jobs.removeValue(forKey: id) else { continue }
                finish(job, result: result, stop: stopped[id], inferenceMs: Int(Date().timeIntervalSince(admitted) * 1000))
            }
            if worker.isStopping || !set.admitting { continue }
            let room = config.maxBatchSize - set.count
            if room > 0, let claimed = try? store.claimAdmissions(model: config.model, admissionKey: key, limit: room,
                                                                  running: set.count), !claimed.isEmpty {
                admit(claimed)
            }
        }
        set.close()
    }

    private func stopReason(_ id: String, deadline: Date?) -> Stop? {
        if store.isCancelRequested(id) { return .canceled }
        if let deadline, store.now >= deadline { return .deadline }
        return nil
    }

    fileprivate enum Stop { case canceled, deadline }

    private func run(_ batch: [JobRecord]) {
        let deadlines = Dictionary(uniqueKeysWithValues: batch.map { ($0.id, $0.deadline) })
        let stopped = StopReasons()
        let store = self.store
        let started = Date()
        let results = config.executor.run(batch: batch) { [self] id, step, steps in
            store.recordProgress(id, step: step, steps: steps)
            guard let reason = stopReason(id, deadline: deadlines[id] ?? nil) else { return true }
            stopped.record(id, reason)
            return false
        }
        let inferenceMs = Int(Date().timeIntervalSince(started) * 1000)
        for job in batch { finish(job, result: results[job.id], stop: stopped[job.id], inferenceMs: inferenceMs) }
    }

    /// Records a job's end from what the executor returned and why it was stopped, if it was.
    private func finish(_ job: JobRecord, result: Result<JobOutput, JobError>?, stop: Stop?, inferenceMs: Int) {
        let outcome: JobOutcome
        let pastDeadline = job.deadline.map { store.now >= $0 } ?? false
        if stop == .canceled {
            outcome = .canceled(inferenceMs: inferenceMs)
        } else if stop == .deadline || pastDeadline {
            outcome = .failed(JobError(code: JobError.deadlineExceeded,
                                       message: "the job did not finish within its timeout_s"), inferenceMs: inferenceMs)
        } else {
            switch result {
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

    /// Writes every image before the job may be recorded as succeeded.
    private func save(_ images: [GeneratedImage], of job: JobRecord, inferenceMs: Int, counters: [String: Int]) -> JobOutcome {
        do {
            var stored: [JobImage] = []
            for (index, image) in images.enumerated() {
                let file = try store.images.write(image.bytes, jobID: job.id, index: index,
                                                  ext: ImageFiles.fileExtension(contentType: image.contentType))
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
