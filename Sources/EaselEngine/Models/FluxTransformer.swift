import Foundation

/// `transformer/config.json` of a diffusers FluxTransformer2DModel.
public struct FluxTransformerConfig: Codable, Sendable {
    public var patchSize: Int = 1
    public var inChannels: Int = 64
    public var outChannels: Int?
    public var numLayers: Int = 19
    public var numSingleLayers: Int = 38
    public var attentionHeadDim: Int = 128
    public var numAttentionHeads: Int = 24
    public var jointAttentionDim: Int = 4096
    public var pooledProjectionDim: Int = 768
    public var guidanceEmbeds: Bool = false
    public var axesDimsRope: [Int] = [16, 56, 56]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case patchSize = "patch_size", inChannels = "in_channels", outChannels = "out_channels"
        case numLayers = "num_layers", numSingleLayers = "num_single_layers"
        case attentionHeadDim = "attention_head_dim", numAttentionHeads = "num_attention_heads"
        case jointAttentionDim = "joint_attention_dim", pooledProjectionDim = "pooled_projection_dim"
        case guidanceEmbeds = "guidance_embeds", axesDimsRope = "axes_dims_rope"
    }

    public init() {}
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        func v<T: Decodable>(_ k: CodingKeys, _ def: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? def }
        patchSize = try v(.patchSize, 1)
        inChannels = try v(.inChannels, 64)
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels)
        numLayers = try v(.numLayers, 19)
        numSingleLayers = try v(.numSingleLayers, 38)
        attentionHeadDim = try v(.attentionHeadDim, 128)
        numAttentionHeads = try v(.numAttentionHeads, 24)
        jointAttentionDim = try v(.jointAttentionDim, 4096)
        pooledProjectionDim = try v(.pooledProjectionDim, 768)
        guidanceEmbeds = try v(.guidanceEmbeds, false)
        axesDimsRope = try v(.axesDimsRope, [16, 56, 56])
    }

    public var innerDim: Int { numAttentionHeads * attentionHeadDim }

    public static func load(_ url: URL) throws -> FluxTransformerConfig {
        let c = try loadJSONConfig(FluxTransformerConfig.self, at: url, knownKeys: Set(CodingKeys.allCases.map(\.rawValue)),
                                   expectClass: ["FluxTransformer2DModel"])
        do { try c.validate() } catch let e as EngineError { throw EngineError("\(url.path): \(e.message)") }
        return c
    }

    /// What both backends assume of a configuration, checked before any weight is read: each of these, broken,
    /// would otherwise be an out-of-bounds access or a division by zero in the forward pass.
    public func validate() throws {
        if patchSize != 1 { throw EngineError("unsupported config key 'patch_size' = \(patchSize) (only 1)") }
        for (key, v) in [("in_channels", inChannels), ("attention_head_dim", attentionHeadDim),
                         ("num_attention_heads", numAttentionHeads), ("joint_attention_dim", jointAttentionDim),
                         ("pooled_projection_dim", pooledProjectionDim)] where v <= 0 {
            throw EngineError("'\(key)' = \(v) must be positive")
        }
        for (key, v) in [("num_layers", numLayers), ("num_single_layers", numSingleLayers)] where v < 0 {
            throw EngineError("'\(key)' = \(v) must not be negative")
        }
        // FLUX positions have three axes (the ids' columns): one rotary band each.
        if axesDimsRope.count != 3 || axesDimsRope.reduce(0, +) != attentionHeadDim
            || axesDimsRope.contains(where: { $0 <= 0 || $0 % 2 != 0 }) {
            throw EngineError("'axes_dims_rope' \(axesDimsRope) must be three positive even sizes summing to attention_head_dim \(attentionHeadDim)")
        }
        if let o = outChannels, o != inChannels {
            throw EngineError("unsupported config key 'out_channels' = \(o) (must equal in_channels)")
        }
    }
}

