import Foundation

/// One image an executor made: encoded bytes (PNG) and what the job object reports about it.
public struct GeneratedImage: Sendable {
    public var bytes: Data
    public var width: Int
    public var height: Int
    public var seed: UInt64
    public var contentType: String

    public init(bytes: Data, width: Int, height: Int, seed: UInt64, contentType: String = "image/png") {
        self.bytes = bytes
        self.width = width
        self.height = height
        self.seed = seed
        self.contentType = contentType
    }
}

/// What an executor made for one job: its images and counters worth reporting in the job's metrics
/// (for instance transformer passes and how many the step cache skipped).
public struct JobOutput: Sendable {
    public var images: [GeneratedImage]
    public var counters: [String: Int]

    public init(images: [GeneratedImage], counters: [String: Int] = [:]) {
        self.images = images
        self.counters = counters
    }
}

/// Runs a batch of jobs that share a batch key (the engine, behind this protocol, knows nothing of the store).
///
/// `progress(jobID, step, steps)` must be called after every finished step of every job; when it returns false the
/// executor stops that job (cancel requested or deadline passed) and may leave it out of the result or report any
/// error for it — the scheduler decides its final state. Called on the model's own scheduler thread.
public protocol BatchExecutor: AnyObject, Sendable {
    func run(batch: [JobRecord],
             progress: @escaping @Sendable (_ jobID: String, _ step: Int, _ steps: Int) -> Bool)
        -> [String: Result<JobOutput, JobError>]
}

/// An executor that can also keep a running set of jobs and advance it one step at a time, so the scheduler can
/// admit jobs between steps and retire them as they finish (step-level continuous batching).
public protocol ContinuousBatchExecutor: BatchExecutor {
    /// An empty running set. The scheduler fills it only with jobs of one admission key (`JobRecord.admissionKey`).
    func openRunningSet() -> RunningSet
}

/// Jobs being denoised together; used from the model's scheduler thread only.
public protocol RunningSet: AnyObject {
    /// Prepares a claimed job and adds it (it takes its first step at the next `step`). A job that cannot run is not
    /// added, and its error comes back.
    func admit(_ job: JobRecord) -> JobError?
    /// Jobs in the set.
    var count: Int { get }
    /// Images in the set (the jobs' num_images summed).
    var images: Int { get }
    /// Advances every job by one step, calling `progress(jobID, step, steps)` for each (false: stop that job), and
    /// returns the jobs that left the set: finished, failed or stopped. A stopped job's result does not matter.
    func step(progress: (_ jobID: String, _ step: Int, _ steps: Int) -> Bool) -> [String: Result<JobOutput, JobError>]
    /// Whether the scheduler should admit jobs now (false while the set waits for its model's memory, say).
    var admitting: Bool { get }
    /// Called once the set is empty and the scheduler is done with it (it can release what it holds).
    func close()
}

extension RunningSet {
    public var admitting: Bool { true }
    public func close() {}
}

/// How a model's lane batches: `continuous` admits compatible queued jobs at every step boundary into a running
/// set (with a `ContinuousBatchExecutor`); `static` claims a batch and runs it to the end before the next.
public enum BatchingMode: String, Sendable, CaseIterable {
    case continuous
    case `static`
}

/// A model's dispatch settings (docs/API.md `models[]`).
public struct ModelLaneConfig: Sendable {
    public var model: String
    public var maxBatchSize: Int
    /// How long the head of the queue may wait for compatible jobs to fill a batch.
    public var maxQueueDelay: TimeInterval
    public var executor: BatchExecutor
    /// `continuous` needs a `ContinuousBatchExecutor`; other executors are always run statically.
    public var batching: BatchingMode

    public init(model: String, maxBatchSize: Int = 8, maxQueueDelay: TimeInterval = 0.020, batching: BatchingMode = .continuous,
                executor: BatchExecutor) {
        self.model = model
        self.maxBatchSize = maxBatchSize
        self.maxQueueDelay = maxQueueDelay
        self.batching = batching
        self.executor = executor
    }
}
