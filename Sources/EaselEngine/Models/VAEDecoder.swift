import Foundation

/// diffusers' `AutoencoderKL` config, as far as decoding uses it (keys as diffusers writes them).
public struct AutoencoderKLConfig: Codable, Sendable {
    public var latentChannels: Int
    public var outChannels: Int
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var normNumGroups: Int
    public var actFn: String
    public var upBlockTypes: [String]
    public var scalingFactor: Float
    public var shiftFactor: Float?
    public var usePostQuantConv: Bool
    public var midBlockAddAttention: Bool
    /// Encoder side (image-to-image, inpainting).
    public var inChannels: Int = 3
    public var downBlockTypes: [String] = []
    public var useQuantConv: Bool = true

    enum CodingKeys: String, CodingKey {
        case latentChannels = "latent_channels"
        case outChannels = "out_channels"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case normNumGroups = "norm_num_groups"
        case actFn = "act_fn"
        case upBlockTypes = "up_block_types"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
        case usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
        case inChannels = "in_channels", downBlockTypes = "down_block_types", useQuantConv = "use_quant_conv"
    }

    public init(latentChannels: Int, outChannels: Int = 3, blockOutChannels: [Int], layersPerBlock: Int,
                normNumGroups: Int = 32, actFn: String = "silu", upBlockTypes: [String]? = nil,
                scalingFactor: Float = 0.18215, shiftFactor: Float? = nil, usePostQuantConv: Bool = true,
                midBlockAddAttention: Bool = true) {
        self.latentChannels = latentChannels; self.outChannels = outChannels
        self.blockOutChannels = blockOutChannels; self.layersPerBlock = layersPerBlock
        self.normNumGroups = normNumGroups; self.actFn = actFn
        self.upBlockTypes = upBlockTypes ?? Array(repeating: "UpDecoderBlock2D", count: blockOutChannels.count)
        self.scalingFactor = scalingFactor; self.shiftFactor = shiftFactor
        self.usePostQuantConv = usePostQuantConv; self.midBlockAddAttention = midBlockAddAttention
        self.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: blockOutChannels.count)
    }

    /// Missing keys take diffusers' `AutoencoderKL.__init__` defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? 4
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? [64]
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 1
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "silu"
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes) ?? ["UpDecoderBlock2D"]
        scalingFactor = try c.decodeIfPresent(Float.self, forKey: .scalingFactor) ?? 0.18215
        shiftFactor = try c.decodeIfPresent(Float.self, forKey: .shiftFactor)
        usePostQuantConv = try c.decodeIfPresent(Bool.self, forKey: .usePostQuantConv) ?? true
        midBlockAddAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockAddAttention) ?? true
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes) ?? ["DownEncoderBlock2D"]
        useQuantConv = try c.decodeIfPresent(Bool.self, forKey: .useQuantConv) ?? true
    }
}

/// The decoder path of diffusers' `AutoencoderKL`: post_quant_conv (optional) → conv_in → mid block
/// (resnet, single-head self-attention, resnet) → UpDecoderBlock2D × n (reversed block_out_channels,
/// layers_per_block + 1 resnets, nearest-2x + 3×3 conv upsampler on all but the last) → GroupNorm, SiLU, conv_out.
public final class VAEDecoder {
    public let config: AutoencoderKLConfig
    public var scalingFactor: Float { config.scalingFactor }
    /// 0 when the config has none (FluxPipeline then adds nothing).
    public var shiftFactor: Float { config.shiftFactor ?? 0 }
    /// Pixels per latent cell: diffusers' `2 ** (len(block_out_channels) - 1)`.
    public var scaleFactor: Int { 1 << (config.blockOutChannels.count - 1) }

    static let eps: Float = 1e-6

    struct Conv {
        let weight: Tensor, bias: Tensor?
        let padding: Int
        init(_ w: WeightSource, _ name: String, in cin: Int, out cout: Int, kernel: Int, padding: Int? = nil) throws {
            weight = try ComponentWeights.tensor(w, name + ".weight", shape: [cout, cin, kernel, kernel])
            bias = try ComponentWeights.tensor(w, name + ".bias", shape: [cout])
            self.padding = padding ?? kernel / 2
        }
        func callAsFunction(_ x: Tensor, stride: Int = 1) -> Tensor {
            Ops.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
        }
    }

    struct Norm {
        let weight, bias: Tensor
        init(_ w: WeightSource, _ name: String, channels: Int) throws {
            weight = try ComponentWeights.tensor(w, name + ".weight", shape: [channels])
            bias = try ComponentWeights.tensor(w, name + ".bias", shape: [channels])
        }
    }

    struct Resnet {
        let norm1, norm2: Norm
        let conv1, conv2: Conv
        let shortcut: Conv?
        init(_ w: WeightSource, in cin: Int, out cout: Int) throws {
            norm1 = try Norm(w, "norm1", channels: cin)
            conv1 = try Conv(w, "conv1", in: cin, out: cout, kernel: 3)
            norm2 = try Norm(w, "norm2", channels: cout)
            conv2 = try Conv(w, "conv2", in: cout, out: cout, kernel: 3)
            shortcut = cin != cout ? try Conv(w, "conv_shortcut", in: cin, out: cout, kernel: 1) : nil
        }
    }

