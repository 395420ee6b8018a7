import ArgumentParser
import EaselEngine
import Foundation

/// Times the CPU backend's two heaviest fixed costs at real sizes, with random weights: FLUX.1's VAE decoder and one
/// T5-XXL encoder block. (Was an opt-in test that only printed; a benchmark belongs here, not in `swift test`.)
struct BenchComponents: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-components",
        abstract: "Time FLUX.1's VAE decode and one T5-XXL block on the CPU with random weights (GFLOP/s).")

    @Option(help: "Latent side of the VAE decode (16 → a 128x128 image; FLUX.1 at 1024x1024 is 128).") var latent = 16
    @Option(help: "T5 tokens (FLUX.1-schnell: 256, dev: 512).") var t5Tokens = 128
    @Option(help: "Timed runs of each; the best is reported.") var `repeat` = 3
    @Option(help: "CPU threads for matrix products (default: all cores).") var threads: Int?

    func run() throws {
        Engine.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        guard latent > 0, t5Tokens > 0, `repeat` > 0 else { throw ValidationError("sizes and --repeat must be positive") }
        func best(_ body: () -> Void) -> Double {
            (0..<`repeat`).map { _ in
                let t0 = Date()
                body()
                return Date().timeIntervalSince(t0)
            }.min()!
        }

        let vaeConfig = AutoencoderKLConfig(latentChannels: 16, blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2,
                                            normNumGroups: 32, scalingFactor: 0.3611, shiftFactor: 0.1159,
                                            usePostQuantConv: false)
        let vae = try VAEDecoder(config: vaeConfig, weights: RandomComponentWeights(Self.vaeShapes(vaeConfig)))
        let latents = Tensor(shape: [16, latent, latent], data: (0..<(16 * latent * latent)).map { _ in Float.random(in: -1...1) })
        var shape: [Int] = []
        let vaeSeconds = best { shape = vae.decode(latents: latents).shape }
        print(String(format: "FLUX.1 VAE decode, latents 16x%dx%d -> %@: %.3f s", latent, latent, "\(shape)", vaeSeconds))

        let d = 4096, heads = 64, dkv = 64, ff = 10240
        let t5Config = T5Config(vocabSize: 512, dModel: d, dKv: dkv, dFf: ff, numLayers: 1, numHeads: heads,
                                feedForwardProj: "gated-gelu")
        let t5 = try T5Encoder(config: t5Config, weights: RandomComponentWeights(Self.t5BlockShapes(d: d, heads: heads, dkv: dkv, ff: ff)))
        let ids = (0..<t5Tokens).map { $0 % 512 }
        let t5Seconds = best { _ = t5.encode(ids: ids) }
        let s = Double(t5Tokens)
        let flops = 2 * s * Double(d) * Double(4 * heads * dkv + 3 * ff) + 4 * s * s * Double(heads * dkv)
        print(String(format: "T5-XXL block, %d tokens: %.3f s, %.1f GFLOP/s", t5Tokens, t5Seconds, flops / t5Seconds / 1e9))
        print(String(format: "RESULT bench-components vae_s=%.4f t5_block_s=%.4f t5_gflops=%.1f", vaeSeconds, t5Seconds,
                     flops / t5Seconds / 1e9))
    }

    static func vaeShapes(_ c: AutoencoderKLConfig) -> [String: [Int]] {
        var s: [String: [Int]] = [:]
        func conv(_ n: String, _ i: Int, _ o: Int, _ k: Int) { s[n + ".weight"] = [o, i, k, k]; s[n + ".bias"] = [o] }
        func norm(_ n: String, _ ch: Int) { s[n + ".weight"] = [ch]; s[n + ".bias"] = [ch] }
        func lin(_ n: String, _ ch: Int) { s[n + ".weight"] = [ch, ch]; s[n + ".bias"] = [ch] }
        func res(_ p: String, _ i: Int, _ o: Int) {
            norm(p + ".norm1", i); conv(p + ".conv1", i, o, 3); norm(p + ".norm2", o); conv(p + ".conv2", o, o, 3)
            if i != o { conv(p + ".conv_shortcut", i, o, 1) }
        }
        let ch = c.blockOutChannels, top = ch[ch.count - 1]
        conv("decoder.conv_in", c.latentChannels, top, 3)
        res("decoder.mid_block.resnets.0", top, top); res("decoder.mid_block.resnets.1", top, top)
        norm("decoder.mid_block.attentions.0.group_norm", top)
        for n in ["to_q", "to_k", "to_v", "to_out.0"] { lin("decoder.mid_block.attentions.0." + n, top) }
        var prev = top
        for (i, o) in ch.reversed().enumerated() {
            for j in 0...c.layersPerBlock { res("decoder.up_blocks.\(i).resnets.\(j)", j == 0 ? prev : o, o) }
            if i < ch.count - 1 { conv("decoder.up_blocks.\(i).upsamplers.0.conv", o, o, 3) }
            prev = o
        }
        norm("decoder.conv_norm_out", ch[0]); conv("decoder.conv_out", ch[0], 3, 3)
        return s
    }

    static func t5BlockShapes(d: Int, heads: Int, dkv: Int, ff: Int) -> [String: [Int]] {
        let a = "encoder.block.0.layer.0.", f = "encoder.block.0.layer.1."
        var s: [String: [Int]] = ["shared.weight": [512, d], "encoder.final_layer_norm.weight": [d],
                                  a + "SelfAttention.relative_attention_bias.weight": [32, heads],
                                  a + "layer_norm.weight": [d], f + "layer_norm.weight": [d]]
        for n in ["q", "k", "v"] { s[a + "SelfAttention.\(n).weight"] = [heads * dkv, d] }
        s[a + "SelfAttention.o.weight"] = [d, heads * dkv]
        s[f + "DenseReluDense.wi_0.weight"] = [ff, d]
        s[f + "DenseReluDense.wi_1.weight"] = [ff, d]
        s[f + "DenseReluDense.wo.weight"] = [d, ff]
        return s
    }
}

/// Random weights of the given shapes (scaled by 1/sqrt(fan-in), norms near 1), generated on first read.
final class RandomComponentWeights: WeightSource {
    private var cache: [String: Tensor] = [:]
    private let shapes: [String: [Int]]
    init(_ shapes: [String: [Int]]) { self.shapes = shapes }

    func tensor(_ name: String) throws -> Tensor {
        if let t = cache[name] { return t }
        guard let s = shapes[name] else { throw EngineError("missing weight '\(name)'") }
        let n = s.reduce(1, *), fan = max(1, n / s[0])
        let sd = s.count >= 2 ? 1 / Float(fan).squareRoot() : 0.1
        let offset: Float = s.count == 1 && name.hasSuffix("weight") ? 1 : 0
        var state = UInt64(truncatingIfNeeded: name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }) | 1  // xorshift
        var data = [Float](repeating: 0, count: n)
        for i in 0..<n {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            data[i] = (Float(state >> 40) / Float(1 << 24) * 2 - 1) * sd + offset
        }
        let t = Tensor(shape: s, data: data)
        cache[name] = t
        return t
    }

    func has(_ name: String) -> Bool { shapes[name] != nil }
}
