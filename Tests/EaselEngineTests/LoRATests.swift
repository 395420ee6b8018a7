import Foundation
import XCTest
@testable import EaselEngine

/// LoRAs applied beside the base weights, per request, and image-to-image / inpainting identities that need no
/// reference. Parity against diffusers is in EditParityTests (fixtures from Tools/fixtures/make_edit_refs.py).
final class LoRATests: XCTestCase {
    static let pipe: FluxPipeline = try! FluxPipeline(folder: Fixtures.pipeline("dev_nonsquare"))
    var pipe: FluxPipeline { Self.pipe }

    /// Random LoRA tensors of `rank` for some of the model's Linears, with a magnitude that visibly moves the image.
    func randomPEFT(seed: UInt64, rank: Int = 4, modules: [String]) -> [(String, Tensor)] {
        var g = SplitMix(seed: seed)
        var out: [(String, Tensor)] = []
        for m in modules {
            let (component, name) = m.hasPrefix("te:") ? ("text_encoder", String(m.dropFirst(3))) : ("transformer", m)
            let t = component == "transformer" ? pipe.loraTargets.transformer[name]! : pipe.loraTargets.textEncoder[name]!
            let a = Tensor(shape: [rank, t.inF], data: (0..<(rank * t.inF)).map { _ in g.normal() / Float(t.inF).squareRoot() })
            let b = Tensor(shape: [t.out, rank], data: (0..<(t.out * rank)).map { _ in g.normal() * 0.6 / Float(rank).squareRoot() })
            let prefix = component == "transformer" ? "transformer." : "text_encoder.text_model."
            out.append((prefix + name + ".lora_A.weight", a))
            out.append((prefix + name + ".lora_B.weight", b))
        }
        return out
    }

    let modules = ["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_v", "transformer_blocks.1.ff.net.2",
                   "transformer_blocks.1.attn.add_k_proj", "single_transformer_blocks.0.attn.to_k",
                   "single_transformer_blocks.1.proj_out", "proj_out", "x_embedder",
                   "time_text_embed.timestep_embedder.linear_2", "te:encoder.layers.0.self_attn.q_proj", "te:encoder.layers.1.mlp.fc1"]

