import XCTest
@testable import EaselEngine

/// AutoencoderKL decoder against diffusers references from Tools/fixtures/make_component_refs.py.
final class VAETests: XCTestCase {
    func vaeCase(_ name: String, scaling: Float, shift: Float, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try componentFixture(name)
        let vae = try VAEDecoder(folder: dir, weights: FixtureTensors.weights(
            dir.appendingPathComponent("diffusion_pytorch_model.safetensors")))
        XCTAssertEqual(vae.scalingFactor, scaling, file: file, line: line)
        XCTAssertEqual(vae.shiftFactor, shift, file: file, line: line)
        let io = try FixtureTensors.load(dir.appendingPathComponent("io.safetensors"))
        let out = vae.decode(latents: io["latents"]!)
        XCTAssertEqual(out.shape, io["sample"]!.shape, file: file, line: line)
        let e = relativeError(out, io["sample"]!)
        print("[\(name)] sample rel err \(e)")
        XCTAssertLessThanOrEqual(e, 1e-4, file: file, line: line)
    }

    /// post_quant_conv, 3 up blocks, non-square 3×5 latents.
    func test_vae_postQuantConv_3blocks() throws { try vaeCase("vae_postquant_3blocks", scaling: 0.5, shift: 0.25) }

    /// FLUX-like: 16 latent channels, no post_quant_conv, 3 resnets per up block (one with conv_shortcut).
    func test_vae_fluxLike_noPostQuantConv() throws {
        try vaeCase("vae_flux_like_2blocks", scaling: 0.3611, shift: 0.1159)
    }

    /// mid_block_add_attention false; shift_factor null.
    func test_vae_noMidAttention_nullShift() throws { try vaeCase("vae_noattn_2blocks", scaling: 0.18215, shift: 0) }

    /// Pre-0.14 attention key names (query/key/value/proj_attn) load to the same model.
    func test_vae_legacyAttentionNames() throws {
        let dir = try componentFixture("vae_postquant_3blocks")
        var t = try FixtureTensors.load(dir.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        let prefix = "decoder.mid_block.attentions.0."
        for (new, old) in [("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")] {
            for p in ["weight", "bias"] { t[prefix + old + "." + p] = t.removeValue(forKey: prefix + new + "." + p) }
        }
        let vae = try VAEDecoder(folder: dir, weights: DictionaryWeights(t))
        let io = try FixtureTensors.load(dir.appendingPathComponent("io.safetensors"))
        XCTAssertLessThanOrEqual(relativeError(vae.decode(latents: io["latents"]!), io["sample"]!), 1e-4)
    }

    func test_vae_rejectsOtherUpBlockTypes() throws {
        let c = AutoencoderKLConfig(latentChannels: 4, blockOutChannels: [8], layersPerBlock: 1, normNumGroups: 8,
                                    upBlockTypes: ["UpBlock2D"])
        XCTAssertThrowsError(try VAEDecoder(config: c, weights: DictionaryWeights([:]))) {
            XCTAssertTrue("\($0)".contains("up_block_types"), "\($0)")
        }
    }

    func test_vae_chunkedAttention_matchesOneShot() throws {
        let dir = try componentFixture("vae_postquant_3blocks")
        let vae = try VAEDecoder(folder: dir, weights: FixtureTensors.weights(
            dir.appendingPathComponent("diffusion_pytorch_model.safetensors")))
        var g = SystemRandomNumberGenerator()
        let x = Tensor(shape: [16, 5, 6], data: (0..<480).map { _ in Float.random(in: -1...1, using: &g) })
        let whole = vae.attention(vae.midAttention!, x)
        let chunked = vae.attention(vae.midAttention!, x, scoreBudget: 30 * 7)  // 7-row query chunks
        XCTAssertLessThan(relativeError(chunked, whole), 1e-6)
    }

    /// Banded im2col (and strides) must equal a direct convolution.
    func test_conv2d_banded_matchesDirect() {
        var g = SystemRandomNumberGenerator()
        let x = Tensor(shape: [2, 5, 7], data: (0..<70).map { _ in Float.random(in: -1...1, using: &g) })
        let w = Tensor(shape: [3, 2, 3, 3], data: (0..<54).map { _ in Float.random(in: -1...1, using: &g) })
        let y = Ops.conv2d(x, weight: w, bias: nil, padding: 1)
        let banded = Ops.conv2d(x, weight: w, bias: Tensor(shape: [3], data: [0, 0, 0]), padding: 1, columnBudget: 18 * 7 * 2)
        XCTAssertLessThan(relativeError(banded, y), 1e-6)
        let strided = Ops.conv2d(x, weight: w, bias: nil, stride: 2, padding: 1, columnBudget: 1)
        XCTAssertEqual(strided.shape, [3, 3, 4])
        for o in 0..<3 { for oy in 0..<3 { for ox in 0..<4 {
            XCTAssertEqual(strided.data[(o * 3 + oy) * 4 + ox], y.data[(o * 5 + 2 * oy) * 7 + 2 * ox], accuracy: 1e-5)
        }}}
        // direct reference
        var ref = [Float](repeating: 0, count: 3 * 35)
        for o in 0..<3 { for oy in 0..<5 { for ox in 0..<7 {
            var s: Float = 0
            for c in 0..<2 { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy + ky - 1, ix = ox + kx - 1
                if iy >= 0 && iy < 5 && ix >= 0 && ix < 7 { s += x.data[(c * 5 + iy) * 7 + ix] * w.data[((o * 2 + c) * 3 + ky) * 3 + kx] }
            }}}
            ref[(o * 5 + oy) * 7 + ox] = s
        }}}
        XCTAssertLessThan(relativeError(y, Tensor(shape: [3, 5, 7], data: ref)), 1e-6)
    }
}
