import CEaselCPU
import EaselJSON
import Foundation

/// Easel's own per-model settings, `easel.json` beside `model_index.json` (optional).
/// Needed for things diffusers keeps in code rather than in the folder: pixel-space models, the T5
/// sequence length the model was trained with, how the API's `guidance` maps onto the model, defaults.
public struct EaselModelConfig: Codable, Sendable {
    /// "vae" (default) or "pixels": the transformer's latents are the image itself, pixel-unshuffled.
    public var latentSpace: String = "vae"
    public var pixelUnshuffle: Int = 1
    public var maxSequenceLength: Int = 512
    /// "embedded" (guidance-distilled, FLUX.1-dev) or "true_cfg" (two passes, cond/uncond). Defaults from the transformer.
    public var guidance: String?
    public var defaultSteps: Int?
    public var defaultGuidance: Double?
    public var width: Int?
    public var height: Int?
    /// What the transformer outputs: "velocity" (FLUX, the default) or "sample", the clean latents x0, which the
    /// pipeline turns into the velocity (x_t − x0) / max(σ, 0.05) before guidance and the Euler step (a model
    /// trained that way by `Training/easel-shapes/train.py --predict sample`).
    public var prediction: String = "velocity"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case latentSpace = "latent_space", pixelUnshuffle = "pixel_unshuffle", maxSequenceLength = "max_sequence_length"
        case guidance, defaultSteps = "default_steps", defaultGuidance = "default_guidance", width, height, prediction
    }
    public init() {}
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        latentSpace = try c.decodeIfPresent(String.self, forKey: .latentSpace) ?? "vae"
        pixelUnshuffle = try c.decodeIfPresent(Int.self, forKey: .pixelUnshuffle) ?? 1
        maxSequenceLength = try c.decodeIfPresent(Int.self, forKey: .maxSequenceLength) ?? 512
        guidance = try c.decodeIfPresent(String.self, forKey: .guidance)
        defaultSteps = try c.decodeIfPresent(Int.self, forKey: .defaultSteps)
        defaultGuidance = try c.decodeIfPresent(Double.self, forKey: .defaultGuidance)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        prediction = try c.decodeIfPresent(String.self, forKey: .prediction) ?? "velocity"
        guard ["velocity", "sample"].contains(prediction) else {
            throw EngineError("easel.json: 'prediction' must be \"velocity\" or \"sample\", not \"\(prediction)\"")
        }
    }

    /// The velocity for the Euler step from what the transformer returned for latents `x` at noise level `sigma`.
    public func velocity(_ output: Tensor, latents x: Tensor, sigma: Float) -> Tensor {
        guard prediction == "sample" else { return output }
        let inv = 1 / max(sigma, 0.05)
        var v = output
        v.data.withUnsafeMutableBufferPointer { o in
            x.data.withUnsafeBufferPointer { xs in for j in 0..<o.count { o[j] = (xs[j] - o[j]) * inv } }
        }
        return v
    }
}

extension EaselModelConfig {
    /// Reads `easel.json` from a pipeline folder; absent means a plain diffusers FLUX pipeline.
    public static func load(folder: URL) throws -> EaselModelConfig {
        let url = folder.appendingPathComponent("easel.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return EaselModelConfig() }
        return try loadJSONConfig(EaselModelConfig.self, at: url, knownKeys: Set(CodingKeys.allCases.map(\.rawValue)))
    }
}

/// The values a request gets for what it leaves out.
public struct GenerationDefaults: Sendable, Codable, Equatable {
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Double

    public init(width: Int, height: Int, steps: Int, guidance: Double) {
        self.width = width
        self.height = height
        self.steps = steps
        self.guidance = guidance
    }
}

/// Process-wide engine settings.
public enum Engine {
    /// Threads used by the CPU backend's matrix products.
    public static func setThreads(_ n: Int) { BLAS.setThreads(n) }

