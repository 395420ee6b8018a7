import Foundation

/// The store's settings (docs/API.md `queue.*`), with the documented defaults.
public struct JobStoreOptions: Sendable {
    /// Queued jobs (all models) beyond which `insert` throws `queueFull`.
    public var maxQueued = 1000
    /// A running job found on open with this many attempts fails with `worker_lost` instead of going back to the queue.
    public var maxAttempts = 3
    /// Terminal jobs and their images are pruned this long after completion.
    public var retention: TimeInterval = 24 * 3600
    /// Running jobs' step counters are written at most this often (memory is always current).
    public var progressPersistInterval: TimeInterval = 0.5
    /// `PRAGMA synchronous`: FULL (default) makes every acknowledged commit survive power loss, not only a crash.
    public var synchronousFull = true
    /// Read connections, so status polls from many clients do not queue behind one another.
    public var readerConnections = 4
    /// Jobs whose decoded rows are kept for status polls until the next write (0 turns the cache off).
    public var readCacheCapacity = 4096
    /// Bytes the read cache may hold (inputs, metadata, renderings); a job above a quarter of it is never cached.
    public var readCacheBytes = 64 << 20
    /// The clock; tests move it.
    public var clock: @Sendable () -> Date = { Date() }

    public init() {}
}

/// Why a store call refused.
public enum JobStoreError: Error, Equatable, Sendable {
    /// `queue.max_queued` jobs are already queued (429 queue_full).
    case queueFull
    /// The Idempotency-Key was used before with a different body (409 conflict).
    case idempotencyConflict(existingJobID: String)
    /// A value the store cannot accept (400 invalid_request).
    case invalid(field: String, message: String)
    /// A list cursor that this store did not make.
    case invalidCursor
}

/// The result of `insert`.
public enum InsertOutcome: Sendable, Equatable {
    /// Newly committed (202).
    case created(JobRecord)
    /// The same Idempotency-Key and body as an earlier submission: that job (200).
    case existing(JobRecord)

    public var job: JobRecord {
        switch self {
        case .created(let j), .existing(let j): return j
        }
    }
}

/// The result of `cancel`.
public enum CancelOutcome: Sendable, Equatable {
    /// Was queued; canceled at once (200).
    case canceled(JobRecord)
    /// Was running; the executor stops it at the next step boundary (202).
    case cancelRequested(JobRecord)
    /// Already succeeded, failed or canceled (409 conflict).
    case alreadyTerminal(JobRecord)
    case notFound
}
