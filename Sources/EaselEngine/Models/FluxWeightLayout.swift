import Foundation

/// Every tensor of a diffusers FluxTransformer2DModel checkpoint, with its shape, derived from the config.
///
/// The one place the transformer's checkpoint keys are written: the CPU and CUDA backends load through it and
/// RandomFluxWeights generates from it, so the three can't disagree, and every tensor's shape is checked at load
/// (a transposed or resized tensor is an error naming it instead of undefined behaviour in a release build).
public struct FluxWeightLayout: Sendable {
    /// How a tensor is used, which RandomFluxWeights needs to choose its value range.
    public enum Role: Sendable { case linearWeight, linearBias, norm }

    /// One checkpoint tensor. `required` false: the loader reads it when present (biases: diffusers' FLUX has
    /// them all, some exports drop them), and RandomFluxWeights generates it.
    public struct Entry: Sendable {
        public let key: String
        public let shape: [Int]
        public let required: Bool
        public let role: Role
        /// Where the expected shape comes from, in config terms, for error messages.
        public let origin: String
    }

    /// A torch Linear: weight [out, in], optional bias [out].
    public struct LinearKeys: Sendable {
        public let weight: Entry
        public let bias: Entry
    }
    public struct Embedder: Sendable { public let linear1, linear2: LinearKeys }
    public struct Attention: Sendable {
        public let q, k, v: LinearKeys
        public let normQ, normK: Entry
        /// Double blocks only: the image stream's output projection and the text stream's q/k/v/norms/output.
        public let out: LinearKeys?
        public let addQ, addK, addV: LinearKeys?
        public let normAddQ, normAddK: Entry?
        public let addOut: LinearKeys?
    }
    public struct DoubleBlock: Sendable {
        public let norm1, norm1Context: LinearKeys   // AdaLayerNormZero: 6·dim
        public let attn: Attention
        public let ff1, ff2, ffContext1, ffContext2: LinearKeys
    }
    public struct SingleBlock: Sendable {
        public let norm: LinearKeys                  // AdaLayerNormZeroSingle: 3·dim
        public let attn: Attention
        public let projMLP, projOut: LinearKeys
    }

    /// diffusers fixes the feed-forward width at 4·dim (FeedForward's mult, single blocks' mlp_ratio): not in the config.
    public static let mlpRatio = 4
    /// Key prefixes of the double- and single-stream blocks ("transformer_blocks.3.attn.to_q.weight").
    public static let blockPrefixes = (double: "transformer_blocks.", single: "single_transformer_blocks.")
    /// Width of the sinusoidal timestep (and guidance) features fed to the embedders' linear_1.
    public static let timestepFeatures = 256

    public let config: FluxTransformerConfig
    public let timestepEmbedder: Embedder
    public let guidanceEmbedder: Embedder?
    public let textEmbedder: Embedder
    public let contextEmbedder, xEmbedder: LinearKeys
    public let doubleBlocks: [DoubleBlock]
    public let singleBlocks: [SingleBlock]
    public let normOut, projOut: LinearKeys
    /// Every tensor, in load order.
    public let entries: [Entry]