    /// Makes freed buffers stay in the process heap (see `easel_cpu_retain_freed_memory`), so that after the first
    /// denoising step the per-op buffers are served from memory the process already holds: no page faults or
    /// mmap/munmap per step. Done once per process when the first pipeline loads.
    public static let retainFreedMemory: Bool = easel_cpu_retain_freed_memory() == 1
}

/// One text-to-image request as the engine sees it.
public struct GenerationRequest: Sendable {
    public var prompt: String
    public var negativePrompt: String = ""
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Double
    public var seed: UInt64
    public var numImages: Int = 1
    /// Initial noise, packed [B, S, C·4] exactly as FluxPipeline(latents=…) takes it; overrides the seed.
    public var latents: Tensor?
    public var maxSequenceLength: Int?
    /// Image-to-image and inpainting: the source image [3, height, width] in [0, 1].
    public var image: Tensor?
    /// Inpainting: [1, height, width] in [0, 1]; ≥ 0.5 (white) is repainted, the rest kept from `image`.
    public var mask: Tensor?
    /// With `image`: the part of the schedule that runs (FluxImg2ImgPipeline's strength, in (0, 1]).
    public var strength: Double = 0.6
    /// LoRAs applied beside the base weights, for this request only.
    public var lora: LoRAStack?
    /// Previews of the current x0 estimate of the first image every this many steps (nil: none).
    public var previewEvery: Int?
    /// First-block step caching (`StepCache`): the relative change of the first block's residual below which a step
    /// skips the other blocks. nil or 0: every step is a full pass.
    public var cacheThreshold: Double?

    public init(prompt: String, width: Int, height: Int, steps: Int, guidance: Double, seed: UInt64, numImages: Int = 1) {
        self.prompt = prompt; self.width = width; self.height = height; self.steps = steps
        self.guidance = guidance; self.seed = seed; self.numImages = numImages
    }
}

/// What one request of a batch produced: its images and how much transformer work they took.
public struct GenerationOutput {
    public var images: [Tensor]
    /// Transformer calls made for this request's images (steps × images, × 2 with true CFG), and how many of them
    /// skipped all but the first block through the step cache.
    public var transformerPasses: Int
    public var cachedPasses: Int
    /// Transformer calls that ran every block.
    public var fullPasses: Int { transformerPasses - cachedPasses }
}

/// Receives previews from `generateBatch`: (request index, step, image [3, h, w] in [0, 1]).
public struct PreviewCallback {
    public let call: (Int, Int, Tensor) -> Void
    public init(_ call: @escaping (Int, Int, Tensor) -> Void) { self.call = call }
}

/// Where a pipeline's transformer runs. Text encoders and the VAE run on the CPU either way.
public enum EngineBackend {
    case cpu
    case cuda(CUDADevice)
}

/// Text-to-image for FLUX-family models in diffusers' folder layout: FluxPipeline's algorithm, with the transformer
/// on the CPU or the CUDA backend.
public final class FluxPipeline {
    public let folder: URL
    public let easel: EaselModelConfig
    public let transformer: FluxDenoiser
    public let scheduler: FlowMatchEulerScheduler
    public let clip: CLIPTextModel
    public let t5: T5Encoder
    public let tokenizer: Tokenizer
    public let tokenizer2: Tokenizer
    public let vae: VAEDecoder?
    /// The VAE's encoder, for image-to-image and inpainting (nil: the folder has no encoder weights).
    public let vaeEncoder: VAEEncoder?
    /// Every Linear a LoRA file may target, with its shape.
    public let loraTargets: LoRALoader.Targets

    /// Size step, defaults, guidance kind and text length, as `PipelineCapabilities(folder:)` reads them.
    public let capabilities: PipelineCapabilities

    /// Spatial downscale from pixels to latents (VAE: 2^(blocks−1); pixel space: the unshuffle factor).
    public var latentScale: Int { capabilities.latentScale }
    /// Width and height must be multiples of this (latent scale × 2 for the 2x2 packing).
    public var sizeStep: Int { capabilities.sizeStep }
    public var usesTrueCFG: Bool { capabilities.usesNegativePrompt }

