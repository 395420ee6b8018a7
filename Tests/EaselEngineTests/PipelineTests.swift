import XCTest
@testable import EaselEngine

/// Whole pipelines against diffusers' FluxPipeline on the same folders and initial noise (Scripts/make-fixtures).
final class PipelineTests: XCTestCase {
    static var cache: [String: FluxPipeline] = [:]
    func pipeline(_ name: String) throws -> FluxPipeline {
        if let p = Self.cache[name] { return p }
        let p = try FluxPipeline(folder: Fixtures.pipeline(name))
        Self.cache[name] = p
        return p
    }

    func request(_ meta: [String: Any], latents: Tensor) -> GenerationRequest {
        var r = GenerationRequest(prompt: meta["prompt"] as! String, width: meta["width"] as! Int, height: meta["height"] as! Int,
                                  steps: meta["num_inference_steps"] as! Int,
                                  guidance: (meta["guidance_scale"] as? Double) ?? 0, seed: 0,
                                  numImages: latents.shape[0])
        r.latents = latents
        r.maxSequenceLength = meta["max_sequence_length"] as? Int
        return r
    }

    func test_textEncoders_inPipelineFolders_matchTransformers() throws {
        for name in Fixtures.pipelineNames {
            let ref = try Fixtures.reference(name)
            let meta = try Fixtures.meta(name)
            let p = try pipeline(name)
            let prompt = meta["prompt"] as! String
            let clipIds = p.tokenizer.encodeForPipeline(prompt, maxLength: p.tokenizer.modelMaxLength ?? 77)
            XCTAssertEqual(clipIds, try ref.tensor("clip.input_ids").data.map { Int($0) }, name)
            let t5Ids = p.tokenizer2.encodeForPipeline(prompt, maxLength: meta["max_sequence_length"] as! Int)
            XCTAssertEqual(t5Ids, try ref.tensor("t5.input_ids").data.map { Int($0) }, name)
            let c = p.clip.encode(ids: clipIds)
            XCTAssertLessThan(relativeError(c.pooled.data, try ref.tensor("clip.pooled").data), 1e-4, name)
            XCTAssertLessThan(relativeError(p.t5.encode(ids: t5Ids).data, try ref.tensor("t5.hidden").data), 1e-4, name)
        }
    }

    func test_vaeDecode_inPipelineFolders_matchesDiffusers() throws {
        for name in Fixtures.pipelineNames {
            let ref = try Fixtures.reference(name)
            let p = try pipeline(name)
            let lat = try ref.tensor("vae.latents"), out = try ref.tensor("vae.out")
            for b in 0..<lat.shape[0] {
                let y = p.vae!.decode(latents: batchItem(lat, b))
                XCTAssertLessThan(relativeError(y.data, batchItem(out, b).data), 1e-4, name)
            }
        }
    }

    func test_generate_withDiffusersLatents_matchesFluxPipelineImage() throws {
        let cases = Fixtures.pipelineNames.map { ($0, "") } + [("dev_nonsquare", "_batch2")]
        for (name, suffix) in cases {
            let ref = try Fixtures.reference(name, file: "reference\(suffix).safetensors")
            let meta = try Fixtures.meta(name, file: "meta\(suffix).json")
            let p = try pipeline(name)
            var steps: [Int] = []
            let images = try p.generate(request(meta, latents: try ref.tensor("pipeline.latents"))) { done, _ in
                steps.append(done); return true
            }
            let want = try ref.tensor("pipeline.image")
            XCTAssertEqual(images.count, want.shape[0])
            let n = want.shape[0]
            XCTAssertEqual(steps, (1...(meta["num_inference_steps"] as! Int)).map { $0 * n }, "progress after every step, all images together")
            for (b, img) in images.enumerated() {
                let db = psnr(img.data, batchItem(want, b).data)
                XCTAssertGreaterThanOrEqual(db, 40, "\(name)\(suffix)[\(b)]: PSNR \(db) dB")
            }
        }
    }

    func test_generate_sameSeed_sameImage_otherSeed_otherImage() throws {
        let p = try pipeline("schnell_square")
        var r = GenerationRequest(prompt: "a cat", width: 32, height: 32, steps: 2, guidance: 0, seed: 42, numImages: 2)
        r.maxSequenceLength = 32
        let a = try p.generate(r)
        let b = try p.generate(r)
        XCTAssertTrue(a[0].data == b[0].data, "the same request twice gives bit-identical images")
        XCTAssertLessThan(psnr(a[0].data, a[1].data), 30, "image i uses seed + i")
        r.seed = 43; r.numImages = 1
        let c = try p.generate(r)
        // Batched GEMMs may round differently, so "equal" here is numerical, as for daemon batching.
        XCTAssertGreaterThanOrEqual(psnr(c[0].data, a[1].data), 45, "seed 43 alone equals the second image of seed 42")
    }

