import XCTest
@testable import EaselEngine

/// The transformer and the scheduler against diffusers (fixtures: Scripts/make-fixtures).
final class FluxTransformerTests: XCTestCase {
    func loadTransformer(_ name: String) throws -> FluxTransformer {
        let dir = Fixtures.pipeline(name).appendingPathComponent("transformer")
        let cfg = try FluxTransformerConfig.load(dir.appendingPathComponent("config.json"))
        let store = try WeightStore(folder: dir, baseName: "diffusion_pytorch_model")
        let t = try FluxTransformer(config: cfg, weights: store)
        XCTAssertEqual(store.unusedNames(), [], "every checkpoint weight is used")
        return t
    }

    func test_transformer_matchesDiffusers_withinF32Tolerance() throws {
        for name in Fixtures.pipelineNames {
            let ref = try Fixtures.reference(name)
            let model = try loadTransformer(name)
            let hs = try ref.tensor("transformer.hidden_states")
            let out = try ref.tensor("transformer.out")
            let guidance = ref.info("transformer.guidance") != nil ? try ref.tensor("transformer.guidance") : nil
            let ts = try ref.tensor("transformer.timestep")
            for b in 0..<hs.shape[0] {
                let input = FluxTransformerInput(
                    hiddenStates: batchItem(hs, b),
                    encoderHiddenStates: batchItem(try ref.tensor("transformer.encoder_hidden_states"), b),
                    pooledProjections: batchItem(try ref.tensor("transformer.pooled_projections"), b),
                    timestep: ts.data[b], guidance: guidance?.data[b],
                    imgIds: try ref.tensor("transformer.img_ids"), txtIds: try ref.tensor("transformer.txt_ids"))
                let temb = model.conditioning(input)
                let tembErr = relativeError(temb.data, batchItem(try ref.tensor("transformer.temb"), b).data)
                XCTAssertLessThan(tembErr, 1e-5, "\(name): temb")
                let y = model(input)
                let err = relativeError(y.data, batchItem(out, b).data)
                XCTAssertLessThan(err, 1e-4, "\(name)[\(b)]: transformer output relative error \(err)")
            }
        }
    }

    func test_scheduler_matchesFluxPipelineSigmas() throws {
        for name in Fixtures.pipelineNames {
            let ref = try Fixtures.reference(name)
            let meta = try Fixtures.meta(name)
            let cfg = try FlowMatchEulerConfig.load(Fixtures.pipeline(name).appendingPathComponent("scheduler/scheduler_config.json"))
            let steps = meta["num_inference_steps"] as! Int
            let seq = try ref.tensor("transformer.img_ids").rows
            let s = FlowMatchEulerScheduler(config: cfg).schedule(steps: steps, imageSeqLen: seq)
            XCTAssertLessThan(relativeError(s.sigmas, try ref.tensor("scheduler.sigmas").data), 1e-6, name)
            XCTAssertLessThan(relativeError(s.timesteps, try ref.tensor("scheduler.timesteps").data), 1e-6, name)
            if cfg.useDynamicShifting {
                XCTAssertEqual(s.mu, Double(try ref.tensor("scheduler.mu").data[0]), accuracy: 1e-5, name)
            }
        }
    }

    func test_imageIdsAndPacking_matchDiffusers() throws {
        for name in Fixtures.pipelineNames {
            let ref = try Fixtures.reference(name)
            let meta = try Fixtures.meta(name)
            let scale = meta["vae_scale_factor"] as! Int
            let h = (meta["height"] as! Int) / scale, w = (meta["width"] as! Int) / scale
            XCTAssertEqual(LatentPacking.imageIds(latentHeight: h, latentWidth: w).data, try ref.tensor("transformer.img_ids").data)
            // vae.latents is the unpacked final latents, rescaled: undo the rescale and compare the packing both ways.
            let final = batchItem(try ref.tensor("pipeline.final_latents"), 0)
            let unpacked = LatentPacking.unpack(final, height: h, width: w)
            XCTAssertEqual(LatentPacking.pack(unpacked).data, final.data)
        }
    }

    func test_config_unknownKey_isAnErrorNamingIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("easel-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("config.json")
        try #"{"_class_name": "FluxTransformer2DModel", "num_layers": 1, "use_fancy_thing": true}"#.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FluxTransformerConfig.load(url)) { e in
            XCTAssertTrue("\(e)".contains("use_fancy_thing"), "\(e)")
        }
    }
}
