import EaselEngine
import EaselJobs
import Foundation

/// A generate request after validation, with every default filled in and the seed chosen: what the API stores as
/// the job's `input` (and echoes in the job object) and what the executor decodes to run it. One Codable value, so
/// the stored form and the executed form cannot drift apart.
public struct GenerationSpec: Codable, Sendable, Equatable {
    public var model: String
    public var prompt: String
    public var negativePrompt: String = ""
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Double
    public var seed: UInt64
    public var numImages: Int = 1
    public var outputFormat: String = "png"
    /// JPEG and WebP quality, 1...100 (nil: `ImageFormat.defaultQuality`; 100 is lossless WebP).
    public var outputQuality: Int?
    public var priority: JobPriority = .normal
    public var timeoutS: Double?
    public var webhookURL: String?
    /// Image-to-image / inpainting: InputStore ids ("sha256:…") of the image and the mask, and the strength.
    public var image: String?
    public var mask: String?
    public var strength: Double?
    public var loras: [LoRARef]?
    /// SSE `preview` events while it runs.
    public var previews: Bool?
    /// Step caching (`StepCache`), resolved from the request's `cache` or the model's (nil: off).
    public var cache: CacheSettings?

    public struct CacheSettings: Codable, Sendable, Equatable {
        public var threshold: Double
        public init(threshold: Double) { self.threshold = threshold }
    }

    /// One entry of `loras`: a file in the server's LoRA folder and its scale.
    public struct LoRARef: Codable, Sendable, Equatable {
        public var path: String
        public var scale: Double
        public init(path: String, scale: Double) { self.path = path; self.scale = scale }
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, negativePrompt = "negative_prompt", width, height, steps, guidance, seed
        case numImages = "num_images", outputFormat = "output_format", outputQuality = "output_quality", priority, timeoutS = "timeout_s"
        case webhookURL = "webhook_url", image, mask, strength, loras, previews, cache
    }

    public init(model: String, prompt: String, width: Int, height: Int, steps: Int, guidance: Double, seed: UInt64) {
        self.model = model
        self.prompt = prompt
        self.width = width
        self.height = height
        self.steps = steps
        self.guidance = guidance
        self.seed = seed
    }

    /// The request as the engine takes it.
    public var engineRequest: GenerationRequest {
        var r = GenerationRequest(prompt: prompt, width: width, height: height, steps: steps, guidance: guidance,
                                  seed: seed, numImages: numImages)
        r.negativePrompt = negativePrompt
        if let strength { r.strength = strength }
        // About eight previews per job, at most one per step.
        if previews == true { r.previewEvery = max(1, steps / 8) }
        r.cacheThreshold = cache.map(\.threshold)
        return r
    }
}