    func test_generate_cancelFromProgress_throwsCancellation() throws {
        let p = try pipeline("schnell_square")
        var r = GenerationRequest(prompt: "a cat", width: 32, height: 32, steps: 4, guidance: 0, seed: 1)
        r.maxSequenceLength = 32
        XCTAssertThrowsError(try p.generate(r) { done, _ in done < 2 }) { XCTAssertTrue($0 is CancellationError) }
    }

    func test_generateBatch_imagesEqualAloneAndBatched_andCancelIsPerRequest() throws {
        let p = try pipeline("dev_nonsquare")
        var a = GenerationRequest(prompt: "a cat on a mat", width: 48, height: 32, steps: 2, guidance: 3.5, seed: 5, numImages: 2)
        a.maxSequenceLength = 32
        var b = a; b.prompt = "a dog"; b.seed = 9; b.guidance = 2.0; b.numImages = 1
        var c = a; c.prompt = "cancel me"
        let alone = try p.generate(a)
        let aloneB = try p.generate(b)
        let batched = p.generateBatch([a, b, c]) { req, done, _ in !(req == 2 && done >= 2) }
        let ba = try batched[0].get(), bb = try batched[1].get()
        for i in 0..<2 { XCTAssertGreaterThanOrEqual(psnr(ba[i].data, alone[i].data), 45) }
        XCTAssertGreaterThanOrEqual(psnr(bb[0].data, aloneB[0].data), 45)
        XCTAssertThrowsError(try batched[2].get()) { XCTAssertTrue($0 is CancellationError) }
    }

    func test_generate_badSize_isAnError() throws {
        let p = try pipeline("schnell_square")
        let r = GenerationRequest(prompt: "a cat", width: 30, height: 32, steps: 1, guidance: 0, seed: 1)
        XCTAssertThrowsError(try p.generate(r)) { XCTAssertTrue("\($0)".contains("multiples of 4"), "\($0)") }
    }
}

extension PipelineTests {
    /// Copies a fixture pipeline to a temp folder so a test can damage it.
    func scratchCopy(_ name: String) throws -> URL {
        let dst = FileManager.default.temporaryDirectory.appendingPathComponent("easel-\(name)-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Fixtures.pipeline(name), to: dst)
        return dst
    }

    func test_load_unexpectedTransformerWeight_isReportedByName() throws {
        let dir = try scratchCopy("schnell_square")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors")
        let f = try SafeTensorsFile(url: url)
        var tensors = try f.names.map { ($0, try f.tensor($0)) }
        tensors.append(("transformer_blocks.0.extra_adapter.weight", Tensor(shape: [2], data: [1, 2])))
        try FileManager.default.removeItem(at: url)
        try SafeTensorsWriter.write(tensors, to: url)
        XCTAssertThrowsError(try FluxPipeline(folder: dir)) { XCTAssertTrue("\($0)".contains("extra_adapter"), "\($0)") }
    }

    func test_load_missingWeight_isReportedByName() throws {
        let dir = try scratchCopy("schnell_square")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("text_encoder_2/model.safetensors")
        let f = try SafeTensorsFile(url: url)
        let tensors = try f.names.filter { !$0.contains("block.1.layer.1.DenseReluDense.wo") }.map { ($0, try f.tensor($0)) }
        try FileManager.default.removeItem(at: url)
        try SafeTensorsWriter.write(tensors, to: url)
        XCTAssertThrowsError(try FluxPipeline(folder: dir)) { XCTAssertTrue("\($0)".contains("block.1.layer.1.DenseReluDense.wo"), "\($0)") }
    }

    func test_load_unsupportedSchedulerOption_isAnErrorNamingTheKey() throws {
        let dir = try scratchCopy("schnell_square")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("scheduler/scheduler_config.json")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        cfg["use_karras_sigmas"] = true
        try JSONSerialization.data(withJSONObject: cfg).write(to: url)
        XCTAssertThrowsError(try FluxPipeline(folder: dir)) { XCTAssertTrue("\($0)".contains("use_karras_sigmas"), "\($0)") }
    }

    func test_samplePrediction_becomesTheVelocity_andOtherValuesAreRejected() throws {
        let dir = try scratchCopy("schnell_square")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("easel.json")
        try Data(#"{"prediction": "sample"}"#.utf8).write(to: url)
        let p = try FluxPipeline(folder: dir)
        XCTAssertEqual(p.easel.prediction, "sample")
        let x = Tensor(shape: [1, 3], data: [1, -2, 0.5]), x0 = Tensor(shape: [1, 3], data: [0.5, 1, 0.5])
        XCTAssertEqual(p.easel.velocity(x0, latents: x, sigma: 0.5).data, [1, -6, 0])   // (x − x0) / σ
        XCTAssertEqual(p.easel.velocity(x0, latents: x, sigma: 0.01).data, [10, -60, 0]) // σ floored at 0.05
        XCTAssertEqual(EaselModelConfig().velocity(x0, latents: x, sigma: 0.5).data, x0.data)
        try Data(#"{"prediction": "epsilon"}"#.utf8).write(to: url)
        XCTAssertThrowsError(try FluxPipeline(folder: dir)) { XCTAssertTrue("\($0)".contains("'prediction'"), "\($0)") }
    }
}
