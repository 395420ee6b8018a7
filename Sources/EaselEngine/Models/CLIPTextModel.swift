import Foundation

/// transformers' `CLIPTextConfig`, read from a text encoder's `config.json` (keys as HF writes them).
/// Behavioural keys missing from the file take transformers' defaults.
public struct CLIPTextConfig: Codable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    /// `nil` when the file has `null` or a list (transformers' pooling can't use either).
    public var eosTokenId: Int?
    public var bosTokenId: Int?
    public var padTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case eosTokenId = "eos_token_id"
        case bosTokenId = "bos_token_id"
        case padTokenId = "pad_token_id"
    }

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, maxPositionEmbeddings: Int = 77, hiddenAct: String = "quick_gelu",
                layerNormEps: Float = 1e-5, eosTokenId: Int? = 49407, bosTokenId: Int? = 49406, padTokenId: Int? = 1) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps; self.eosTokenId = eosTokenId
        self.bosTokenId = bosTokenId; self.padTokenId = padTokenId
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 77
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5
        // transformers' default applies only when the key is absent; null or a list stays unusable.
        eosTokenId = c.contains(.eosTokenId) ? (try? c.decode(Int.self, forKey: .eosTokenId)) : 49407
        bosTokenId = c.contains(.bosTokenId) ? (try? c.decode(Int.self, forKey: .bosTokenId)) : 49406
        padTokenId = c.contains(.padTokenId) ? (try? c.decode(Int.self, forKey: .padTokenId)) : 1
    }
}

/// transformers' `CLIPTextModel` (the text tower FLUX uses for its pooled prompt embedding).
/// Pre-LN transformer with learned absolute positions and a causal mask; no attention mask (FluxPipeline passes none).
public final class CLIPTextModel {
    public let config: CLIPTextConfig

    struct Layer {
        let norm1Weight, norm1Bias, norm2Weight, norm2Bias: Tensor
        let q, k, v, out, fc1, fc2: Linear
    }

    let tokenEmbedding: Tensor      // [vocab, D]
    let positionEmbedding: Tensor   // [maxPos, D]
    let layers: [Layer]
    let finalNormWeight, finalNormBias: Tensor
    let act: (Tensor) -> Tensor

    /// Reads `config.json` from `folder`; `weights` holds the checkpoint (keys with or without `text_model.`).
    public convenience init(folder: URL, weights: WeightSource) throws {
        try self.init(config: loadJSONConfig(CLIPTextConfig.self, at: folder.appendingPathComponent("config.json")),
                      weights: weights)
    }

