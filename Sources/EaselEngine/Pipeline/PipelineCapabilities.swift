import EaselJSON
import Foundation

/// What a pipeline folder accepts, read from its config files alone (no weights): the size step, the request
/// defaults, how `guidance` is used and the T5 length. The API validates requests against this before a model is
/// loaded, and `FluxPipeline` takes the same values when it loads, so the two cannot disagree.
public struct PipelineCapabilities: Sendable, Equatable {
    /// How a request's `guidance` reaches the model.
    public enum Guidance: String, Sendable {
        /// Not used (FLUX.1-schnell).
        case none
        /// Fed to the transformer's guidance embedding (FLUX.1-dev).
        case embedded
        /// Classifier-free guidance: a second pass on the negative prompt.
        case trueCFG = "true_cfg"
    }

    /// Spatial downscale from pixels to latents (VAE: 2^(blocks−1); pixel space: the unshuffle factor).
    public var latentScale: Int
    public var defaults: GenerationDefaults
    public var guidance: Guidance
    public var maxSequenceLength: Int

    /// Width and height must be multiples of this (latent scale × 2 for the 2x2 packing).
    public var sizeStep: Int { latentScale * 2 }
    public var usesNegativePrompt: Bool { guidance == .trueCFG }

    public init(latentScale: Int, defaults: GenerationDefaults, guidance: Guidance, maxSequenceLength: Int) {
        self.latentScale = latentScale
        self.defaults = defaults
        self.guidance = guidance
        self.maxSequenceLength = maxSequenceLength
    }

    /// Reads `model_index.json`, `easel.json`, `transformer/config.json` and (for VAE latents) `vae/config.json`.
    public init(folder: URL) throws {
        let c = try Self.readConfigs(folder: folder)
        try self.init(easel: c.easel, transformer: c.transformer, vae: c.vae, folder: folder)
    }

    /// The configs that fix a pipeline's capabilities, each file read once (`FluxPipeline` builds its models from them).
    static func readConfigs(folder: URL) throws
        -> (easel: EaselModelConfig, transformer: FluxTransformerConfig, vae: AutoencoderKLConfig?) {
        let indexURL = folder.appendingPathComponent("model_index.json")
        guard FileManager.default.fileExists(atPath: indexURL.path) else {
            throw EngineError("\(folder.path): no model_index.json (not a diffusers pipeline folder)")
        }
        let index = try readJSONFile(indexURL)
        guard case .object = index else { throw EngineError("\(indexURL.path): not a JSON object") }
        if let cls = index["_class_name"]?.stringValue, cls != "FluxPipeline" {
            throw EngineError("\(indexURL.path): pipeline class '\(cls)' is not supported (FluxPipeline only)")
        }
        let easel = try EaselModelConfig.load(folder: folder)
        let transformer = try FluxTransformerConfig.load(folder.appendingPathComponent("transformer/config.json"))
        let vae = easel.latentSpace == "vae"
            ? try loadJSONConfig(AutoencoderKLConfig.self, at: folder.appendingPathComponent("vae/config.json")) : nil
        return (easel, transformer, vae)
    }

    init(easel: EaselModelConfig, transformer: FluxTransformerConfig, vae: AutoencoderKLConfig?, folder: URL) throws {
        let easelURL = folder.appendingPathComponent("easel.json")
        let scale: Int
        switch easel.latentSpace {
        case "pixels":
            guard easel.pixelUnshuffle >= 1 else { throw EngineError("\(easelURL.path): 'pixel_unshuffle' must be ≥ 1") }
            scale = easel.pixelUnshuffle
            let need = 3 * scale * scale * 4
            if transformer.inChannels != need {
                throw EngineError("\(easelURL.path): pixel space with pixel_unshuffle \(scale) needs transformer in_channels \(need), config has \(transformer.inChannels)")
            }
        case "vae":
            guard let vae, !vae.blockOutChannels.isEmpty, vae.blockOutChannels.count <= 8 else {
                throw EngineError("\(folder.path)/vae/config.json: 'block_out_channels' must have 1 to 8 entries")
            }
            scale = 1 << (vae.blockOutChannels.count - 1)
        default:
            throw EngineError("\(easelURL.path): unsupported 'latent_space' '\(easel.latentSpace)'")
        }
        let guidance: Guidance
        switch easel.guidance {
        case nil: guidance = transformer.guidanceEmbeds ? .embedded : .none
        case let g?:
            guard let kind = Guidance(rawValue: g) else {
                throw EngineError("\(easelURL.path): 'guidance' must be \"embedded\", \"true_cfg\" or \"none\", not \"\(g)\"")
            }
            guidance = kind
        }
        // FluxPipeline's defaults (1024x1024 for FLUX.1: 128 latent rows × the VAE factor, 28 steps, guidance 3.5).
        self.init(latentScale: scale,
                  defaults: GenerationDefaults(width: easel.width ?? 128 * scale, height: easel.height ?? 128 * scale,
                                               steps: easel.defaultSteps ?? 28, guidance: easel.defaultGuidance ?? 3.5),
                  guidance: guidance, maxSequenceLength: easel.maxSequenceLength)
    }

    /// Requests with equal keys can share denoising steps: same size, steps and text length.
    /// `firstStep`: where an image-to-image request enters the schedule (FluxPipeline.firstStep); 0 for text-to-image.
    public func batchKey(width: Int, height: Int, steps: Int, maxSequenceLength: Int? = nil, firstStep: Int = 0) -> String {
        "\(width)x\(height)/\(steps)/\(maxSequenceLength ?? self.maxSequenceLength)" + (firstStep > 0 ? "/from\(firstStep)" : "")
    }
}