    public init(folder: URL, backend: EngineBackend = .cpu) throws {
        _ = Engine.retainFreedMemory
        self.folder = folder
        let configs = try PipelineCapabilities.readConfigs(folder: folder)
        easel = configs.easel
        let tcfg = configs.transformer
        capabilities = try PipelineCapabilities(easel: easel, transformer: tcfg, vae: configs.vae, folder: folder)
        func component(_ name: String) -> URL { folder.appendingPathComponent(name) }

        let tw = try WeightStore(folder: component("transformer"), baseName: "diffusion_pytorch_model")
        switch backend {
        case .cpu: transformer = try FluxTransformer(config: tcfg, weights: tw)
        case .cuda(let device): transformer = try CUDAFluxTransformer(config: tcfg, weights: tw, device: device)
        }
        try Self.checkAllUsed(tw, component: "transformer")

        scheduler = FlowMatchEulerScheduler(config: try FlowMatchEulerConfig.load(component("scheduler/scheduler_config.json")))

        let cw = try WeightStore(folder: component("text_encoder"), baseName: "model")
        clip = try CLIPTextModel(folder: component("text_encoder"), weights: cw)
        // Buffers some exports carry, not weights.
        try Self.checkAllUsed(cw, component: "text_encoder", ignoring: { $0.hasSuffix("position_ids") })
        let t5w = try WeightStore(folder: component("text_encoder_2"), baseName: "model")
        t5 = try T5Encoder(folder: component("text_encoder_2"), weights: t5w)
        // The token embedding is stored twice (tied `shared` and `encoder.embed_tokens`); one copy goes unread.
        try Self.checkAllUsed(t5w, component: "text_encoder_2",
                              ignoring: { $0 == "shared.weight" || $0 == "encoder.embed_tokens.weight" })
        tokenizer = try Tokenizer.load(folder: component("tokenizer"))
        tokenizer2 = try Tokenizer.load(folder: component("tokenizer_2"))
        try Self.checkAgreement(transformer: tcfg, clip: clip, t5: t5, tokenizer: tokenizer, tokenizer2: tokenizer2, easel: easel)

        if let vaeConfig = configs.vae {
            let vw = try WeightStore(folder: component("vae"), baseName: "diffusion_pytorch_model")
            let v = try VAEDecoder(config: vaeConfig, weights: vw)
            // The transformer's channels are the VAE latents packed 2x2; the PNG writer takes three channels.
            if tcfg.inChannels != 4 * v.config.latentChannels {
                throw EngineError("transformer in_channels \(tcfg.inChannels) must be 4 × the VAE's latent_channels \(v.config.latentChannels) (2x2 packing)")
            }
            if v.config.outChannels != 3 {
                throw EngineError("VAE config: out_channels \(v.config.outChannels) is not 3 (an RGB image)")
            }
            // The encoder half, for image-to-image; a decoder-only export serves text-to-image alone.
            if vw.has("encoder.conv_in.weight") {
                vaeEncoder = try VAEEncoder(config: vaeConfig, weights: vw)
                try Self.checkAllUsed(vw, component: "vae")
            } else {
                vaeEncoder = nil
                try Self.checkAllUsed(vw, component: "vae", ignoring: { $0.hasPrefix("encoder.") || $0.hasPrefix("quant_conv.") })
            }
            vae = v
        } else {
            vae = nil
            vaeEncoder = nil
        }
        var tt: [String: LoRALoader.Target] = [:]
        for e in FluxWeightLayout(config: tcfg).entries where e.role == .linearWeight {
            tt[String(e.key.dropLast(".weight".count))] = LoRALoader.Target(out: e.shape[0], inF: e.shape[1])
        }
        var te: [String: LoRALoader.Target] = [:]
        let cd = clip.config.hiddenSize, cff = clip.config.intermediateSize
        for i in 0..<clip.config.numHiddenLayers {
            for m in ["q_proj", "k_proj", "v_proj", "out_proj"] { te["encoder.layers.\(i).self_attn.\(m)"] = .init(out: cd, inF: cd) }
            te["encoder.layers.\(i).mlp.fc1"] = .init(out: cff, inF: cd)
            te["encoder.layers.\(i).mlp.fc2"] = .init(out: cd, inF: cff)
        }
        loraTargets = .init(transformer: tt, textEncoder: te, mlpWidth: FluxWeightLayout.mlpRatio * tcfg.innerDim, dim: tcfg.innerDim)
    }