/// Inputs of one transformer call for ONE image of a batch (the pipeline loops over the batch).
public struct FluxTransformerInput {
    public var hiddenStates: Tensor          // [S, in_channels]  packed latents
    public var encoderHiddenStates: Tensor   // [L, joint_attention_dim]  T5 output
    public var pooledProjections: Tensor     // [pooled_projection_dim]  CLIP pooled output
    public var timestep: Float               // sigma in [0, 1] (FluxPipeline passes t/1000)
    public var guidance: Float?              // guidance scale, for guidance-distilled models
    public var imgIds: Tensor                // [S, 3]
    public var txtIds: Tensor                // [L, 3]
    /// This item's LoRAs, applied beside the shared weights (nil: none).
    public var lora: LoRAStack?
    /// This item's first-block cache across steps (nil: every step is a full pass).
    public var cache: StepCache?
    public init(hiddenStates: Tensor, encoderHiddenStates: Tensor, pooledProjections: Tensor, timestep: Float,
                guidance: Float?, imgIds: Tensor, txtIds: Tensor) {
        self.hiddenStates = hiddenStates; self.encoderHiddenStates = encoderHiddenStates
        self.pooledProjections = pooledProjections; self.timestep = timestep; self.guidance = guidance
        self.imgIds = imgIds; self.txtIds = txtIds
    }
}

/// A FLUX transformer on some backend: one velocity [S, in_channels] per input, for a batch of inputs that share
/// image size and text length.
public protocol FluxDenoiser: AnyObject {
    var config: FluxTransformerConfig { get }
    /// A short name of where it runs ("cpu", "cuda: NVIDIA H100 ..."), for logs and benchmarks.
    var backendName: String { get }
    var backendKind: BackendKind { get }
    func forward(_ inputs: [FluxTransformerInput]) throws -> [Tensor]
}

/// `temb` of FluxTransformer2DModel (timestep, guidance and pooled-text MLPs), computed on the CPU in f32 by every
/// backend: a few small matrix-vector products per call.
struct FluxConditioner {
    struct MLP { let l1: Linear, l2: Linear }
    let time: MLP, guidance: MLP?, text: MLP

    init(layout: FluxWeightLayout, weights w: WeightSource) throws {
        func embed(_ e: FluxWeightLayout.Embedder) throws -> MLP { MLP(l1: try w.linear(e.linear1), l2: try w.linear(e.linear2)) }
        time = try embed(layout.timestepEmbedder)
        guidance = try layout.guidanceEmbedder.map(embed)
        text = try embed(layout.textEmbedder)
    }

    /// [1, dim]: timestep (+ guidance) + pooled text embeddings.
    func callAsFunction(_ input: FluxTransformerInput) -> Tensor {
        let lora = [input.lora]
        func mlp(_ e: MLP, _ x: Tensor) -> Tensor {
            e.l2(Ops.silu(e.l1(x, rowsPerItem: 1, loras: lora)), rowsPerItem: 1, loras: lora)
        }
        var temb = mlp(time, FluxTransformer.timestepFeatures(input.timestep * 1000))
        if let g = guidance {
            temb = Ops.add(temb, mlp(g, FluxTransformer.timestepFeatures((input.guidance ?? 0) * 1000)))
        }
        return Ops.add(temb, mlp(text, input.pooledProjections.reshaped([1, -1])))
    }
}

/// diffusers' FluxTransformer2DModel on the CPU: 19+38 blocks in FLUX.1, any count here.
public final class FluxTransformer: FluxDenoiser {
    public var backendName: String { "cpu" }
    public let config: FluxTransformerConfig

    struct Attention {
        let q, k, v: Linear
        let normQ, normK: Tensor
        let out: Linear?
        let addQ, addK, addV: Linear?
        let normAddQ, normAddK: Tensor?
        let addOut: Linear?
    }
    struct DoubleBlock {
        let norm1, norm1Context: Linear        // AdaLayerNormZero: 6·dim
        let attn: Attention
        let ff1, ff2, ffc1, ffc2: Linear
    }
    struct SingleBlock {
        let norm: Linear                        // AdaLayerNormZeroSingle: 3·dim
        let attn: Attention
        let projMLP, projOut: Linear
    }

    let conditioner: FluxConditioner
    let contextEmbedder: Linear, xEmbedder: Linear
    let doubleBlocks: [DoubleBlock]
    let singleBlocks: [SingleBlock]
    let normOut: Linear, projOut: Linear

