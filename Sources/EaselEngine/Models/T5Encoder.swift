import Foundation

/// transformers' `T5Config`, as far as the encoder uses it (keys as HF writes them).
/// Behavioural keys missing from the file take transformers' defaults.
public struct T5Config: Codable, Sendable {
    public var vocabSize: Int
    public var dModel: Int
    public var dKv: Int
    public var dFf: Int
    public var numLayers: Int
    public var numHeads: Int
    public var relativeAttentionNumBuckets: Int
    public var relativeAttentionMaxDistance: Int
    public var layerNormEpsilon: Float
    public var feedForwardProj: String
    /// Written by transformers next to `feed_forward_proj`; when present they win over the derived values,
    /// as in transformers (the config sets file keys after deriving).
    public var denseActFn: String?
    public var isGatedAct: Bool?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case dModel = "d_model"
        case dKv = "d_kv"
        case dFf = "d_ff"
        case numLayers = "num_layers"
        case numHeads = "num_heads"
        case relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon"
        case feedForwardProj = "feed_forward_proj"
        case denseActFn = "dense_act_fn"
        case isGatedAct = "is_gated_act"
    }

    public init(vocabSize: Int, dModel: Int, dKv: Int, dFf: Int, numLayers: Int, numHeads: Int,
                relativeAttentionNumBuckets: Int = 32, relativeAttentionMaxDistance: Int = 128,
                layerNormEpsilon: Float = 1e-6, feedForwardProj: String = "relu",
                denseActFn: String? = nil, isGatedAct: Bool? = nil) {
        self.vocabSize = vocabSize; self.dModel = dModel; self.dKv = dKv; self.dFf = dFf
        self.numLayers = numLayers; self.numHeads = numHeads
        self.relativeAttentionNumBuckets = relativeAttentionNumBuckets
        self.relativeAttentionMaxDistance = relativeAttentionMaxDistance
        self.layerNormEpsilon = layerNormEpsilon; self.feedForwardProj = feedForwardProj
        self.denseActFn = denseActFn; self.isGatedAct = isGatedAct
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        dModel = try c.decode(Int.self, forKey: .dModel)
        dKv = try c.decode(Int.self, forKey: .dKv)
        dFf = try c.decode(Int.self, forKey: .dFf)
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        relativeAttentionNumBuckets = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionNumBuckets) ?? 32
        relativeAttentionMaxDistance = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionMaxDistance) ?? 128
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-6
        feedForwardProj = try c.decodeIfPresent(String.self, forKey: .feedForwardProj) ?? "relu"
        denseActFn = try c.decodeIfPresent(String.self, forKey: .denseActFn)
        isGatedAct = try c.decodeIfPresent(Bool.self, forKey: .isGatedAct)
    }

    /// (gated, activation name) exactly as transformers derives them; throws naming the offending key.
    public func feedForward() throws -> (gated: Bool, act: String) {
        let parts = feedForwardProj.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2 || (parts.count == 2 && parts[0] != "gated") {
            throw EngineError("T5 config: feed_forward_proj '\(feedForwardProj)' is not 'gated-{ACT}' or '{ACT}'")
        }
        var act = parts.last!
        if feedForwardProj == "gated-gelu" { act = "gelu_new" }
        return (isGatedAct ?? (parts[0] == "gated"), denseActFn ?? act)
    }
}

/// transformers' `T5EncoderModel` (FLUX's text_encoder_2): pre-RMSNorm blocks, unscaled attention with a
/// bucketed relative position bias computed by block 0 and shared by all blocks. No attention mask:
/// FluxPipeline passes none, so padding tokens attend and are attended to.
public final class T5Encoder {
    public let config: T5Config

    struct Block {
        let attnNorm, ffNorm: Tensor
        let q, k, v, o: Linear
        let wi0: Linear          // `wi` when not gated
        let wi1: Linear?         // gated only
        let wo: Linear
    }

    let embedding: Tensor            // [vocab, d_model]
    let relativeBias: Tensor         // [num_buckets, heads]
    let blocks: [Block]
    let finalNorm: Tensor
    let gated: Bool
    let act: (Tensor) -> Tensor

    public convenience init(folder: URL, weights: WeightSource) throws {
        try self.init(config: loadJSONConfig(T5Config.self, at: folder.appendingPathComponent("config.json")),
                      weights: weights)
    }