    public init(config: CLIPTextConfig, weights root: WeightSource) throws {
        self.config = config
        let d = config.hiddenSize, ff = config.intermediateSize
        try ComponentWeights.requireSizes("CLIP", positive: [
            ("vocab_size", config.vocabSize), ("hidden_size", d), ("intermediate_size", ff),
            ("max_position_embeddings", config.maxPositionEmbeddings)], nonNegative: [("num_hidden_layers", config.numHiddenLayers)])
        guard config.numAttentionHeads > 0, d % config.numAttentionHeads == 0 else {
            throw EngineError("CLIP config: hidden_size \(d) is not divisible by num_attention_heads \(config.numAttentionHeads)")
        }
        do { act = try Ops.activation(config.hiddenAct) } catch {
            throw EngineError("CLIP config: unsupported hidden_act '\(config.hiddenAct)'")
        }
        guard config.eosTokenId != nil else {
            throw EngineError("CLIP config: eos_token_id must be a single integer (the pooled output needs it)")
        }
        // transformers 4 checkpoints (FLUX's text_encoder) nest everything under `text_model.`; transformers 5 doesn't.
        let w = root.has("text_model.embeddings.token_embedding.weight") ? root.scoped("text_model") : root
        tokenEmbedding = try ComponentWeights.tensor(w, "embeddings.token_embedding.weight", shape: [config.vocabSize, d])
        positionEmbedding = try ComponentWeights.tensor(w, "embeddings.position_embedding.weight",
                                                        shape: [config.maxPositionEmbeddings, d])
        layers = try (0..<config.numHiddenLayers).map { i in
            let l = w.scoped("encoder.layers.\(i)")
            return Layer(
                norm1Weight: try ComponentWeights.tensor(l, "layer_norm1.weight", shape: [d]),
                norm1Bias: try ComponentWeights.tensor(l, "layer_norm1.bias", shape: [d]),
                norm2Weight: try ComponentWeights.tensor(l, "layer_norm2.weight", shape: [d]),
                norm2Bias: try ComponentWeights.tensor(l, "layer_norm2.bias", shape: [d]),
                q: try ComponentWeights.linear(l, "self_attn.q_proj", in: d, out: d, bias: true, module: "encoder.layers.\(i).self_attn.q_proj"),
                k: try ComponentWeights.linear(l, "self_attn.k_proj", in: d, out: d, bias: true, module: "encoder.layers.\(i).self_attn.k_proj"),
                v: try ComponentWeights.linear(l, "self_attn.v_proj", in: d, out: d, bias: true, module: "encoder.layers.\(i).self_attn.v_proj"),
                out: try ComponentWeights.linear(l, "self_attn.out_proj", in: d, out: d, bias: true, module: "encoder.layers.\(i).self_attn.out_proj"),
                fc1: try ComponentWeights.linear(l, "mlp.fc1", in: d, out: ff, bias: true, module: "encoder.layers.\(i).mlp.fc1"),
                fc2: try ComponentWeights.linear(l, "mlp.fc2", in: ff, out: d, bias: true, module: "encoder.layers.\(i).mlp.fc2"))
        }
        finalNormWeight = try ComponentWeights.tensor(w, "final_layer_norm.weight", shape: [d])
        finalNormBias = try ComponentWeights.tensor(w, "final_layer_norm.bias", shape: [d])
    }

    /// Encodes one sequence of token ids (at most `max_position_embeddings`).
    /// Returns the final-layer-normed hidden states [S, D] and the pooled (EOS) row [D], chosen exactly as
    /// transformers does: `eos_token_id == 2` (legacy configs) → the first position of the largest id;
    /// otherwise the first position whose id is `eos_token_id` (position 0 when there is none).
    /// `lora`: text-encoder LoRA updates to apply beside the weights (modules "encoder.layers.N.self_attn.q_proj", …).
    public func encode(ids: [Int], lora: LoRAStack? = nil) -> (lastHidden: Tensor, pooled: Tensor) {
        let s = ids.count, eps = config.layerNormEps
        precondition(s > 0 && s <= config.maxPositionEmbeddings,
                     "CLIP: \(s) tokens, the model takes 1...\(config.maxPositionEmbeddings)")
        var x = Ops.add(Ops.embedding(tokenEmbedding, ids), Ops.rows(positionEmbedding, 0, s))
        for l in layers {
            let h = Ops.layerNorm(x, weight: l.norm1Weight, bias: l.norm1Bias, eps: eps)
            func lin(_ f: Linear, _ t: Tensor) -> Tensor { f(t, rowsPerItem: s, loras: [lora], .textEncoder) }
            let a = Ops.attention(q: lin(l.q, h), k: lin(l.k, h), v: lin(l.v, h), heads: config.numAttentionHeads, causal: true)
            x = Ops.add(x, lin(l.out, a))
            let m = Ops.layerNorm(x, weight: l.norm2Weight, bias: l.norm2Bias, eps: eps)
            x = Ops.add(x, lin(l.fc2, act(lin(l.fc1, m))))
        }
        let last = Ops.layerNorm(x, weight: finalNormWeight, bias: finalNormBias, eps: eps)
        let pooled = Ops.rows(last, pooledIndex(ids), 1).reshaped([config.hiddenSize])
        return (last, pooled)
    }

    /// The row transformers' `CLIPTextModel` pools (see `encode`).
    public func pooledIndex(_ ids: [Int]) -> Int {
        let eos = config.eosTokenId
        precondition(eos != nil, "CLIP config: eos_token_id must be a single integer to pool")
        if eos == 2 {
            // torch.argmax returns the first maximal index.
            var best = 0
            for (i, id) in ids.enumerated() where id > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: eos!) ?? 0
    }
}