    /// FluxPipeline's defaults (1024x1024 for FLUX.1, 28 steps, guidance 3.5), overridden by `easel.json`.
    public var defaults: GenerationDefaults { capabilities.defaults }

    /// Sizes one component's config sets and another's weights assume: a disagreement here would otherwise be an
    /// out-of-bounds read in the first request, so it fails the load, naming both settings.
    static func checkAgreement(transformer t: FluxTransformerConfig, clip: CLIPTextModel, t5: T5Encoder,
                               tokenizer: Tokenizer, tokenizer2: Tokenizer, easel: EaselModelConfig) throws {
        if t.jointAttentionDim != t5.config.dModel {
            throw EngineError("transformer joint_attention_dim \(t.jointAttentionDim) does not match text_encoder_2 (T5) d_model \(t5.config.dModel)")
        }
        if t.pooledProjectionDim != clip.config.hiddenSize {
            throw EngineError("transformer pooled_projection_dim \(t.pooledProjectionDim) does not match text_encoder (CLIP) hidden_size \(clip.config.hiddenSize)")
        }
        // encodeForPipeline pads to its length but never drops the special tokens the post-processor adds.
        let clipTokens = max(tokenizer.modelMaxLength ?? 77, tokenizer.postProcessor.addedCount)
        if clipTokens > clip.config.maxPositionEmbeddings {
            throw EngineError("tokenizer gives \(clipTokens) tokens (model_max_length), more than text_encoder (CLIP) max_position_embeddings \(clip.config.maxPositionEmbeddings)")
        }
        if easel.maxSequenceLength < 1 {
            throw EngineError("easel.json: 'max_sequence_length' \(easel.maxSequenceLength) must be at least 1")
        }
        // The special and padding tokens every prompt gets; the prompt's own tokens are checked per request.
        try checkTokens(tokenizer.encodeForPipeline("", maxLength: 1), rows: clip.config.vocabSize, "tokenizer", "text_encoder (CLIP)")
        try checkTokens(tokenizer2.encodeForPipeline("", maxLength: 1), rows: t5.config.vocabSize, "tokenizer_2", "text_encoder_2 (T5)")
    }

    /// Token ids index the encoder's embedding table: one past its rows would read out of bounds.
    static func checkTokens(_ ids: [Int], rows: Int, _ tokenizer: String, _ encoder: String) throws {
        if let bad = ids.first(where: { $0 < 0 || $0 >= rows }) {
            throw EngineError("\(tokenizer) gives token id \(bad), outside \(encoder)'s embedding of vocab_size \(rows) rows")
        }
    }

    static func checkAllUsed(_ w: WeightStore, component: String, ignoring: (String) -> Bool = { _ in false }) throws {
        let unused = w.unusedNames().filter { !ignoring($0) }
        if !unused.isEmpty {
            throw EngineError("\(component): unexpected weights \(unused.prefix(8).joined(separator: ", "))\(unused.count > 8 ? " (+\(unused.count - 8) more)" : "")")
        }
    }

    /// Text conditioning as FluxPipeline.encode_prompt: CLIP pooled output + T5 sequence, txt_ids all zero.
    public func encodePrompt(_ prompt: String, maxSequenceLength: Int, lora: LoRAStack? = nil) -> (sequence: Tensor, pooled: Tensor) {
        let clipIds = tokenizer.encodeForPipeline(prompt, maxLength: tokenizer.modelMaxLength ?? 77)
        let pooled = clip.encode(ids: clipIds, lora: lora).pooled
        let t5Ids = tokenizer2.encodeForPipeline(prompt, maxLength: maxSequenceLength)
        return (t5.encode(ids: t5Ids), pooled)
    }

