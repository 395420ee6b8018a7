import EaselEngine
import EaselJobs
import Foundation

/// One `models[]` entry of the config file.
public struct ModelConfig: Sendable, Equatable {
    public typealias Backend = BackendPreference
    public enum LoadPolicy: String, Sendable, CaseIterable { case startup, lazy }

    public var id: String
    /// The pipeline folder (diffusers layout), absolute after loading.
    public var path: URL
    public var backend: Backend = .auto
    public var load: LoadPolicy = .startup
    public var maxBatchSize = 8
    public var maxQueueDelayMs = 20
    /// `batching`: continuous (admit queued jobs at every step boundary) or static (one batch at a time).
    public var batching: BatchingMode = .continuous
    public var defaults = ModelDefaults()
    public var limits = ModelLimits()
    public var description: String?
    /// `cache.threshold`: step caching for this model's requests unless a request says otherwise (nil: off).
    public var cacheThreshold: Double?
    /// `memory_mb`: what the model counts against `memory.budget_mb` (nil: estimated from its weight files).
    public var memoryMB: Int?

    public init(id: String, path: URL) {
        self.id = id
        self.path = path
    }
}
