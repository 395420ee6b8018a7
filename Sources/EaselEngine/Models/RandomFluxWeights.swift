import Foundation

/// Random weights for a FluxTransformer2DModel of any configuration, under diffusers' checkpoint names: for parity
/// checks between backends and for timing a transformer step at FLUX.1's real dimensions without a download.
///
/// Values are uniform with the spread of a default-initialised Linear (±1/√in), biases ±0.1, RMSNorm weights
/// 1 ± 0.2, from a seeded generator, so a given (config, seed) always gives the same model. With
/// `distinctBlocks` = n, block i reads the values of block i mod n (FLUX.1 has 19 + 38 blocks, ~12 B parameters:
/// one distinct block of each kind keeps host generation to ~0.5 B values; the device still holds every block).
public final class RandomFluxWeights: WeightSource {
    public let config: FluxTransformerConfig
    let seed: UInt64
    let distinctBlocks: Int?
    private var shapes: [String: (shape: [Int], kind: Kind)] = [:]
    private var cache: [String: Tensor] = [:]
    enum Kind { case weight(fanIn: Int), bias, norm }

    /// Every tensor of `FluxWeightLayout(config:)`, optional biases included.
    public init(config c: FluxTransformerConfig, seed: UInt64 = 0, distinctBlocks: Int? = nil) {
        config = c
        self.seed = seed
        self.distinctBlocks = distinctBlocks
        for e in FluxWeightLayout(config: c).entries {
            let kind: Kind
            switch e.role {
            case .linearWeight: kind = .weight(fanIn: e.shape[1])  // [out, in]
            case .linearBias: kind = .bias
            case .norm: kind = .norm
            }
            shapes[e.key] = (e.shape, kind)
        }
    }

    /// FLUX.1-schnell's transformer dimensions (FLUX.1-dev: the same with guidance embeddings).
    public static var flux1: FluxTransformerConfig {
        var c = FluxTransformerConfig()
        c.inChannels = 64; c.numLayers = 19; c.numSingleLayers = 38; c.attentionHeadDim = 128; c.numAttentionHeads = 24
        c.jointAttentionDim = 4096; c.pooledProjectionDim = 768; c.axesDimsRope = [16, 56, 56]
        return c
    }

    public var names: [String] { shapes.keys.sorted() }
    public var parameterCount: Int { shapes.values.reduce(0) { $0 + $1.shape.reduce(1, *) } }
    public func has(_ name: String) -> Bool { shapes[name] != nil }

    /// The name whose values `name` shares (block i → block i mod distinctBlocks).
    func canonical(_ name: String) -> String {
        guard let n = distinctBlocks, n > 0 else { return name }
        let prefixes = FluxWeightLayout.blockPrefixes
        for prefix in [prefixes.double, prefixes.single] where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]) else { return name }
            return prefix + "\(i % n)" + rest[dot...]
        }
        return name
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let (shape, kind) = shapes[name] else { throw EngineError("missing weight '\(name)'") }
        let key = canonical(name)
        if let t = cache[key] { return t }
        // splitmix64 seeded by (seed, name): independent of the order tensors are asked for.
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        for b in key.utf8 { state = (state ^ UInt64(b)) &* 0x100_0000_01B3 }
        let (lo, hi): (Float, Float)
        switch kind {
        case .weight(let fanIn): let a = 1 / Float(fanIn).squareRoot(); (lo, hi) = (-a, a)
        case .bias: (lo, hi) = (-0.1, 0.1)
        case .norm: (lo, hi) = (0.8, 1.2)
        }
        let count = shape.reduce(1, *)
        var data = [Float](repeating: 0, count: count)
        data.withUnsafeMutableBufferPointer { p in
            for i in 0..<count {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                p[i] = lo + (hi - lo) * Float(z >> 40) * (1 / 16_777_216)
            }
        }
        let t = Tensor(shape: shape, data: data)
        if distinctBlocks != nil { cache[key] = t }
        return t
    }

    /// Inputs for one transformer call on `count` images of `latentHeight` x `latentWidth` latents (before the 2x2
    /// packing) with `textTokens` text rows: seeded noise latents, text states and pooled embeddings, FLUX's ids,
    /// timesteps spread over (0, 1).
    public static func inputs(_ c: FluxTransformerConfig, count: Int, textTokens: Int, latentHeight: Int, latentWidth: Int,
                              seed: UInt64) -> [FluxTransformerInput] {
        let ids = LatentPacking.imageIds(latentHeight: latentHeight, latentWidth: latentWidth)
        let s = (latentHeight / 2) * (latentWidth / 2)
        return (0..<count).map { i in
            let k = seed &+ UInt64(i) &* 3
            return FluxTransformerInput(
                hiddenStates: GaussianNoise.tensor(shape: [s, c.inChannels], seed: k),
                encoderHiddenStates: GaussianNoise.tensor(shape: [textTokens, c.jointAttentionDim], seed: k &+ 1),
                pooledProjections: GaussianNoise.tensor(shape: [c.pooledProjectionDim], seed: k &+ 2),
                timestep: 0.2 + 0.6 * Float(i % 4) / 3, guidance: c.guidanceEmbeds ? 3.5 : nil,
                imgIds: ids, txtIds: Tensor(zeros: [textTokens, 3]))
        }
    }
}
