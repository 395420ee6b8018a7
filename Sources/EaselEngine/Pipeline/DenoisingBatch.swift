import Foundation

/// A running set of requests denoised together, one step at a time: every call to `step` advances each member by
/// one step of its own schedule, in one transformer call for all of them. Members may join between steps (`admit`)
/// and leave when done, canceled or failed, so a model's executor can keep the set full (step-level continuous
/// batching). Members share image size and text length (the transformer batches those); steps, strength, guidance,
/// image, mask, LoRAs and caching are per member.
///
/// Every member's images depend only on its own request: its noise comes from its seed, its timesteps from its own
/// schedule, and each transformer item is computed row by row from its own inputs, so a request gives the same image
/// alone, in a static batch, or admitted into a running one (the CPU backend's tests hold this to the bit).
///
/// A set can let go of its pipeline between steps (`detach`) and carry on later with the same model loaded again
/// (`attach`): its members' latents, text conditioning and caches stay, so a model evicted to make room for another
/// resumes where it stopped, with the same bits.
public final class DenoisingBatch {
    private var held: FluxPipeline?
    /// The pipeline the set runs on; only read while attached (`admit` and `step` check).
    private var pipeline: FluxPipeline { held! }
    /// What `attach` checks a pipeline against: the folder and the shapes the set was made for.
    private let folder: URL
    private let latentScale: Int
    public let width: Int
    public let height: Int
    /// T5 rows every member uses.
    public let textLength: Int
    let latentHeight: Int, latentWidth: Int, seqLen: Int, channels: Int
    let imgIds: Tensor, txtIds: Tensor