    public init(config: T5Config, weights w: WeightSource) throws {
        self.config = config
        let d = config.dModel, inner = config.numHeads * config.dKv, ff = config.dFf
        try ComponentWeights.requireSizes("T5", positive: [
            ("vocab_size", config.vocabSize), ("d_model", d), ("d_kv", config.dKv), ("d_ff", ff), ("num_heads", config.numHeads)],
            nonNegative: [("num_layers", config.numLayers)])
        // relativePositionBucket divides by num_buckets / 4 and by log(max_distance / (num_buckets / 4)).
        let exact = config.relativeAttentionNumBuckets / 4
        guard exact >= 1, config.relativeAttentionMaxDistance > exact else {
            throw EngineError("T5 config: relative_attention_num_buckets \(config.relativeAttentionNumBuckets) must be at least 4 and relative_attention_max_distance \(config.relativeAttentionMaxDistance) larger than a quarter of it")
        }
        let (gated, actName) = try config.feedForward()
        self.gated = gated
        do { act = try Ops.activation(actName) } catch {
            throw EngineError("T5 config: unsupported dense_act_fn '\(actName)' (from feed_forward_proj '\(config.feedForwardProj)')")
        }
        // T5EncoderModel ties encoder.embed_tokens to shared; checkpoints carry one or both.
        let embedName = w.has("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight"
        embedding = try ComponentWeights.tensor(w, embedName, shape: [config.vocabSize, d])
        relativeBias = try ComponentWeights.tensor(
            w, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            shape: [config.relativeAttentionNumBuckets, config.numHeads])
        blocks = try (0..<config.numLayers).map { i in
            let b = w.scoped("encoder.block.\(i)")
            let a = b.scoped("layer.0.SelfAttention"), f = b.scoped("layer.1.DenseReluDense")
            return Block(
                attnNorm: try ComponentWeights.tensor(b, "layer.0.layer_norm.weight", shape: [d]),
                ffNorm: try ComponentWeights.tensor(b, "layer.1.layer_norm.weight", shape: [d]),
                q: try ComponentWeights.linear(a, "q", in: d, out: inner, bias: false),
                k: try ComponentWeights.linear(a, "k", in: d, out: inner, bias: false),
                v: try ComponentWeights.linear(a, "v", in: d, out: inner, bias: false),
                o: try ComponentWeights.linear(a, "o", in: inner, out: d, bias: false),
                wi0: try ComponentWeights.linear(f, gated ? "wi_0" : "wi", in: d, out: ff, bias: false),
                wi1: gated ? try ComponentWeights.linear(f, "wi_1", in: d, out: ff, bias: false) : nil,
                wo: try ComponentWeights.linear(f, "wo", in: ff, out: d, bias: false))
        }
        finalNorm = try ComponentWeights.tensor(w, "encoder.final_layer_norm.weight", shape: [d])
    }

    /// Last hidden state [S, d_model] for one sequence of token ids, without an attention mask.
    public func encode(ids: [Int]) -> Tensor {
        let s = ids.count, eps = config.layerNormEpsilon
        precondition(s > 0, "T5: empty token sequence")
        var x = Ops.embedding(embedding, ids)
        let bias = positionBias(length: s)
        for b in blocks {
            let h = Ops.rmsNorm(x, weight: b.attnNorm, eps: eps)
            let a = Ops.attention(q: b.q(h), k: b.k(h), v: b.v(h), heads: config.numHeads, scale: 1, bias: bias)
            x = Ops.add(x, b.o(a))
            let m = Ops.rmsNorm(x, weight: b.ffNorm, eps: eps)
            let up = b.wi1.map { Ops.mul(act(b.wi0(m)), $0(m)) } ?? act(b.wi0(m))
            x = Ops.add(x, b.wo(up))
        }
        return Ops.rmsNorm(x, weight: finalNorm, eps: eps)
    }

    /// Relative position bias [heads, S, S] (bias[h, i, j] for query i, key j), from block 0's table.
    func positionBias(length s: Int) -> Tensor {
        let heads = config.numHeads
        let nb = config.relativeAttentionNumBuckets, md = config.relativeAttentionMaxDistance
        // Buckets depend only on j - i ∈ [-(s-1), s-1].
        let bucketOf = (0..<(2 * s - 1)).map { T5Encoder.relativePositionBucket($0 - (s - 1), numBuckets: nb, maxDistance: md) }
        var out = [Float](repeating: 0, count: heads * s * s)
        for h in 0..<heads {
            for i in 0..<s {
                for j in 0..<s {
                    out[(h * s + i) * s + j] = relativeBias.data[bucketOf[j - i + s - 1] * heads + h]
                }
            }
        }
        return Tensor(shape: [heads, s, s], data: out)
    }

    /// transformers' `T5Attention._relative_position_bucket` with bidirectional=True (the encoder),
    /// for relative position = key − query. Float32 arithmetic as torch computes it.
    public static func relativePositionBucket(_ relativePosition: Int, numBuckets: Int, maxDistance: Int) -> Int {
        let half = numBuckets / 2
        let base = relativePosition > 0 ? half : 0
        let n = abs(relativePosition)
        let maxExact = half / 2
        if n < maxExact { return base + n }
        let scaled = logf(Float(n) / Float(maxExact)) / Float(log(Double(maxDistance) / Double(maxExact)))
            * Float(half - maxExact)
        return base + min(maxExact + Int(scaled), half - 1)
    }
}