    /// Reads every weight named by `FluxWeightLayout(config:)`, each shape-checked.
    public init(config: FluxTransformerConfig, weights w: WeightSource) throws {
        try config.validate()
        self.config = config
        let layout = FluxWeightLayout(config: config)
        conditioner = try FluxConditioner(layout: layout, weights: w)
        contextEmbedder = try w.linear(layout.contextEmbedder)
        xEmbedder = try w.linear(layout.xEmbedder)
        func attention(_ a: FluxWeightLayout.Attention) throws -> Attention {
            Attention(q: try w.linear(a.q), k: try w.linear(a.k), v: try w.linear(a.v),
                      normQ: try w.vector(a.normQ), normK: try w.vector(a.normK),
                      out: try a.out.map(w.linear),
                      addQ: try a.addQ.map(w.linear), addK: try a.addK.map(w.linear), addV: try a.addV.map(w.linear),
                      normAddQ: try a.normAddQ.map(w.vector), normAddK: try a.normAddK.map(w.vector),
                      addOut: try a.addOut.map(w.linear))
        }
        doubleBlocks = try layout.doubleBlocks.map { b in
            DoubleBlock(norm1: try w.linear(b.norm1), norm1Context: try w.linear(b.norm1Context), attn: try attention(b.attn),
                        ff1: try w.linear(b.ff1), ff2: try w.linear(b.ff2),
                        ffc1: try w.linear(b.ffContext1), ffc2: try w.linear(b.ffContext2))
        }
        singleBlocks = try layout.singleBlocks.map { b in
            SingleBlock(norm: try w.linear(b.norm), attn: try attention(b.attn),
                        projMLP: try w.linear(b.projMLP), projOut: try w.linear(b.projOut))
        }
        normOut = try w.linear(layout.normOut)
        projOut = try w.linear(layout.projOut)
    }

    /// Sinusoidal timestep features as diffusers' `Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)`.
    static func timestepFeatures(_ t: Float, dim: Int = 256) -> Tensor {
        let half = dim / 2
        var out = [Float](repeating: 0, count: dim)
        for i in 0..<half {
            // Same operation order as diffusers (f32): exp(-ln(10000)·i / half).
            let freq = expf(Float(-log(10000.0)) * Float(i) / Float(half))
            let arg = t * freq
            out[i] = cosf(arg)
            out[half + i] = sinf(arg)
        }
        return Tensor(shape: [1, dim], data: out)
    }

    /// The conditioning vector `temb` [1, dim]: timestep (+ guidance) + pooled text embeddings.
    func conditioning(_ input: FluxTransformerInput) -> Tensor { conditioner(input) }

    /// RoPE tables [S, headDim/2] of cos and sin for the concatenated text+image ids, as FluxPosEmbed computes them
    /// (frequencies in f64, then rounded to f32).
    static func rope(ids: Tensor, axes: [Int], theta: Double = 10000) -> (cos: [Float], sin: [Float]) {
        let n = ids.rows, half = axes.reduce(0, +) / 2
        var cos = [Float](repeating: 0, count: n * half), sin = cos
        for r in 0..<n {
            var col = 0
            for (a, dim) in axes.enumerated() {
                let pos = Double(ids.data[r * ids.lastDim + a])
                for i in 0..<(dim / 2) {
                    let freq = 1.0 / pow(theta, Double(2 * i) / Double(dim))
                    let angle = pos * freq
                    cos[r * half + col] = Float(Foundation.cos(angle))
                    sin[r * half + col] = Float(Foundation.sin(angle))
                    col += 1
                }
            }
        }
        return (cos, sin)
    }