    struct AttentionBlock {
        let norm: Norm
        let q, k, v, out: Linear
        init(_ w: WeightSource, channels c: Int) throws {
            norm = try Norm(w, "group_norm", channels: c)
            // Checkpoints from before diffusers 0.14 name these query/key/value/proj_attn (diffusers renames on load).
            let legacy = !w.has("to_q.weight") && w.has("query.weight")
            q = try ComponentWeights.linear(w, legacy ? "query" : "to_q", in: c, out: c, bias: true)
            k = try ComponentWeights.linear(w, legacy ? "key" : "to_k", in: c, out: c, bias: true)
            v = try ComponentWeights.linear(w, legacy ? "value" : "to_v", in: c, out: c, bias: true)
            out = try ComponentWeights.linear(w, legacy ? "proj_attn" : "to_out.0", in: c, out: c, bias: true)
        }
    }

    struct UpBlock {
        let resnets: [Resnet]
        let upsampler: Conv?
    }

    let postQuantConv: Conv?
    let convIn: Conv
    let midResnets: [Resnet]
    let midAttention: AttentionBlock?
    let upBlocks: [UpBlock]
    let normOut: Norm
    let convOut: Conv
    let act: (Tensor) -> Tensor

    public convenience init(folder: URL, weights: WeightSource) throws {
        try self.init(config: loadJSONConfig(AutoencoderKLConfig.self, at: folder.appendingPathComponent("config.json")),
                      weights: weights)
    }

    public init(config: AutoencoderKLConfig, weights root: WeightSource) throws {
        self.config = config
        let channels = config.blockOutChannels, groups = config.normNumGroups
        guard let top = channels.last else { throw EngineError("VAE config: block_out_channels is empty") }
        try ComponentWeights.requireSizes("VAE", positive: [("latent_channels", config.latentChannels), ("out_channels", config.outChannels)]
            + channels.map { ("block_out_channels", $0) }, nonNegative: [("layers_per_block", config.layersPerBlock)])
        if let bad = config.upBlockTypes.first(where: { $0 != "UpDecoderBlock2D" }) {
            throw EngineError("VAE config: up_block_types '\(bad)' is not supported (only UpDecoderBlock2D)")
        }
        guard config.upBlockTypes.count == channels.count else {
            throw EngineError("VAE config: up_block_types has \(config.upBlockTypes.count) entries, block_out_channels \(channels.count)")
        }
        guard groups > 0, channels.allSatisfy({ $0 % groups == 0 }) else {
            throw EngineError("VAE config: norm_num_groups \(groups) does not divide block_out_channels \(channels)")
        }
        do { act = try Ops.activation(config.actFn) } catch {
            throw EngineError("VAE config: unsupported act_fn '\(config.actFn)'")
        }
        let lc = config.latentChannels
        postQuantConv = config.usePostQuantConv ? try Conv(root, "post_quant_conv", in: lc, out: lc, kernel: 1) : nil
        let w = root.scoped("decoder")
        convIn = try Conv(w, "conv_in", in: lc, out: top, kernel: 3)
        midResnets = try (0..<2).map { try Resnet(w.scoped("mid_block.resnets.\($0)"), in: top, out: top) }
        midAttention = config.midBlockAddAttention
            ? try AttentionBlock(w.scoped("mid_block.attentions.0"), channels: top) : nil
        var blocks: [UpBlock] = []
        var prev = top
        for (i, out) in channels.reversed().enumerated() {
            let b = w.scoped("up_blocks.\(i)")
            let resnets = try (0...config.layersPerBlock).map { j in
                try Resnet(b.scoped("resnets.\(j)"), in: j == 0 ? prev : out, out: out)
            }
            let isLast = i == channels.count - 1
            blocks.append(UpBlock(resnets: resnets,
                                  upsampler: isLast ? nil : try Conv(b, "upsamplers.0.conv", in: out, out: out, kernel: 3)))
            prev = out
        }
        upBlocks = blocks
        normOut = try Norm(w, "conv_norm_out", channels: channels[0])
        convOut = try Conv(w, "conv_out", in: channels[0], out: config.outChannels, kernel: 3)
    }

    /// Decodes latents [C, h, w] — already `latents / scaling_factor + shift_factor`, as FluxPipeline passes
    /// them to `vae.decode` — into an image [out_channels, h·2^(n−1), w·2^(n−1)] in about [-1, 1].
    public func decode(latents: Tensor) -> Tensor {
        precondition(latents.rank == 3 && latents.shape[0] == config.latentChannels,
                     "VAE: latents \(latents.shape), expected [\(config.latentChannels), h, w]")
        var x = latents
        if let postQuantConv { x = postQuantConv(x) }
        x = convIn(x)
        x = resnet(midResnets[0], x)
        if let midAttention { x = attention(midAttention, x) }
        x = resnet(midResnets[1], x)
        for block in upBlocks {
            for r in block.resnets { x = resnet(r, x) }
            if let up = block.upsampler { x = up(Ops.upsampleNearest2x(x)) }
        }
        x = act(groupNorm(normOut, x))
        return convOut(x)
    }

    var blocks: VAEBlocks { VAEBlocks(groups: config.normNumGroups, act: act) }
    func groupNorm(_ n: Norm, _ x: Tensor) -> Tensor { blocks.groupNorm(n, x) }
    func resnet(_ r: Resnet, _ x: Tensor) -> Tensor { blocks.resnet(r, x) }
    func attention(_ a: AttentionBlock, _ x: Tensor, scoreBudget: Int = 1 << 24) -> Tensor {
        blocks.attention(a, x, scoreBudget: scoreBudget)
    }
}