    func write(_ tensors: [(String, Tensor)], _ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("easel-lora-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
        try SafeTensorsWriter.write(tensors, to: url)
        return url
    }

    func request(seed: UInt64, _ lora: LoRAStack? = nil) -> GenerationRequest {
        var r = GenerationRequest(prompt: "a lighthouse at night", width: 80, height: 48, steps: 3, guidance: 3.5, seed: seed)
        r.maxSequenceLength = 32
        r.lora = lora
        return r
    }

    func testMixedLoRABatchEqualsEachRequestAlone() throws {
        let l1 = try LoRALoader.load(url: try write(randomPEFT(seed: 1, modules: modules), "a.safetensors"), targets: pipe.loraTargets)
        let l2 = try LoRALoader.load(url: try write(randomPEFT(seed: 2, rank: 2, modules: modules), "b.safetensors"), targets: pipe.loraTargets)
        XCTAssertEqual(l1.moduleCount, modules.count)
        let reqs = [request(seed: 7, LoRAStack([.init(adapter: l1, scale: 1)])),
                    request(seed: 8, LoRAStack([.init(adapter: l2, scale: 0.5), .init(adapter: l1, scale: 0.3)])),
                    request(seed: 9)]
        let batched = pipe.generateBatch(reqs).map { try! $0.get()[0] }
        for (i, r) in reqs.enumerated() {
            let alone = try pipe.generate(r)[0]
            let db = psnr(batched[i].data, alone.data)
            XCTAssertGreaterThanOrEqual(db, 45, "request \(i): batched vs alone \(db) dB")
        }
        // The LoRAs change the image (else the test above proves nothing).
        let base = try pipe.generate(request(seed: 7))[0]
        XCTAssertLessThan(psnr(batched[0].data, base.data), 30)
    }

    func testScaleZeroIsTheBaseModelExactly() throws {
        let l1 = try LoRALoader.load(url: try write(randomPEFT(seed: 3, modules: modules), "c.safetensors"), targets: pipe.loraTargets)
        let base = try pipe.generate(request(seed: 5))[0]
        let zero = try pipe.generate(request(seed: 5, LoRAStack([.init(adapter: l1, scale: 0)])))[0]
        XCTAssertEqual(base.data, zero.data)
    }

    /// A kohya file (fused qkv and linear1, alpha ≠ rank, BFL's final-layer order) against the same updates written
    /// as diffusers keys: the two loaders must give one model.
    func testKohyaFusedModulesSplitLikeTheirDiffusersEquivalent() throws {
        var g = SplitMix(seed: 11)
        let d = pipe.transformer.config.innerDim, mlp = 4 * d, rank = 4, alpha: Float = 2
        func rnd(_ r: Int, _ c: Int, _ s: Float) -> Tensor { Tensor(shape: [r, c], data: (0..<(r * c)).map { _ in g.normal() * s }) }
        let qkvDown = rnd(rank, d, 0.3), qkvUp = rnd(3 * d, rank, 0.5)
        let l1Down = rnd(rank, d, 0.3), l1Up = rnd(3 * d + mlp, rank, 0.5)
        let finDown = rnd(rank, d, 0.3), finUp = rnd(2 * d, rank, 0.5)
        let a = Tensor(shape: [], data: [alpha])
        let kohya: [(String, Tensor)] = [
            ("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", qkvDown), ("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", qkvUp),
            ("lora_unet_double_blocks_0_img_attn_qkv.alpha", a),
            ("lora_unet_single_blocks_1_linear1.lora_down.weight", l1Down), ("lora_unet_single_blocks_1_linear1.lora_up.weight", l1Up),
            ("lora_unet_single_blocks_1_linear1.alpha", a),
            ("lora_unet_final_layer_adaLN_modulation_1.lora_down.weight", finDown),
            ("lora_unet_final_layer_adaLN_modulation_1.lora_up.weight", finUp), ("lora_unet_final_layer_adaLN_modulation_1.alpha", a)]
        func rows(_ t: Tensor, _ start: Int, _ n: Int) -> Tensor { Ops.rows(t, start, n) }
        let s = alpha / Float(rank)
        func scaled(_ t: Tensor) -> Tensor { Ops.map(t) { $0 * s } }
        var peft: [(String, Tensor)] = []
        for (i, m) in ["to_q", "to_k", "to_v"].enumerated() {
            peft += [("transformer.transformer_blocks.0.attn.\(m).lora_A.weight", qkvDown),
                     ("transformer.transformer_blocks.0.attn.\(m).lora_B.weight", scaled(rows(qkvUp, i * d, d)))]
        }
        for (i, m) in ["attn.to_q", "attn.to_k", "attn.to_v"].enumerated() {
            peft += [("transformer.single_transformer_blocks.1.\(m).lora_A.weight", l1Down),
                     ("transformer.single_transformer_blocks.1.\(m).lora_B.weight", scaled(rows(l1Up, i * d, d)))]
        }
        peft += [("transformer.single_transformer_blocks.1.proj_mlp.lora_A.weight", l1Down),
                 ("transformer.single_transformer_blocks.1.proj_mlp.lora_B.weight", scaled(rows(l1Up, 3 * d, mlp))),
                 ("transformer.norm_out.linear.lora_A.weight", finDown),
                 ("transformer.norm_out.linear.lora_B.weight", scaled(Ops.stackRows([rows(finUp, d, d), rows(finUp, 0, d)])))]
        let k = try LoRALoader.load(url: try write(kohya, "k.safetensors"), targets: pipe.loraTargets)
        let p = try LoRALoader.load(url: try write(peft, "p.safetensors"), targets: pipe.loraTargets)
        XCTAssertEqual(k.format, "kohya")
        XCTAssertEqual(p.format, "peft")
        let ik = try pipe.generate(request(seed: 4, LoRAStack([.init(adapter: k, scale: 0.8)])))[0]
        let ip = try pipe.generate(request(seed: 4, LoRAStack([.init(adapter: p, scale: 0.8)])))[0]
        let base = try pipe.generate(request(seed: 4))[0]
        XCTAssertGreaterThanOrEqual(psnr(ik.data, ip.data), 60)
        XCTAssertLessThan(psnr(ik.data, base.data), 40, "the LoRA must move the image")
    }

    func testMalformedLoRAsAreErrorsNamingTheProblem() throws {
        func message(_ tensors: [(String, Tensor)], _ name: String) -> String {
            do {
                _ = try LoRALoader.load(url: try write(tensors, name), targets: pipe.loraTargets)
                return "loaded"
            } catch let e as EngineError { return e.message } catch { return "\(error)" }
        }
        let d = pipe.transformer.config.innerDim
        let good = Tensor(zeros: [4, d]), up = Tensor(zeros: [d, 4])
        XCTAssertTrue(message([("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", Tensor(zeros: [4, d + 1])),
                               ("transformer.transformer_blocks.0.attn.to_q.lora_B.weight", up)], "m1")
            .contains("a LoRA for another model"))
        XCTAssertTrue(message([("transformer.transformer_blocks.9.attn.to_q.lora_A.weight", good),
                               ("transformer.transformer_blocks.9.attn.to_q.lora_B.weight", up)], "m2")
            .contains("is not a Linear"))
        XCTAssertTrue(message([("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", good)], "m3").contains("no lora_B"))
        XCTAssertTrue(message([("weird.key", good)], "m4").contains("unrecognised tensor"))
        XCTAssertTrue(message([("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", Tensor(shape: [4, d], repeating: .nan)),
                               ("transformer.transformer_blocks.0.attn.to_q.lora_B.weight", up)], "m5").contains("NaN"))
        XCTAssertTrue(message([("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", good),
                               ("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", Tensor(zeros: [2 * d, 4]))], "m6")
            .contains("fused"))
        XCTAssertTrue(message([("lora_unet_double_blocks_0_nonsense.lora_down.weight", good),
                               ("lora_unet_double_blocks_0_nonsense.lora_up.weight", up)], "m7").contains("unrecognised"))
        var garbage = Data("not a safetensors file".utf8)
        garbage.append(contentsOf: [UInt8](repeating: 0, count: 16))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("easel-lora-garbage")
        try garbage.write(to: url)
        XCTAssertThrowsError(try LoRALoader.load(url: url, targets: pipe.loraTargets))
    }

    // MARK: image-to-image and inpainting identities

    func image(seed: UInt64) -> Tensor {
        var g = SplitMix(seed: seed)
        return Tensor(shape: [3, 48, 80], data: (0..<(3 * 48 * 80)).map { i in
            let x = Float(i % 80) / 80, y = Float((i / 80) % 48) / 48
            return min(max(0.5 + 0.4 * sinf(6 * x + Float(i / 3840)) * y + 0.05 * g.normal(), 0), 1)
        })
    }

    func testStrengthOneIsTextToImageWithTheSameNoise() throws {
        var r = request(seed: 21)
        let plain = try pipe.generate(r)[0]
        r.image = image(seed: 1)
        r.strength = 1
        XCTAssertEqual(try pipe.generate(r)[0].data, plain.data, "σ = 1 leaves nothing of the image")
        r.strength = 0.5
        let edited = try pipe.generate(r)[0]
        XCTAssertLessThan(psnr(edited.data, plain.data), 30, "at strength 0.5 the image shows")
    }

    func testInpaintingMaskExtremes() throws {
        var r = request(seed: 22)
        r.image = image(seed: 2)
        r.strength = 0.7
        let img2img = try pipe.generate(r)[0]
        r.mask = Tensor(shape: [1, 48, 80], repeating: 1)
        XCTAssertEqual(try pipe.generate(r)[0].data, img2img.data, "an all-white mask repaints everything: plain image-to-image")
        r.mask = Tensor(shape: [1, 48, 80], repeating: 0.2)
        let kept = try pipe.generate(r)[0]
        let roundTrip = pipe.decode(pipe.imageLatents(r.image!), latentHeight: 48 / pipe.latentScale, latentWidth: 80 / pipe.latentScale)
        XCTAssertEqual(kept.data, roundTrip.data, "an all-black mask keeps the image: VAE encode → decode")
    }

    /// Previews of VAE models: the fitted latent→RGB map applied to an image's own latents gives its colours at
    /// latent resolution, closer than a flat grey would be.
    func testLatentPreviewTracksTheImage() throws {
        let img = image(seed: 3)
        let f = pipe.latentScale, lh = 48 / f, lw = 80 / f
        let prev = try XCTUnwrap(pipe.previewImage(pipe.imageLatents(img), latentHeight: lh, latentWidth: lw))
        XCTAssertEqual(prev.shape, [3, lh, lw])
        var pooled = [Float](repeating: 0, count: 3 * lh * lw)
        for c in 0..<3 { for y in 0..<48 { for x in 0..<80 {
            pooled[(c * lh + y / f) * lw + x / f] += img.data[(c * 48 + y) * 80 + x] / Float(f * f)
        }}}
        let db = psnr(prev.data, pooled), flat = psnr([Float](repeating: 0.5, count: pooled.count), pooled)
        print("latent preview: \(db) dB against the pooled image, flat grey \(flat) dB")
        XCTAssertGreaterThan(db, flat)
    }

    func testFirstStepFollowsDiffusers() {
        // int(max(n − min(n·s, n), 0)), as FluxImg2ImgPipeline.get_timesteps.
        XCTAssertEqual(FluxPipeline.firstStep(steps: 4, strength: 0.6), 1)
        XCTAssertEqual(FluxPipeline.firstStep(steps: 28, strength: 0.6), 11)
        XCTAssertEqual(FluxPipeline.firstStep(steps: 10, strength: 1), 0)
        XCTAssertEqual(FluxPipeline.firstStep(steps: 10, strength: 0.01), 9)
        XCTAssertEqual(FluxPipeline.firstStep(steps: 3, strength: 0.85), 0)
    }
}

/// Normal draws (Box-Muller) for test data, from the fuzz tests' generator.
typealias SplitMix = SplitMix64
extension SplitMix64 {
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) + 1e-7 }
    mutating func normal() -> Float { (-2 * logf(uniform())).squareRoot() * cosf(2 * .pi * uniform()) }
}
