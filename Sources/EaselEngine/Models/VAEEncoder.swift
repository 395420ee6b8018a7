import Foundation

/// The encoder path of diffusers' `AutoencoderKL`, for image-to-image and inpainting: conv_in → DownEncoderBlock2D × n
/// (layers_per_block resnets; all but the last end in a stride-2 3×3 conv after padding one zero row and column at the
/// bottom and right) → mid block (resnet, attention, resnet) → GroupNorm, SiLU, conv_out to 2·latent_channels
/// (mean and log-variance) → quant_conv (optional). `encode` returns the distribution's mode, its mean, so an edit
/// depends only on the seed's noise, never on a second random draw.
public final class VAEEncoder {
    public let config: AutoencoderKLConfig
    typealias Conv = VAEDecoder.Conv
    typealias Norm = VAEDecoder.Norm
    typealias Resnet = VAEDecoder.Resnet

    struct DownBlock { let resnets: [Resnet]; let downsampler: Conv? }

    let convIn: Conv
    let downBlocks: [DownBlock]
    let midResnets: [Resnet]
    let midAttention: VAEDecoder.AttentionBlock?
    let normOut: Norm
    let convOut: Conv
    let quantConv: Conv?
    let act: (Tensor) -> Tensor

    /// Pixels per latent cell, as the decoder's.
    public var scaleFactor: Int { 1 << (config.blockOutChannels.count - 1) }

    public init(config: AutoencoderKLConfig, weights root: WeightSource) throws {
        self.config = config
        let channels = config.blockOutChannels, groups = config.normNumGroups
        guard let top = channels.last else { throw EngineError("VAE config: block_out_channels is empty") }
        try ComponentWeights.requireSizes("VAE", positive: [("in_channels", config.inChannels), ("latent_channels", config.latentChannels)])
        if let bad = config.downBlockTypes.first(where: { $0 != "DownEncoderBlock2D" }) {
            throw EngineError("VAE config: down_block_types '\(bad)' is not supported (only DownEncoderBlock2D)")
        }
        guard config.downBlockTypes.count == channels.count else {
            throw EngineError("VAE config: down_block_types has \(config.downBlockTypes.count) entries, block_out_channels \(channels.count)")
        }
        guard groups > 0, channels.allSatisfy({ $0 % groups == 0 }) else {
            throw EngineError("VAE config: norm_num_groups \(groups) does not divide block_out_channels \(channels)")
        }
        do { act = try Ops.activation(config.actFn) } catch { throw EngineError("VAE config: unsupported act_fn '\(config.actFn)'") }
        let w = root.scoped("encoder"), lc = config.latentChannels
        convIn = try Conv(w, "conv_in", in: config.inChannels, out: channels[0], kernel: 3)
        var blocks: [DownBlock] = []
        var prev = channels[0]
        for (i, out) in channels.enumerated() {
            let b = w.scoped("down_blocks.\(i)")
            let resnets = try (0..<config.layersPerBlock).map { j in
                try Resnet(b.scoped("resnets.\(j)"), in: j == 0 ? prev : out, out: out)
            }
            let isLast = i == channels.count - 1
            blocks.append(DownBlock(resnets: resnets,
                                    downsampler: isLast ? nil : try Conv(b, "downsamplers.0.conv", in: out, out: out, kernel: 3, padding: 0)))
            prev = out
        }
        downBlocks = blocks
        midResnets = try (0..<2).map { try Resnet(w.scoped("mid_block.resnets.\($0)"), in: top, out: top) }
        midAttention = config.midBlockAddAttention ? try VAEDecoder.AttentionBlock(w.scoped("mid_block.attentions.0"), channels: top) : nil
        normOut = try Norm(w, "conv_norm_out", channels: top)
        convOut = try Conv(w, "conv_out", in: top, out: 2 * lc, kernel: 3)
        quantConv = config.useQuantConv ? try Conv(root, "quant_conv", in: 2 * lc, out: 2 * lc, kernel: 1) : nil
    }