    public init(config c: FluxTransformerConfig) {
        config = c
        let d = c.innerDim, hd = c.attentionHeadDim, mlp = Self.mlpRatio * d, tf = Self.timestepFeatures
        // The config values behind each symbolic size, so a message says which setting the shape follows from.
        let dimWhy = "dim \(d) = num_attention_heads \(c.numAttentionHeads) × attention_head_dim \(hd)"
        var entries: [Entry] = []
        func entry(_ key: String, _ shape: [Int], required: Bool, _ role: Role, _ origin: String) -> Entry {
            let e = Entry(key: key, shape: shape, required: required, role: role, origin: origin)
            entries.append(e)
            return e
        }
        /// `outWhy`/`inWhy`: the sizes in config terms, e.g. "6·dim", "joint_attention_dim \(n)".
        func linear(_ name: String, in inF: Int, out outF: Int, _ inWhy: String, _ outWhy: String) -> LinearKeys {
            let why = "[out, in] = [\(outWhy), \(inWhy)]; \(dimWhy)"
            return LinearKeys(weight: entry(name + ".weight", [outF, inF], required: true, .linearWeight, why),
                              bias: entry(name + ".bias", [outF], required: false, .linearBias, "[out] = [\(outWhy)]; \(dimWhy)"))
        }
        func norm(_ name: String) -> Entry {
            entry(name + ".weight", [hd], required: true, .norm, "[attention_head_dim \(hd)]")
        }
        func square(_ name: String) -> LinearKeys { linear(name, in: d, out: d, "dim", "dim") }
        func embedder(_ p: String, in inF: Int, _ inWhy: String) -> Embedder {
            Embedder(linear1: linear(p + ".linear_1", in: inF, out: d, inWhy, "dim"), linear2: square(p + ".linear_2"))
        }

        // diffusers' names (FluxTransformer2DModel.state_dict()); shapes as torch stores them.
        timestepEmbedder = embedder("time_text_embed.timestep_embedder", in: tf, "\(tf) timestep features")
        guidanceEmbedder = c.guidanceEmbeds
            ? embedder("time_text_embed.guidance_embedder", in: tf, "\(tf) guidance features") : nil
        textEmbedder = embedder("time_text_embed.text_embedder", in: c.pooledProjectionDim,
                                "pooled_projection_dim \(c.pooledProjectionDim)")
        contextEmbedder = linear("context_embedder", in: c.jointAttentionDim, out: d,
                                 "joint_attention_dim \(c.jointAttentionDim)", "dim")
        xEmbedder = linear("x_embedder", in: c.inChannels, out: d, "in_channels \(c.inChannels)", "dim")
        doubleBlocks = (0..<max(c.numLayers, 0)).map { i in
            let p = Self.blockPrefixes.double + "\(i)", a = p + ".attn"
            let norm1 = linear(p + ".norm1.linear", in: d, out: 6 * d, "dim", "6·dim")
            let norm1Context = linear(p + ".norm1_context.linear", in: d, out: 6 * d, "dim", "6·dim")
            let attn = Attention(q: square(a + ".to_q"), k: square(a + ".to_k"), v: square(a + ".to_v"),
                                 normQ: norm(a + ".norm_q"), normK: norm(a + ".norm_k"),
                                 out: square(a + ".to_out.0"),
                                 addQ: square(a + ".add_q_proj"), addK: square(a + ".add_k_proj"), addV: square(a + ".add_v_proj"),
                                 normAddQ: norm(a + ".norm_added_q"), normAddK: norm(a + ".norm_added_k"),
                                 addOut: square(a + ".to_add_out"))
            let mlpWhy = "mlp_ratio \(Self.mlpRatio) × dim"
            return DoubleBlock(norm1: norm1, norm1Context: norm1Context, attn: attn,
                               ff1: linear(p + ".ff.net.0.proj", in: d, out: mlp, "dim", mlpWhy),
                               ff2: linear(p + ".ff.net.2", in: mlp, out: d, mlpWhy, "dim"),
                               ffContext1: linear(p + ".ff_context.net.0.proj", in: d, out: mlp, "dim", mlpWhy),
                               ffContext2: linear(p + ".ff_context.net.2", in: mlp, out: d, mlpWhy, "dim"))
        }
        singleBlocks = (0..<max(c.numSingleLayers, 0)).map { i in
            let p = Self.blockPrefixes.single + "\(i)", a = p + ".attn"
            let normLinear = linear(p + ".norm.linear", in: d, out: 3 * d, "dim", "3·dim")
            let attn = Attention(q: square(a + ".to_q"), k: square(a + ".to_k"), v: square(a + ".to_v"),
                                 normQ: norm(a + ".norm_q"), normK: norm(a + ".norm_k"), out: nil,
                                 addQ: nil, addK: nil, addV: nil, normAddQ: nil, normAddK: nil, addOut: nil)
            // proj_out reads [attention | mlp] per row.
            return SingleBlock(norm: normLinear, attn: attn,
                               projMLP: linear(p + ".proj_mlp", in: d, out: mlp, "dim", "mlp_ratio \(Self.mlpRatio) × dim"),
                               projOut: linear(p + ".proj_out", in: d + mlp, out: d, "(1 + mlp_ratio \(Self.mlpRatio)) × dim", "dim"))
        }
        normOut = linear("norm_out.linear", in: d, out: 2 * d, "dim", "2·dim")   // AdaLayerNormContinuous: scale, shift
        projOut = linear("proj_out", in: d, out: c.inChannels, "dim", "in_channels \(c.inChannels)")
        self.entries = entries
    }
}

extension WeightSource {
    /// Reads one layout tensor, checking its shape (nil when it is optional and absent).
    func tensor(_ e: FluxWeightLayout.Entry) throws -> Tensor? {
        if !e.required && !has(e.key) { return nil }
        return try tensor(e.key, shape: e.shape, because: e.origin)
    }

    /// Reads a Linear of the layout, shape-checked.
    func linear(_ l: FluxWeightLayout.LinearKeys) throws -> Linear {
        // A required entry is never nil.
        guard let weight = try tensor(l.weight) else { throw EngineError("missing weight '\(l.weight.key)'") }
        return Linear(weight: weight, bias: try tensor(l.bias), name: String(l.weight.key.dropLast(".weight".count)))
    }

    /// Reads a required vector of the layout (an RMSNorm weight), shape-checked.
    func vector(_ e: FluxWeightLayout.Entry) throws -> Tensor {
        guard let t = try tensor(e) else { throw EngineError("missing weight '\(e.key)'") }
        return t
    }
}