    public func validate(_ r: GenerationRequest) throws {
        if r.width <= 0 || r.height <= 0 || r.width % sizeStep != 0 || r.height % sizeStep != 0 {
            throw EngineError("width and height must be positive multiples of \(sizeStep) (got \(r.width)x\(r.height))")
        }
        if r.steps < 1 { throw EngineError("steps must be at least 1") }
        if r.numImages < 1 { throw EngineError("num_images must be at least 1") }
        let maxSeq = textLength(of: r)
        if maxSeq < 1 { throw EngineError("max_sequence_length must be at least 1 (got \(maxSeq))") }
        for p in usesTrueCFG && r.guidance > 1 ? [r.prompt, r.negativePrompt] : [r.prompt] {
            try Self.checkTokens(tokenizer.encodeForPipeline(p, maxLength: tokenizer.modelMaxLength ?? 77),
                                 rows: clip.config.vocabSize, "tokenizer", "text_encoder (CLIP)")
            try Self.checkTokens(tokenizer2.encodeForPipeline(p, maxLength: maxSeq), rows: t5.config.vocabSize,
                                 "tokenizer_2", "text_encoder_2 (T5)")
        }
        if let img = r.image {
            if img.shape != [3, r.height, r.width] {
                throw EngineError("image must be [3, \(r.height), \(r.width)] (the requested size), got \(img.shape)")
            }
            if vae != nil && vaeEncoder == nil {
                throw EngineError("this model's VAE has no encoder weights, so it cannot take an image")
            }
            if !(r.strength > 0 && r.strength <= 1) { throw EngineError("strength must be in (0, 1], got \(r.strength)") }
        }
        if let m = r.mask {
            if r.image == nil { throw EngineError("a mask needs an image") }
            if m.shape != [1, r.height, r.width] { throw EngineError("mask must be [1, \(r.height), \(r.width)], got \(m.shape)") }
        }
        if let l = r.latents {
            let s = (r.height / sizeStep) * (r.width / sizeStep)
            if l.shape != [r.numImages, s, transformer.config.inChannels] {
                throw EngineError("latents must have shape [\(r.numImages), \(s), \(transformer.config.inChannels)], got \(l.shape)")
            }
        }
    }

    /// Generates `numImages` images [3, H, W] with values in [0, 1]. `progress(done, total)` is called after every
    /// denoising step; returning false cancels (throws `CancellationError`).
    public func generate(_ r: GenerationRequest, progress: ((Int, Int) -> Bool)? = nil) throws -> [Tensor] {
        // generateBatch validates and hands a bad request back as its failure, which get() rethrows.
        try generateBatch([r]) { _, done, total in progress?(done, total) ?? true }[0].get()
    }

    /// T5 rows a request's prompts are encoded to: its own max_sequence_length, else the model's.
    public func textLength(of r: GenerationRequest) -> Int { r.maxSequenceLength ?? easel.maxSequenceLength }

    /// Whether requests can share denoising steps: same size, steps and text length.
    public func batchKey(_ r: GenerationRequest) -> String {
        capabilities.batchKey(width: r.width, height: r.height, steps: r.steps, maxSequenceLength: r.maxSequenceLength,
                              firstStep: r.image == nil ? 0 : Self.firstStep(steps: r.steps, strength: r.strength))
    }

    /// FluxImg2ImgPipeline.get_timesteps: the schedule of `steps` is entered at this index, so that
    /// steps × strength of it run (at least one).
    public static func firstStep(steps: Int, strength: Double) -> Int {
        let initTimestep = min(Double(steps) * strength, Double(steps))
        return Int(max(Double(steps) - initTimestep, 0))
    }

    /// An image [3, H, W] in [0, 1] as packed latents [S, C·4]: the VAE encoder's mean, shifted and scaled as
    /// FluxImg2ImgPipeline does, or for pixel-space models the image itself in [-1, 1], pixel-unshuffled.
    public func imageLatents(_ image: Tensor) -> Tensor {
        let x = Ops.map(image) { $0 * 2 - 1 }
        if let vaeEncoder, let vae {
            let shift = vae.shiftFactor, scale = vae.scalingFactor
            return LatentPacking.pack(Ops.map(vaeEncoder.encode(x)) { ($0 - shift) * scale })
        }
        return LatentPacking.pack(LatentPacking.pixelUnshuffle(x, latentScale))
    }

