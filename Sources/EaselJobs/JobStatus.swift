/// Where a job is in its life. Stored as the raw string in the `jobs.status` column.
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    /// Enters: `JobStore.insert` (a submission), or `JobStore.open`'s recovery putting back a job that was running when
    /// the process died. Leaves: `claimBatch` (→ running), `cancel` (→ canceled), `expireDeadlines` (→ failed).
    case queued
    /// Enters: `claimBatch`, which also counts the attempt. Leaves: `finish` with the executor's outcome (→ succeeded,
    /// failed, or canceled when a cancel was requested and honoured at a step boundary), or recovery on the next open
    /// (→ queued, or → failed `worker_lost` once attempts reach max_attempts).
    case running
    /// Enters: `finish` after every image is on disk. Terminal; leaves only by `prune` after the retention window.
    case succeeded
    /// Enters: `finish` with an executor error, a passed deadline (`deadline_exceeded`), recovery (`worker_lost`).
    /// Terminal; leaves only by `prune`.
    case failed
    /// Enters: `cancel` of a queued job, or `finish` of a running job whose cancel was honoured. Terminal; leaves only
    /// by `prune`.
    case canceled

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .canceled: return true
        case .queued, .running: return false
        }
    }
}

/// Queue priority: higher runs first; FIFO within a priority.
public enum JobPriority: String, Sendable, CaseIterable, Codable {
    case high, normal, low

    /// The number stored in `jobs.priority` (sorted descending when claiming).
    var rank: Int {
        switch self {
        case .high: return 2
        case .normal: return 1
        case .low: return 0
        }
    }

    init(rank: Int) {
        self = rank >= 2 ? .high : rank == 1 ? .normal : .low
    }
}