    struct Member {
        let tag: Int
        let request: GenerationRequest
        /// The member's schedule from where it enters (image-to-image enters late); sigmas has one entry more.
        let sigmas: [Float]
        let timesteps: [Float]
        var step = 0
        var passes = 0
        var lora: LoRAStack? { request.lora.flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// One image of a member: its latents and text conditioning (plus the unconditional one for true CFG).
    struct Slot {
        let tag: Int
        var x: Tensor
        let cond: (sequence: Tensor, pooled: Tensor)
        let uncond: (sequence: Tensor, pooled: Tensor)?
        /// Inpainting: the image latents, the noise and the packed mask (1 = repaint).
        var inpaint: (image: Tensor, noise: Tensor, mask: Tensor)? = nil
        /// Step caches of the conditional and unconditional streams, when the request asks for caching.
        var cache: (cond: StepCache, uncond: StepCache)? = nil
    }

    private var members: [Member] = []
    private var slots: [Slot] = []
    /// Encoded negative prompts without LoRAs, shared by members (a few kept; cleared when it grows past that).
    private var uncondCache: [String: (sequence: Tensor, pooled: Tensor)] = [:]

    public init(pipeline: FluxPipeline, width: Int, height: Int, textLength: Int) {
        held = pipeline
        folder = pipeline.folder.standardizedFileURL
        latentScale = pipeline.latentScale
        self.width = width
        self.height = height
        self.textLength = textLength
        latentHeight = height / pipeline.latentScale
        latentWidth = width / pipeline.latentScale
        seqLen = (latentHeight / 2) * (latentWidth / 2)
        channels = pipeline.transformer.config.inChannels
        imgIds = LatentPacking.imageIds(latentHeight: latentHeight, latentWidth: latentWidth)
        txtIds = Tensor(zeros: [textLength, 3])
    }

    /// A set shaped for `r` (which still has to be admitted).
    public convenience init(pipeline: FluxPipeline, like r: GenerationRequest) {
        self.init(pipeline: pipeline, width: r.width, height: r.height, textLength: pipeline.textLength(of: r))
    }

    public var isEmpty: Bool { members.isEmpty }
    /// Members (requests) in the set.
    public var count: Int { members.count }
    /// Transformer items per step: images, twice with true CFG.
    public var items: Int { slots.reduce(0) { $0 + ($1.uncond == nil ? 1 : 2) } }
    public var tags: [Int] { members.map(\.tag) }
    /// Whether the set has its pipeline (it can admit and step).
    public var isAttached: Bool { held != nil }

    /// Lets go of the pipeline (its memory can be freed once nothing else holds it); the members stay as they are.
    public func detach() { held = nil }

    /// Gives a detached set its pipeline again: the same folder, loaded anew, with the shapes the set was made for.
    public func attach(_ p: FluxPipeline) throws {
        guard p.folder.standardizedFileURL == folder, p.latentScale == latentScale,
              p.transformer.config.inChannels == channels else {
            throw EngineError("a running set made for \(folder.path) cannot continue on \(p.folder.path)")
        }
        held = p
    }

    /// Takes a member out between steps (canceled while the set was detached, for instance).
    public func remove(tag: Int) {
        members.removeAll { $0.tag == tag }
        slots.removeAll { $0.tag == tag }
    }

    /// Each member's progress as `step` reports it: (tag, done, total), images × steps.
    public var progress: [(tag: Int, done: Int, total: Int)] {
        members.map { ($0.tag, $0.step * $0.request.numImages, $0.timesteps.count * $0.request.numImages) }
    }

    public func accepts(_ r: GenerationRequest) -> Bool {
        guard held != nil else { return false }
        return r.width == width && r.height == height && pipeline.textLength(of: r) == textLength
    }

    /// Validates `r`, encodes its prompts and draws its noise; it takes its first step at the next `step`.
    /// Throws (and leaves the set as it was) for a request the pipeline rejects or that does not fit the set, and
    /// while the set is detached.
    public func admit(_ r: GenerationRequest, tag: Int) throws {
        guard held != nil else { throw EngineError("the running set has no pipeline (its model is not loaded)") }
        try pipeline.validate(r)
        try insert(r, tag: tag)
    }

    /// `admit` for a request the pipeline has already validated.
    func insert(_ r: GenerationRequest, tag: Int) throws {
        guard held != nil else { throw EngineError("the running set has no pipeline (its model is not loaded)") }
        guard accepts(r) else {
            throw EngineError("a running set of \(width)x\(height) with \(textLength) text tokens cannot take " +
                              "\(r.width)x\(r.height) with \(pipeline.textLength(of: r))")
        }
        precondition(!members.contains { $0.tag == tag }, "tag \(tag) is already in the set")
        let (fullSigmas, fullTimesteps, _) = pipeline.scheduler.schedule(steps: r.steps, imageSeqLen: seqLen)
        let start = r.image == nil ? 0 : FluxPipeline.firstStep(steps: r.steps, strength: r.strength)
        let member = Member(tag: tag, request: r, sigmas: Array(fullSigmas[start...]),
                            timesteps: Array(fullTimesteps[start...]))
        let lora = member.lora
        let cond = pipeline.encodePrompt(r.prompt, maxSequenceLength: textLength, lora: lora)
        var uncond: (sequence: Tensor, pooled: Tensor)? = nil
        if pipeline.usesTrueCFG && r.guidance > 1 {
            if lora != nil {
                uncond = pipeline.encodePrompt(r.negativePrompt, maxSequenceLength: textLength, lora: lora)
            } else if let hit = uncondCache[r.negativePrompt] {
                uncond = hit
            } else {
                if uncondCache.count >= 8 { uncondCache.removeAll() }
                let u = pipeline.encodePrompt(r.negativePrompt, maxSequenceLength: textLength)
                uncondCache[r.negativePrompt] = u
                uncond = u
            }
        }
        let image = r.image.map(pipeline.imageLatents)
        let mask = r.mask.map { pipeline.maskLatents($0, height: r.height, width: r.width) }
        var added: [Slot] = []
        for b in 0..<r.numImages {
            let x: Tensor
            if let l = r.latents {
                x = Tensor(shape: [seqLen, channels], data: Array(l.data[(b * seqLen * channels)..<((b + 1) * seqLen * channels)]))
            } else {
                x = GaussianNoise.tensor(shape: [seqLen, channels], seed: r.seed &+ UInt64(b))
            }
            var slot: Slot
            if let image {
                // FlowMatchEulerDiscreteScheduler.scale_noise at the entry sigma: σ·noise + (1 − σ)·image.
                let s0 = member.sigmas[0]
                var mixed = x
                mixed.data.withUnsafeMutableBufferPointer { m in image.data.withUnsafeBufferPointer { im in
                    for j in 0..<m.count { m[j] = s0 * m[j] + (1 - s0) * im[j] }
                }}
                slot = Slot(tag: tag, x: mixed, cond: cond, uncond: uncond)
                if let mask { slot.inpaint = (image, x, mask) }
            } else {
                slot = Slot(tag: tag, x: x, cond: cond, uncond: uncond)
            }
            if let t = r.cacheThreshold, t > 0 {
                slot.cache = (StepCache(threshold: Float(t)), StepCache(threshold: Float(t)))
            }
            added.append(slot)
        }
        members.append(member)
        slots += added
    }

    /// What left the set in a `step`: the member's tag and its images with their pass counts, or its error
    /// (`CancellationError` when `progress` returned false for it).
    public typealias Departure = (tag: Int, result: Result<GenerationOutput, Error>)

    /// Runs one denoising step for every member, then calls `progress(tag, done, total)` for each (images × steps;
    /// false removes that member with a `CancellationError`). Members on their last step are decoded and returned
    /// with the canceled ones; a backend failure returns every member with its error and empties the set, as does a
    /// step while detached.
    /// `previews`: for members with `previewEvery`, the first image's x0 estimate after every that many steps.
    public func step(previews: PreviewCallback? = nil, progress: ((Int, Int, Int) -> Bool)? = nil) -> [Departure] {
        guard !members.isEmpty else { return [] }
        guard held != nil else {
            let error = EngineError("the running set has no pipeline (its model is not loaded)")
            let gone = members.map { Departure($0.tag, .failure(error)) }
            members.removeAll()
            slots.removeAll()
            return gone
        }
        let transformer = pipeline.transformer
        let memberIndex = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.tag, $0) })
        // Transformer items: each slot's conditional pass, and its unconditional pass where it has one.
        var inputs: [FluxTransformerInput] = []
        var owners: [(slot: Int, uncond: Bool)] = []
        for (si, s) in slots.enumerated() {
            let mi = memberIndex[s.tag]!
            let m = members[mi]
            let g: Float? = transformer.config.guidanceEmbeds ? Float(m.request.guidance) : nil
            var input = FluxTransformerInput(hiddenStates: s.x, encoderHiddenStates: s.cond.sequence,
                                             pooledProjections: s.cond.pooled, timestep: m.timesteps[m.step] / 1000,
                                             guidance: g, imgIds: imgIds, txtIds: txtIds)
            input.lora = m.lora
            // The last step, which lands on the image, always runs in full (as TeaCache does).
            let last = m.step + 1 == m.timesteps.count
            input.cache = last ? nil : s.cache?.cond
            inputs.append(input)
            owners.append((si, false))
            members[mi].passes += 1
            if let u = s.uncond {
                input.encoderHiddenStates = u.sequence
                input.pooledProjections = u.pooled
                input.cache = last ? nil : s.cache?.uncond
                inputs.append(input)
                owners.append((si, true))
                members[mi].passes += 1
            }
        }
        var velocities: [Tensor] = []
        var start = 0
        do {
            while start < inputs.count {
                let end = min(start + pipeline.maxForwardBatch, inputs.count)
                velocities += try transformer.forward(Array(inputs[start..<end]))
                start = end
            }
        } catch {
            // A device failure ends every member, with the backend's message.
            let gone = members.map { Departure($0.tag, .failure(error)) }
            members.removeAll()
            slots.removeAll()
            return gone
        }
        var cond: [Int: Tensor] = [:], uncond: [Int: Tensor] = [:]
        for (o, out) in zip(owners, velocities) {
            let m = members[memberIndex[slots[o.slot].tag]!]
            let v = pipeline.easel.velocity(out, latents: slots[o.slot].x, sigma: m.sigmas[m.step])
            if o.uncond { uncond[o.slot] = v } else { cond[o.slot] = v }
        }
        var firstSlotSeen = Set<Int>()
        for si in slots.indices {
            guard var vel = cond[si] else { continue }
            let m = members[memberIndex[slots[si].tag]!]
            let sigma = m.sigmas[m.step], sigmaNext = m.sigmas[m.step + 1]
            if let u = uncond[si] {
                // true CFG as FluxPipeline: neg + scale·(cond − neg)
                let g = Float(m.request.guidance)
                vel.data.withUnsafeMutableBufferPointer { c in u.data.withUnsafeBufferPointer { n in
                    for j in 0..<c.count { c[j] = n[j] + g * (c[j] - n[j]) }
                }}
            }
            let isFirst = firstSlotSeen.insert(m.tag).inserted
            if let preview = previews?.call, let every = m.request.previewEvery, every > 0, isFirst,
               (m.step + 1) % every == 0, m.step + 1 < m.timesteps.count {
                var x0 = slots[si].x
                x0.data.withUnsafeMutableBufferPointer { xs in vel.data.withUnsafeBufferPointer { vs in
                    for j in 0..<xs.count { xs[j] -= sigma * vs[j] }
                }}
                if let img = pipeline.previewImage(x0, latentHeight: latentHeight, latentWidth: latentWidth) {
                    preview(m.tag, m.step + 1, img)
                }
            }
            FlowMatchEulerScheduler.step(&slots[si].x, velocity: vel, sigma: sigma, sigmaNext: sigmaNext)
            if let p = slots[si].inpaint {
                // FluxInpaintPipeline: the kept region is the image noised to the next sigma (the image itself
                // after the last step), blended by the mask.
                let sn = m.step + 1 < m.timesteps.count ? sigmaNext : 0
                slots[si].x.data.withUnsafeMutableBufferPointer { xs in
                    p.image.data.withUnsafeBufferPointer { im in p.noise.data.withUnsafeBufferPointer { nz in
                        p.mask.data.withUnsafeBufferPointer { mk in
                            for j in 0..<xs.count {
                                let known = sn * nz[j] + (1 - sn) * im[j]
                                xs[j] = (1 - mk[j]) * known + mk[j] * xs[j]
                            }
                        }
                    }}
                }
            }
        }
        var gone: [Departure] = []
        var leaving = Set<Int>()
        for mi in members.indices {
            members[mi].step += 1
            let m = members[mi]
            let n = m.request.numImages
            if let progress, !progress(m.tag, m.step * n, m.timesteps.count * n) {
                gone.append((m.tag, .failure(CancellationError())))
                leaving.insert(m.tag)
            } else if m.step == m.timesteps.count {
                let mine = slots.filter { $0.tag == m.tag }
                let cached = mine.reduce(0) { $0 + ($1.cache.map { $0.cond.skippedPasses + $0.uncond.skippedPasses } ?? 0) }
                let images = mine.map { pipeline.decode($0.x, latentHeight: latentHeight, latentWidth: latentWidth) }
                gone.append((m.tag, .success(GenerationOutput(images: images, transformerPasses: m.passes,
                                                              cachedPasses: cached))))
                leaving.insert(m.tag)
            }
        }
        if !leaving.isEmpty {
            members.removeAll { leaving.contains($0.tag) }
            slots.removeAll { leaving.contains($0.tag) }
        }
        return gone
    }
}