    /// A mask [1, H, W] as FluxInpaintPipeline uses it: binarized at 0.5, resized to the latent grid by nearest
    /// neighbour (torch's interpolate: source index ⌊i·in/out⌋), repeated over the channels and packed.
    public func maskLatents(_ mask: Tensor, height: Int, width: Int) -> Tensor {
        let lh = height / latentScale, lw = width / latentScale
        let c = transformer.config.inChannels / 4
        var small = [Float](repeating: 0, count: c * lh * lw)
        for y in 0..<lh {
            let sy = min(Int(Float(y) * (Float(height) / Float(lh))), height - 1)
            for x in 0..<lw {
                let sx = min(Int(Float(x) * (Float(width) / Float(lw))), width - 1)
                let v: Float = mask.data[sy * width + sx] >= 0.5 ? 1 : 0
                for ch in 0..<c { small[(ch * lh + y) * lw + x] = v }
            }
        }
        return LatentPacking.pack(Tensor(shape: [c, lh, lw], data: small))
    }

    /// Most transformer items (images, ×2 with true CFG) run in one forward pass; larger batches are split.
    public var maxForwardBatch = 16

    /// Runs several requests together: every image of every request advances one step per transformer call, so the
    /// GEMMs see all their rows at once. Each image depends only on its own request and seed, so an image is the
    /// same alone or batched. `progress(request, done, total)` after each step; false cancels that request alone.
    /// `preview(request, step, image)`: for requests with `previewEvery`, a cheap [3, h, w] image in [0, 1] of the
    /// first image's x0 estimate (x − σ·v) after every that many steps (never after the last).
    /// (A struct rather than a closure parameter, so a trailing closure always means `progress`.)
    public func generateBatch(_ reqs: [GenerationRequest], previews: PreviewCallback? = nil,
                              progress: ((Int, Int, Int) -> Bool)? = nil) -> [Result<[Tensor], Error>] {
        generateBatchOutputs(reqs, previews: previews, progress: progress).map { $0.map(\.images) }
    }

    /// `generateBatch` with each request's transformer pass counts: a `DenoisingBatch` that admits every request
    /// up front and steps until all have left.
    public func generateBatchOutputs(_ reqs: [GenerationRequest], previews: PreviewCallback? = nil,
                                     progress: ((Int, Int, Int) -> Bool)? = nil) -> [Result<GenerationOutput, Error>] {
        var results = [Result<GenerationOutput, Error>?](repeating: nil, count: reqs.count)
        var batch: DenoisingBatch?
        for (i, r) in reqs.enumerated() {
            do {
                try validate(r)
                if batchKey(r) != batchKey(reqs[0]) { throw EngineError("batched requests must share size, steps and text length") }
                let set = batch ?? DenoisingBatch(pipeline: self, like: r)
                try set.insert(r, tag: i)
                batch = set
            } catch { results[i] = .failure(error) }
        }
        if let batch {
            while !batch.isEmpty {
                for (tag, result) in batch.step(previews: previews, progress: progress) { results[tag] = result }
            }
        }
        return results.map { $0! }
    }

    /// A cheap look at packed latents, for previews: pixel-space models decode exactly (a reshuffle); VAE models go
    /// through `latentRGB`, a linear map from each latent cell to its patch's mean colour, so the preview is at latent
    /// resolution (1/8 of the image for FLUX.1) and costs one small matrix product.
    /// nil for a VAE without encoder weights (no projection can be fitted).
    public func previewImage(_ packed: Tensor, latentHeight lh: Int, latentWidth lw: Int) -> Tensor? {
        guard vae != nil else { return decode(packed, latentHeight: lh, latentWidth: lw) }
        guard !latentRGB.isEmpty else { return nil }
        let lat = LatentPacking.unpack(packed, height: lh, width: lw)   // [C, lh, lw]
        let c = lat.shape[0], hw = lh * lw
        let m = latentRGB
        var out = [Float](repeating: 0, count: 3 * hw)
        for ch in 0..<3 {
            for p in 0..<hw {
                var acc = m[ch * (c + 1) + c]
                for k in 0..<c { acc += m[ch * (c + 1) + k] * lat.data[k * hw + p] }
                out[ch * hw + p] = min(max(acc / 2 + 0.5, 0), 1)
            }
        }
        return Tensor(shape: [3, lh, lw], data: out)
    }

