import EaselEngine
import Foundation

/// What request validation needs to know of a model, without its weights: the size step, the limits, the request
/// defaults and how `guidance` is used. The config's `defaults` over the pipeline's own are resolved here, in one
/// place; `/v1/models` shows the same values.
public struct ModelCapabilities: Sendable, Equatable {
    public var id: String
    public var sizeStep: Int
    public var limits: ModelLimits
    public var defaults: GenerationDefaults
    public var guidance: PipelineCapabilities.Guidance
    /// T5 tokens; part of the batch key.
    public var maxSequenceLength: Int
    /// Step caching for requests that do not say (`models[].cache.threshold`; nil: off).
    public var cacheThreshold: Double?

    public init(id: String, sizeStep: Int, limits: ModelLimits, defaults: GenerationDefaults,
                guidance: PipelineCapabilities.Guidance, maxSequenceLength: Int) {
        self.id = id
        self.sizeStep = sizeStep
        self.limits = limits
        self.defaults = defaults
        self.guidance = guidance
        self.maxSequenceLength = maxSequenceLength
    }

    /// A configured model: `models[].defaults` and `limits` over what its pipeline folder says.
    public init(config: ModelConfig, pipeline: PipelineCapabilities) {
        let d = config.defaults, pd = pipeline.defaults
        self.init(id: config.id, sizeStep: pipeline.sizeStep, limits: config.limits,
                  defaults: GenerationDefaults(width: d.width ?? pd.width, height: d.height ?? pd.height,
                                               steps: d.steps ?? pd.steps, guidance: d.guidance ?? pd.guidance),
                  guidance: pipeline.guidance, maxSequenceLength: pipeline.maxSequenceLength)
        cacheThreshold = config.cacheThreshold
    }

    public var usesNegativePrompt: Bool { guidance == .trueCFG }

    /// Jobs with equal keys may share denoising steps in a static batch (the engine's rule: same size, steps and text
    /// length). The part before `|` is the admission key: a running set (continuous batching) takes any job with
    /// the same size and text length, each on its own schedule.
    public func batchKey(_ spec: GenerationSpec) -> String {
        // Image-to-image enters the schedule at a step set by strength: only equal entry points share steps.
        let first = spec.image == nil ? 0 : FluxPipeline.firstStep(steps: spec.steps, strength: spec.strength ?? 0.6)
        return "\(id)/\(spec.width)x\(spec.height)/\(maxSequenceLength)|\(spec.steps)" + (first > 0 ? "/from\(first)" : "")
    }
}

/// Where the validator looks models up: the registry, or a fixed list in route tests.
public protocol ModelCatalog: Sendable {
    /// nil for an unknown id; throws `APIError` 503 for a model that cannot serve (its configs unreadable, its
    /// backend missing, or it failed to load).
    func capabilities(of id: String) throws -> ModelCapabilities?
}