    /// An image [in_channels, H, W] in [-1, 1] (H and W multiples of the scale factor) → the latent mean
    /// [latent_channels, H/f, W/f], before FluxPipeline's shift and scaling.
    public func encode(_ image: Tensor) -> Tensor {
        precondition(image.rank == 3 && image.shape[0] == config.inChannels, "VAE encoder: image \(image.shape)")
        let helper = VAEBlocks(groups: config.normNumGroups, act: act)
        var x = convIn(image)
        for block in downBlocks {
            for r in block.resnets { x = helper.resnet(r, x) }
            if let down = block.downsampler { x = down(Ops.padBottomRight(x), stride: 2) }
        }
        x = helper.resnet(midResnets[0], x)
        if let midAttention { x = helper.attention(midAttention, x) }
        x = helper.resnet(midResnets[1], x)
        x = convOut(act(helper.groupNorm(normOut, x)))
        if let quantConv { x = quantConv(x) }
        // Moments [2C, h, w]: the mean is the first C channels.
        let c = config.latentChannels, hw = x.count / x.shape[0]
        return Tensor(shape: [c, x.shape[1], x.shape[2]], data: Array(x.data[0..<(c * hw)]))
    }
}

/// The resnet, attention and GroupNorm steps the VAE's encoder and decoder share.
struct VAEBlocks {
    let groups: Int
    let act: (Tensor) -> Tensor

    func groupNorm(_ n: VAEDecoder.Norm, _ x: Tensor) -> Tensor {
        Ops.groupNorm(x, groups: groups, weight: n.weight, bias: n.bias, eps: VAEDecoder.eps)
    }

    func resnet(_ r: VAEDecoder.Resnet, _ x: Tensor) -> Tensor {
        var h = r.conv1(act(groupNorm(r.norm1, x)))
        h = r.conv2(act(groupNorm(r.norm2, h)))
        return Ops.add(r.shortcut.map { $0(x) } ?? x, h)
    }

    /// Single-head self-attention over the H·W positions, with residual (diffusers' Attention with
    /// heads = 1 in AutoencoderKL). Queries go in row chunks so the score matrix stays bounded at large sizes;
    /// each row's softmax is independent, so this is exact.
    func attention(_ a: VAEDecoder.AttentionBlock, _ x: Tensor, scoreBudget: Int = 1 << 24) -> Tensor {
        let c = x.shape[0], hw = x.count / c
        let tokens = Ops.transpose(groupNorm(a.norm, x).reshaped([c, hw]))   // [HW, C]
        let q = a.q(tokens), k = a.k(tokens), v = a.v(tokens)
        let chunk = max(1, min(hw, scoreBudget / max(hw, 1)))
        var attended: Tensor
        if chunk >= hw {
            attended = Ops.attention(q: q, k: k, v: v, heads: 1)
        } else {
            var data = [Float](); data.reserveCapacity(hw * c)
            for start in stride(from: 0, to: hw, by: chunk) {
                let part = Ops.attention(q: Ops.rows(q, start, min(chunk, hw - start)), k: k, v: v, heads: 1)
                data.append(contentsOf: part.data)
            }
            attended = Tensor(shape: [hw, c], data: data)
        }
        attended = a.out(attended)
        return Ops.add(x, Ops.transpose(attended).reshaped(x.shape))
    }
}

extension Ops {
    /// [C, H, W] → [C, H+1, W+1] with a zero row at the bottom and a zero column at the right (diffusers'
    /// Downsample2D pads (0, 1, 0, 1) before its stride-2 convolution).
    static func padBottomRight(_ x: Tensor) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        var out = [Float](repeating: 0, count: c * (h + 1) * (w + 1))
        x.data.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                for ch in 0..<c {
                    for y in 0..<h {
                        let src = xp.baseAddress! + (ch * h + y) * w
                        (op.baseAddress! + (ch * (h + 1) + y) * (w + 1)).update(from: src, count: w)
                    }
                }
            }
        }
        return Tensor(shape: [c, h + 1, w + 1], data: out)
    }
}