    /// [3, C+1]: RGB in [-1, 1] ≈ A·latent + b, fitted by least squares once per pipeline from the VAE itself:
    /// random smooth colour images are encoded (the shifted, scaled latents the transformer sees) and each latent
    /// cell is regressed on its patch's mean colour. Without an encoder: the decoder's own output for a few latents.
    public private(set) lazy var latentRGB: [Float] = fitLatentRGB()

    func fitLatentRGB() -> [Float] {
        guard let vae else { return [] }
        let c = vae.config.latentChannels, f = latentScale
        var rows: [[Float]] = [], targets: [[Float]] = []
        var g: UInt64 = 0x5EED
        func rnd() -> Float { g = g &* 6364136223846793005 &+ 1442695040888963407; return Float(g >> 40) / Float(1 << 24) }
        let cells = 8, size = cells * f
        for _ in 0..<4 {
            // Blocks of flat random colour, one per latent cell, so each cell's colour is known.
            var img = [Float](repeating: 0, count: 3 * size * size)
            var colours: [[Float]] = []
            for _ in 0..<(cells * cells) { colours.append([rnd(), rnd(), rnd()]) }
            for y in 0..<size { for x in 0..<size { for ch in 0..<3 {
                img[(ch * size + y) * size + x] = colours[(y / f) * cells + x / f][ch]
            }}}
            let image = Tensor(shape: [3, size, size], data: img)
            let lat: Tensor
            if let vaeEncoder {
                let shift = vae.shiftFactor, scale = vae.scalingFactor
                lat = Ops.map(vaeEncoder.encode(Ops.map(image) { $0 * 2 - 1 })) { ($0 - shift) * scale }
            } else { return [] }
            for cell in 0..<(cells * cells) {
                rows.append((0..<c).map { lat.data[$0 * cells * cells + cell] } + [1])
                targets.append(colours[cell].map { $0 * 2 - 1 })
            }
        }
        // Normal equations (C+1 unknowns per channel), with a small ridge for stability.
        let n = c + 1
        var ata = [Double](repeating: 0, count: n * n), atb = [Double](repeating: 0, count: n * 3)
        for (r, t) in zip(rows, targets) {
            for i in 0..<n {
                for j in 0..<n { ata[i * n + j] += Double(r[i] * r[j]) }
                for ch in 0..<3 { atb[i * 3 + ch] += Double(r[i] * t[ch]) }
            }
        }
        for i in 0..<n { ata[i * n + i] += 1e-3 }
        // Gauss-Jordan on [AᵀA | Aᵀb].
        var m = ata, b = atb
        for col in 0..<n {
            let piv = (col..<n).max(by: { abs(m[$0 * n + col]) < abs(m[$1 * n + col]) })!
            if piv != col {
                for j in 0..<n { m.swapAt(col * n + j, piv * n + j) }
                for ch in 0..<3 { b.swapAt(col * 3 + ch, piv * 3 + ch) }
            }
            let d = m[col * n + col]
            guard abs(d) > 1e-12 else { continue }
            for j in 0..<n { m[col * n + j] /= d }
            for ch in 0..<3 { b[col * 3 + ch] /= d }
            for r in 0..<n where r != col {
                let k = m[r * n + col]
                if k == 0 { continue }
                for j in 0..<n { m[r * n + j] -= k * m[col * n + j] }
                for ch in 0..<3 { b[r * 3 + ch] -= k * b[col * 3 + ch] }
            }
        }
        var out = [Float](repeating: 0, count: 3 * n)
        for ch in 0..<3 { for i in 0..<n { out[ch * n + i] = Float(b[i * 3 + ch]) } }
        return out
    }

    /// Packed latents [S, C·4] → image [3, H, W] in [0, 1] (VAE decode or pixel shuffle, then diffusers' postprocess).
    public func decode(_ packed: Tensor, latentHeight lh: Int, latentWidth lw: Int) -> Tensor {
        let latents = LatentPacking.unpack(packed, height: lh, width: lw)
        let image: Tensor
        if let vae {
            let shift = vae.shiftFactor
            image = vae.decode(latents: Ops.map(latents) { $0 / vae.scalingFactor + shift })
        } else {
            image = LatentPacking.pixelShuffle(latents, latentScale)
        }
        return Ops.map(image) { min(max($0 / 2 + 0.5, 0), 1) }
    }
}
