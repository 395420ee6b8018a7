import Foundation

/// Why a job failed or was canceled: `{code, message}` in the job object.
public struct JobError: Error, Sendable, Equatable, Codable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public static let workerLost = "worker_lost"
    public static let deadlineExceeded = "deadline_exceeded"
    public static let canceled = "canceled"
    public static let internalError = "internal"
}

/// One stored image of a succeeded job. `file` is relative to the data dir.
public struct JobImage: Sendable, Equatable, Codable {
    public var index: Int
    public var width: Int
    public var height: Int
    public var seed: UInt64
    public var contentType: String
    public var file: String

    enum CodingKeys: String, CodingKey {
        case index, width, height, seed, file
        case contentType = "content_type"
    }
}

/// Delivery state of a job's webhook, as the job object shows it.
public struct JobWebhook: Sendable, Equatable {
    public enum State: String, Sendable { case pending, delivered, failed }
    public var url: String
    /// nil until the job is terminal and a delivery is enqueued.
    public var state: State?
    public var attempts: Int
    public var lastStatus: Int?
    public var lastError: String?
}

/// A job as stored, with the live progress overlaid and, for queued jobs, its queue position.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var model: String
    /// Jobs are batched together only when their keys are equal (the caller computes it, e.g. model+size+steps).
    /// The part before the first `|`, the admission key, is what continuous batching matches: jobs with equal
    /// admission keys may share a running set even when the rest (steps, say) differs.
    public var batchKey: String
    public var status: JobStatus
    public var priority: JobPriority
    public var createdAt: Date
    public var startedAt: Date?
    public var completedAt: Date?
    /// Submission time + timeout_s; nil without a timeout.
    public var deadline: Date?
    public var step: Int
    public var steps: Int
    public var cancelRequested: Bool
    public var attempts: Int
    /// The normalized request, JSON.
    public var input: Data
    /// Opaque caller JSON, echoed.
    public var metadata: Data
    public var images: [JobImage]
    public var error: JobError?
    public var queueMs: Int?
    public var inferenceMs: Int?
    public var batchSize: Int?
    public var webhook: JobWebhook?
    /// Jobs ahead of this one for the same model; nil unless queued.
    public var queuePosition: Int?
    /// Insertion order, the FIFO tiebreak and the list cursor.
    var seq: Int64
    /// What the executor counted for a finished job (e.g. transformer passes), by name.
    public var engineMetrics: [String: Int] = [:]

    public var admissionKey: String { JobRecord.admissionKey(batchKey) }

    /// The batch key up to its first `|` (all of it when it has none).
    public static func admissionKey(_ batchKey: String) -> String {
        batchKey.firstIndex(of: "|").map { String(batchKey[..<$0]) } ?? batchKey
    }
}

/// What a submission asks the store to record.
public struct NewJob: Sendable {
    public var model: String
    public var batchKey: String
    public var priority: JobPriority
    /// Denoising steps for all images together (steps × num_images).
    public var steps: Int
    public var input: Data
    public var metadata: Data
    public var webhookURL: String?
    /// Seconds after submission by which the job must be finished.
    public var timeout: TimeInterval?
    public var idempotencyKey: String?
    /// The raw request body; its SHA-256 is kept to tell a replay from a conflicting reuse of the key.
    public var idempotencyBody: Data?

    public init(model: String, batchKey: String, priority: JobPriority = .normal, steps: Int, input: Data,
                metadata: Data = Data("{}".utf8), webhookURL: String? = nil, timeout: TimeInterval? = nil,
                idempotencyKey: String? = nil, idempotencyBody: Data? = nil) {
        self.model = model
        self.batchKey = batchKey
        self.priority = priority
        self.steps = steps
        self.input = input
        self.metadata = metadata
        self.webhookURL = webhookURL
        self.timeout = timeout
        self.idempotencyKey = idempotencyKey
        self.idempotencyBody = idempotencyBody
    }
}