    /// Rotates interleaved pairs (x[2i], x[2i+1]) of every head in place.
    static func applyRope(_ x: inout Tensor, heads: Int, cos: [Float], sin: [Float]) {
        let width = x.lastDim, dh = width / heads, half = dh / 2, rows = x.rows
        x.data.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                for h in 0..<heads {
                    let base = r * width + h * dh
                    for i in 0..<half {
                        let c = cos[r * half + i], s = sin[r * half + i]
                        let a = p[base + 2 * i], b = p[base + 2 * i + 1]
                        p[base + 2 * i] = a * c - b * s
                        p[base + 2 * i + 1] = b * c + a * s
                    }
                }
            }
        }
    }

    /// Runs the transformer for one image; returns the velocity prediction [S, in_channels].
    public func callAsFunction(_ input: FluxTransformerInput) -> Tensor { forward([input])[0] }

    /// Joint attention of one item: its text rows then its image rows (as diffusers concatenates them), RoPE on
    /// q and k, softmax attention over all L+S tokens. q, k, v: [L+S, H·D] → [L+S, H·D].
    func attend(q: inout Tensor, k: inout Tensor, v: Tensor, cos: [Float], sin: [Float]) -> Tensor {
        let heads = config.numAttentionHeads
        Self.applyRope(&q, heads: heads, cos: cos, sin: sin)
        Self.applyRope(&k, heads: heads, cos: cos, sin: sin)
        return Ops.attention(q: q, k: k, v: v, heads: heads)
    }

    /// Runs a batch of images that share image size and text length (and so positions). Rows of all items are
    /// stacked so every Linear is one GEMM over the batch; attention runs per item. Returns [S, in_channels] each.
    ///
    /// Items with a `StepCache` run the first double block, and where its image-stream residual barely moved since
    /// that item's last full pass, skip the other blocks: their contribution from that pass is added back instead.
    /// The remaining blocks run on the items that did not skip, as a smaller batch.
    public func forward(_ inputs: [FluxTransformerInput]) -> [Tensor] {
        let nb = inputs.count
        let nTxt = inputs[0].encoderHiddenStates.rows, nImg = inputs[0].hiddenStates.rows
        for i in inputs {
            precondition(i.encoderHiddenStates.rows == nTxt && i.hiddenStates.rows == nImg, "batch items must share sizes")
        }
        let loras: [LoRAStack?] = inputs.map { $0.lora.flatMap { $0.isEmpty ? nil : $0 } }
        // Every modulation Linear sees silu(temb): [B, dim].
        var temb = Ops.stackRows(inputs.map { conditioning($0) })
        Ops.siluInPlace(&temb)
        var img = xEmbedder(Ops.stackRows(inputs.map(\.hiddenStates)), rowsPerItem: nImg, loras: loras)          // [B·S, dim]
        var txt = contextEmbedder(Ops.stackRows(inputs.map(\.encoderHiddenStates)), rowsPerItem: nTxt, loras: loras) // [B·L, dim]
        let rope = Self.rope(ids: Ops.stackRows([inputs[0].txtIds, inputs[0].imgIds]), axes: config.axesDimsRope)
        let width = config.innerDim
        let shape = BatchShape(nTxt: nTxt, nImg: nImg, cos: rope.cos, sin: rope.sin)

        let caches = inputs.map(\.cache)
        guard caches.contains(where: { $0 != nil }), let first = doubleBlocks.first else {
            let out = remainingBlocks(img: img, txt: txt, temb: temb, loras: loras, from: 0, shape: shape)
            return finalLayer(out, temb: temb, loras: loras, nImg: nImg)
        }
        // First-block cache: one double block for everyone, then the decision per item.
        let embedded = img
        doubleBlock(first, img: &img, txt: &txt, temb: temb, loras: loras, shape: shape)
        let rowWidth = nImg * width
        func rows(_ t: Tensor, _ i: Int) -> ArraySlice<Float> { t.data[(i * rowWidth)..<((i + 1) * rowWidth)] }
        var skip = [Bool](repeating: false, count: nb)
        for i in 0..<nb {
            guard let cache = caches[i] else { continue }
            let residual = zip(rows(img, i), rows(embedded, i)).map { $0 - $1 }
            skip[i] = cache.decide(firstResidual: residual)
        }
        let run = (0..<nb).filter { !skip[$0] }
        var out = img
        if !run.isEmpty {
            let all = run.count == nb
            func gather(_ t: Tensor, _ per: Int) -> Tensor {
                all ? t : Ops.stackRows(run.map { Tensor(shape: [per, t.lastDim], data: Array(t.data[($0 * per * t.lastDim)..<(($0 + 1) * per * t.lastDim)])) })
            }
            let sub = remainingBlocks(img: gather(img, nImg), txt: gather(txt, nTxt), temb: gather(temb, 1),
                                      loras: all ? loras : run.map { loras[$0] }, from: 1, shape: shape)
            for (k, i) in run.enumerated() {
                Ops.copyRows(sub, k * nImg, into: &out, i * nImg, count: nImg)
                caches[i]?.store(tailResidual: zip(rows(sub, k), rows(img, i)).map { $0 - $1 })
            }
        }
        for i in 0..<nb where skip[i] {
            let tail = caches[i]!.tail!
            out.data.withUnsafeMutableBufferPointer { o in
                for j in 0..<rowWidth { o[i * rowWidth + j] += tail[j] }
            }
        }
        return finalLayer(out, temb: temb, loras: loras, nImg: nImg)
    }

    /// What every block of one batch shares: the text and image lengths and the RoPE tables.
    struct BatchShape { let nTxt: Int, nImg: Int, cos: [Float], sin: [Float] }

    /// One dual-stream block on stacked items: img [B·S, dim] and txt [B·L, dim] in place.
    func doubleBlock(_ b: DoubleBlock, img: inout Tensor, txt: inout Tensor, temb: Tensor, loras: [LoRAStack?],
                     shape: BatchShape) {
        let nb = temb.rows, nTxt = shape.nTxt, nImg = shape.nImg, nAll = nTxt + nImg
        let hd = config.attentionHeadDim, width = config.innerDim
        let m = b.norm1(temb, rowsPerItem: 1, loras: loras), mc = b.norm1Context(temb, rowsPerItem: 1, loras: loras)                      // [B, 6·dim]
        let nI = Ops.layerNormModulate(img, rowsPerItem: nImg, mod: m, shiftChunk: 0, scaleChunk: 1)
        let nT = Ops.layerNormModulate(txt, rowsPerItem: nTxt, mod: mc, shiftChunk: 0, scaleChunk: 1)
        let a = b.attn
        var qi = a.q(nI, rowsPerItem: nImg, loras: loras), ki = a.k(nI, rowsPerItem: nImg, loras: loras)
        var qt = a.addQ!(nT, rowsPerItem: nTxt, loras: loras), kt = a.addK!(nT, rowsPerItem: nTxt, loras: loras)
        let vi = a.v(nI, rowsPerItem: nImg, loras: loras), vt = a.addV!(nT, rowsPerItem: nTxt, loras: loras)
        Ops.headRMSNormInPlace(&qi, headDim: hd, weight: a.normQ)
        Ops.headRMSNormInPlace(&ki, headDim: hd, weight: a.normK)
        Ops.headRMSNormInPlace(&qt, headDim: hd, weight: a.normAddQ!)
        Ops.headRMSNormInPlace(&kt, headDim: hd, weight: a.normAddK!)
        var oImg = Tensor(zeros: [nb * nImg, width]), oTxt = Tensor(zeros: [nb * nTxt, width])
        var q = Tensor(zeros: [nAll, width]), k = q, v = q
        for i in 0..<nb {
            Ops.copyRows(qt, i * nTxt, into: &q, 0, count: nTxt); Ops.copyRows(qi, i * nImg, into: &q, nTxt, count: nImg)
            Ops.copyRows(kt, i * nTxt, into: &k, 0, count: nTxt); Ops.copyRows(ki, i * nImg, into: &k, nTxt, count: nImg)
            Ops.copyRows(vt, i * nTxt, into: &v, 0, count: nTxt); Ops.copyRows(vi, i * nImg, into: &v, nTxt, count: nImg)
            let o = attend(q: &q, k: &k, v: v, cos: shape.cos, sin: shape.sin)
            Ops.copyRows(o, 0, into: &oTxt, i * nTxt, count: nTxt)
            Ops.copyRows(o, nTxt, into: &oImg, i * nImg, count: nImg)
        }
        Ops.gatedAddInPlace(&img, a.out!(oImg, rowsPerItem: nImg, loras: loras), rowsPerItem: nImg, mod: m, gateChunk: 2)
        var h = b.ff1(Ops.layerNormModulate(img, rowsPerItem: nImg, mod: m, shiftChunk: 3, scaleChunk: 4), rowsPerItem: nImg, loras: loras)
        Ops.geluTanhInPlace(&h)
        Ops.gatedAddInPlace(&img, b.ff2(h, rowsPerItem: nImg, loras: loras), rowsPerItem: nImg, mod: m, gateChunk: 5)

        Ops.gatedAddInPlace(&txt, a.addOut!(oTxt, rowsPerItem: nTxt, loras: loras), rowsPerItem: nTxt, mod: mc, gateChunk: 2)
        var hc = b.ffc1(Ops.layerNormModulate(txt, rowsPerItem: nTxt, mod: mc, shiftChunk: 3, scaleChunk: 4), rowsPerItem: nTxt, loras: loras)
        Ops.geluTanhInPlace(&hc)
        Ops.gatedAddInPlace(&txt, b.ffc2(hc, rowsPerItem: nTxt, loras: loras), rowsPerItem: nTxt, mod: mc, gateChunk: 5)
    }

    /// Double blocks from index `from`, then every single-stream block; returns the image rows [B·S, dim].
    func remainingBlocks(img imgIn: Tensor, txt txtIn: Tensor, temb: Tensor, loras: [LoRAStack?], from: Int,
                         shape: BatchShape) -> Tensor {
        var img = imgIn, txt = txtIn
        for b in doubleBlocks.dropFirst(from) {
            doubleBlock(b, img: &img, txt: &txt, temb: temb, loras: loras, shape: shape)
        }
        let nb = temb.rows, nTxt = shape.nTxt, nImg = shape.nImg, nAll = nTxt + nImg
        let hd = config.attentionHeadDim, width = config.innerDim
        // Single-stream blocks work on [text; image] per item, items stacked: [B·(L+S), dim].
        var x = Tensor(zeros: [nb * nAll, width])
        for i in 0..<nb {
            Ops.copyRows(txt, i * nTxt, into: &x, i * nAll, count: nTxt)
            Ops.copyRows(img, i * nImg, into: &x, i * nAll + nTxt, count: nImg)
        }
        let mlpWidth = singleBlocks.first?.projMLP.outFeatures ?? 0
        for b in singleBlocks {
            let m = b.norm(temb, rowsPerItem: 1, loras: loras)                                                   // shift, scale, gate: [B, 3·dim]
            let n = Ops.layerNormModulate(x, rowsPerItem: nAll, mod: m, shiftChunk: 0, scaleChunk: 1)
            let a = b.attn
            var qa = a.q(n, rowsPerItem: nAll, loras: loras), ka = a.k(n, rowsPerItem: nAll, loras: loras)
            let va = a.v(n, rowsPerItem: nAll, loras: loras)
            Ops.headRMSNormInPlace(&qa, headDim: hd, weight: a.normQ)
            Ops.headRMSNormInPlace(&ka, headDim: hd, weight: a.normK)
            var mlp = b.projMLP(n, rowsPerItem: nAll, loras: loras)                                                 // [B·(L+S), mlp]
            Ops.geluTanhInPlace(&mlp)
            // proj_out input is [attention | mlp] per row.
            var cat = Tensor(zeros: [nb * nAll, width + mlpWidth])
            var q = Tensor(zeros: [nAll, width]), k = q, v = q
            for i in 0..<nb {
                Ops.copyRows(qa, i * nAll, into: &q, 0, count: nAll)
                Ops.copyRows(ka, i * nAll, into: &k, 0, count: nAll)
                Ops.copyRows(va, i * nAll, into: &v, 0, count: nAll)
                let o = attend(q: &q, k: &k, v: v, cos: shape.cos, sin: shape.sin)
                cat.data.withUnsafeMutableBufferPointer { c in
                    o.data.withUnsafeBufferPointer { op in
                        mlp.data.withUnsafeBufferPointer { mp in
                            for r in 0..<nAll {
                                let dst = c.baseAddress! + (i * nAll + r) * (width + mlpWidth)
                                dst.update(from: op.baseAddress! + r * width, count: width)
                                (dst + width).update(from: mp.baseAddress! + (i * nAll + r) * mlpWidth, count: mlpWidth)
                            }
                        }
                    }
                }
            }
            Ops.gatedAddInPlace(&x, b.projOut(cat, rowsPerItem: nAll, loras: loras), rowsPerItem: nAll, mod: m, gateChunk: 2)
        }
        var imgOut = Tensor(zeros: [nb * nImg, width])
        for i in 0..<nb { Ops.copyRows(x, i * nAll + nTxt, into: &imgOut, i * nImg, count: nImg) }
        return imgOut
    }

    /// AdaLayerNormContinuous (chunk 0 is scale, chunk 1 is shift) and proj_out: [S, in_channels] per item.
    func finalLayer(_ imgOut: Tensor, temb: Tensor, loras: [LoRAStack?], nImg: Int) -> [Tensor] {
        let nb = temb.rows
        let mo = normOut(temb, rowsPerItem: 1, loras: loras)
        let y = projOut(Ops.layerNormModulate(imgOut, rowsPerItem: nImg, mod: mo, shiftChunk: 1, scaleChunk: 0), rowsPerItem: nImg, loras: loras)
        let c = y.lastDim
        return (0..<nb).map { Tensor(shape: [nImg, c], data: Array(y.data[(($0) * nImg * c)..<(($0 + 1) * nImg * c)])) }
    }
}

extension FluxDenoiser {
    /// Euler steps of rectified flow from the inputs' latents through `sigmas` (each input's timestep set per step),
    /// returning the final latents: a backend comparison over several steps without the text encoders or a VAE.
    public func eulerSample(_ inputs: [FluxTransformerInput], sigmas: [Float]) throws -> [Tensor] {
        var xs = inputs.map(\.hiddenStates)
        for k in 0..<(sigmas.count - 1) {
            var step = inputs
            for i in step.indices { step[i].hiddenStates = xs[i]; step[i].timestep = sigmas[k] }
            let v = try forward(step)
            for i in xs.indices { FlowMatchEulerScheduler.step(&xs[i], velocity: v[i], sigma: sigmas[k], sigmaNext: sigmas[k + 1]) }
        }
        return xs
    }
}
