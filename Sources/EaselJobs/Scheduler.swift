import Foundation
import Synchronization

/// Per-model dispatch over the store. Each model has a `ModelLane` thread, woken by the store's `queued` events (no
/// polling); a deadline timer fails queued jobs whose timeout_s has passed (running ones are checked by their lane at
/// each step boundary).
///
/// The HTTP routes call `submit` / `cancel` here (or the store directly for reads); the engine is reached only through
/// each lane's `BatchExecutor`.
public final class Scheduler: Sendable {
    public let store: JobStore
    private let lanes: [String: ModelLane]
    private let deadlines: DeadlineWatcher
    private let token = Mutex<JobEvents.Token?>(nil)

    public init(store: JobStore, lanes: [ModelLaneConfig]) {
        self.store = store
        self.lanes = Dictionary(uniqueKeysWithValues: lanes.map { ($0.model, ModelLane(config: $0, store: store)) })
        deadlines = DeadlineWatcher(store: store)
    }

    /// Models this scheduler runs.
    public var models: [String] { Array(lanes.keys) }

    public func start() {
        let observer = store.events.observe { [weak self] event in
            guard let self, event.kind == .queued else { return }
            lanes[event.model]?.wake()
            deadlines.wake()
        }
        token.withLock { $0 = observer }
        lanes.values.forEach { $0.start() }
        deadlines.start()
    }

    /// Stops taking new batches; returns once every lane has recorded the batch it was running.
    public func stop() {
        if let observer = token.withLock({ $0 }) { store.events.remove(observer) }
        deadlines.stop()
        lanes.values.forEach { $0.stop() }
    }

    /// POST /v1/generate after validation: commits the job (durable when this returns) and wakes its model's lane.
    /// Throws `JobStoreError.queueFull`, `.idempotencyConflict`, `.invalid`.
    public func submit(_ job: NewJob) throws -> InsertOutcome {
        guard lanes[job.model] != nil else {
            throw JobStoreError.invalid(field: "model", message: "no executor for model \(job.model)")
        }
        return try store.insert(job)
    }

    /// DELETE /v1/jobs/{id}.
    public func cancel(_ id: String) throws -> CancelOutcome { try store.cancel(id) }
}
