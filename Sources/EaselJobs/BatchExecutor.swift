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

/// A model's dispatch settings (docs/API.md `models[]`).
public struct ModelLaneConfig: Sendable {
    public var model: String
    public var maxBatchSize: Int
    /// How long the head of the queue may wait for compatible jobs to fill a batch.
    public var maxQueueDelay: TimeInterval
    public var executor: BatchExecutor

    public init(model: String, maxBatchSize: Int = 8, maxQueueDelay: TimeInterval = 0.020, executor: BatchExecutor) {
        self.model = model
        self.maxBatchSize = maxBatchSize
        self.maxQueueDelay = maxQueueDelay
        self.executor = executor
    }
}
