import XCTest
@testable import EaselEngine

/// Opt-in timing probe (EASEL_PERF=1, meant for a release build): FLUX-shaped VAE decoder and a
/// T5-XXL-shaped block with random weights, reporting achieved GFLOP/s of the whole forward.
final class ComponentPerfProbe: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["EASEL_PERF"] == "1", "set EASEL_PERF=1 to run")
    }

    /// Random weights for every key `build` asks for, shaped as it expects (read off the shape errors).
    final class RandomWeights: WeightSource {
        var cache: [String: Tensor] = [:]
        let shapes: [String: [Int]]
        init(_ shapes: [String: [Int]]) { self.shapes = shapes }
        func tensor(_ name: String) throws -> Tensor {
            if let t = cache[name] { return t }
            guard let s = shapes[name] else { throw EngineError("missing weight '\(name)'") }
            let n = s.reduce(1, *), fan = max(1, n / s[0])
            let sd = s.count >= 2 ? 1 / Float(fan).squareRoot() : 0.1
            let offset: Float = s.count == 1 && name.hasSuffix("weight") ? 1 : 0
            var state = UInt64(truncatingIfNeeded: name.hashValue) | 1   // xorshift: fast, good enough for timing
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

    func vaeShapes(_ c: AutoencoderKLConfig) -> [String: [Int]] {
        var s: [String: [Int]] = [:]
        func conv(_ n: String, _ i: Int, _ o: Int, _ k: Int) { s[n + ".weight"] = [o, i, k, k]; s[n + ".bias"] = [o] }
        func norm(_ n: String, _ ch: Int) { s[n + ".weight"] = [ch]; s[n + ".bias"] = [ch] }
        func lin(_ n: String, _ ch: Int) { s[n + ".weight"] = [ch, ch]; s[n + ".bias"] = [ch] }
        func res(_ p: String, _ i: Int, _ o: Int) {
            norm(p + ".norm1", i); conv(p + ".conv1", i, o, 3); norm(p + ".norm2", o); conv(p + ".conv2", o, o, 3)
            if i != o { conv(p + ".conv_shortcut", i, o, 1) }
        }
        let ch = c.blockOutChannels, top = ch.last!
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

    func test_perf_fluxVAE_decode() throws {
        let c = AutoencoderKLConfig(latentChannels: 16, blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2,
                                    normNumGroups: 32, scalingFactor: 0.3611, shiftFactor: 0.1159, usePostQuantConv: false)
        let vae = try VAEDecoder(config: c, weights: RandomWeights(vaeShapes(c)))
        let side = Int(ProcessInfo.processInfo.environment["EASEL_PERF_LATENT"] ?? "16")!
        let lat = Tensor(shape: [16, side, side], data: (0..<(16 * side * side)).map { _ in Float.random(in: -1...1) })
        let t0 = Date()
        let img = vae.decode(latents: lat)
        let dt = Date().timeIntervalSince(t0)
        print("[perf] FLUX VAE decode \(side)x\(side) → \(img.shape): \(String(format: "%.2f", dt)) s")
    }

    func test_perf_t5xxlBlock() throws {
        let d = 4096, heads = 64, dkv = 64, ff = 10240, s = 128
        let c = T5Config(vocabSize: 512, dModel: d, dKv: dkv, dFf: ff, numLayers: 1, numHeads: heads, feedForwardProj: "gated-gelu")
        var sh: [String: [Int]] = ["shared.weight": [512, d], "encoder.final_layer_norm.weight": [d],
                                   "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": [32, heads],
                                   "encoder.block.0.layer.0.layer_norm.weight": [d], "encoder.block.0.layer.1.layer_norm.weight": [d]]
        for n in ["q", "k", "v"] { sh["encoder.block.0.layer.0.SelfAttention.\(n).weight"] = [heads * dkv, d] }
        sh["encoder.block.0.layer.0.SelfAttention.o.weight"] = [d, heads * dkv]
        sh["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"] = [ff, d]
        sh["encoder.block.0.layer.1.DenseReluDense.wi_1.weight"] = [ff, d]
        sh["encoder.block.0.layer.1.DenseReluDense.wo.weight"] = [d, ff]
        let t5 = try T5Encoder(config: c, weights: RandomWeights(sh))
        let ids = (0..<s).map { $0 % 512 }
        let t0 = Date()
        _ = t5.encode(ids: ids)
        let dt = Date().timeIntervalSince(t0)
        let flops = 2.0 * Double(s) * Double(d) * Double(4 * heads * dkv + 3 * ff) + 4.0 * Double(s * s * heads * dkv)
        print("[perf] T5-XXL block, \(s) tokens: \(String(format: "%.3f", dt)) s, \(String(format: "%.1f", flops / dt / 1e9)) GFLOP/s")
    }
}
