import Foundation
import XCTest
@testable import EaselEngine

/// Checkpoints that disagree with their configs (a tensor's dimensions swapped in the safetensors header, same byte
/// size; a config value changed) must fail at load with an error naming the tensor and both shapes, for every
/// component. In a release build (-Ounchecked) the old behaviour was undefined; Scripts/check-malformed-weights
/// checks that build, these tests the messages and the layout.
final class MalformedWeightsTests: XCTestCase {
    var temp: URL!

    override func setUpWithError() throws {
        temp = FileManager.default.temporaryDirectory.appendingPathComponent("easel-malformed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: temp) }

    /// A copy of fixture pipeline `name` (schnell_postquant: every component, a VAE with post_quant_conv).
    func copyPipeline(_ name: String = "schnell_postquant") throws -> URL {
        let dst = temp.appendingPathComponent(name)
        try FileManager.default.copyItem(at: Fixtures.pipeline(name), to: dst)
        return dst
    }

    /// Swaps the first two dimensions of `key` in the header of the safetensors file at `url`, keeping the header's
    /// byte length (and so every data offset). Returns (original, swapped) shapes.
    @discardableResult
    func swapDims(_ url: URL, _ key: String) throws -> (original: [Int], swapped: [Int]) {
        var data = try Data(contentsOf: url)
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try XCTUnwrap(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        var entry = try XCTUnwrap(header[key] as? [String: Any], "no tensor \(key) in \(url.path)")
        let shape = try XCTUnwrap(entry["shape"] as? [Int])
        var swapped = shape
        swapped.swapAt(0, 1)
        XCTAssertNotEqual(shape, swapped, "swapping \(key)'s dimensions \(shape) changes nothing")
        entry["shape"] = swapped
        header[key] = entry
        var text = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        XCTAssertLessThanOrEqual(text.count, n, "rewritten header is longer than the original")
        text.append(Data(repeating: UInt8(ascii: " "), count: n - text.count))
        data.replaceSubrange(8..<(8 + n), with: text)
        try data.write(to: url)
        return (shape, swapped)
    }

    /// Sets `key` of the JSON object at `url`.
    func setConfig(_ url: URL, _ key: String, _ value: Any) throws {
        var obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        obj[key] = value
        try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]).write(to: url)
    }

    /// The load error of the pipeline at `folder`, failing the test when it loads.
    func loadError(_ folder: URL, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try FluxPipeline(folder: folder)
            XCTFail("a malformed pipeline loaded", file: file, line: line)
            return ""
        } catch { return "\(error)" }
    }

    func assertNames(_ message: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for p in parts { XCTAssertTrue(message.contains(p), "'\(p)' missing from: \(message)", file: file, line: line) }
    }

    // MARK: swapped dimensions, one component each

    func test_load_whenFFWeightTransposed_throwsNamingTensorAndShapes() throws {
        let p = try copyPipeline()
        let key = "transformer_blocks.0.ff.net.0.proj.weight"
        let (orig, swapped) = try swapDims(p.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors"), key)
        let msg = loadError(p)
        assertNames(msg, ["component transformer", "'\(key)'", "has shape \(swapped)", "expected \(orig)", "mlp_ratio 4"])
    }

    func test_load_whenSingleBlockProjOutTransposed_throwsNamingTensorAndShapes() throws {
        let p = try copyPipeline()
        let key = "single_transformer_blocks.1.proj_out.weight"
        let (orig, swapped) = try swapDims(p.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors"), key)
        assertNames(loadError(p), ["'\(key)'", "has shape \(swapped)", "expected \(orig)"])
    }

    func test_load_whenCLIPFC1Transposed_throwsNamingTensorAndShapes() throws {
        let p = try copyPipeline()
        let url = p.appendingPathComponent("text_encoder/model.safetensors")
        let names = try SafeTensorsFile(url: url).names
        let key = try XCTUnwrap(names.first { $0.hasSuffix("encoder.layers.0.mlp.fc1.weight") })
        let (orig, swapped) = try swapDims(url, key)
        assertNames(loadError(p), ["component text_encoder", "'\(key)'", "has shape \(swapped)", "expected \(orig)"])
    }

    func test_load_whenT5WoTransposed_throwsNamingTensorAndShapes() throws {
        let p = try copyPipeline()
        let key = "encoder.block.0.layer.1.DenseReluDense.wo.weight"
        let (orig, swapped) = try swapDims(p.appendingPathComponent("text_encoder_2/model.safetensors"), key)
        assertNames(loadError(p), ["component text_encoder_2", "'\(key)'", "has shape \(swapped)", "expected \(orig)"])
    }

    func test_load_whenVAEConvInTransposed_throwsNamingTensorAndShapes() throws {
        let p = try copyPipeline()
        let key = "decoder.conv_in.weight"
        let (orig, swapped) = try swapDims(p.appendingPathComponent("vae/diffusion_pytorch_model.safetensors"), key)
        assertNames(loadError(p), ["component vae", "'\(key)'", "has shape \(swapped)", "expected \(orig)"])
    }

    // MARK: a config that disagrees with its weights

    func test_load_whenTransformerJointDimDisagreesWithWeights_throwsNamingContextEmbedder() throws {
        let p = try copyPipeline()
        try setConfig(p.appendingPathComponent("transformer/config.json"), "joint_attention_dim", 64)
        assertNames(loadError(p), ["'context_embedder.weight'", "expected [32, 64]", "joint_attention_dim 64"])
    }

    func test_load_whenCLIPIntermediateSizeDisagreesWithWeights_throwsNamingFC1() throws {
        let p = try copyPipeline()
        try setConfig(p.appendingPathComponent("text_encoder/config.json"), "intermediate_size", 7)
        let msg = loadError(p)
        assertNames(msg, ["component text_encoder", "mlp.fc1.weight'", ", expected [7, "])
    }

    func test_load_whenVAELatentChannelsDisagreeWithWeights_throwsNamingPostQuantConv() throws {
        let p = try copyPipeline()
        try setConfig(p.appendingPathComponent("vae/config.json"), "latent_channels", 8)
        assertNames(loadError(p), ["component vae", "'post_quant_conv.weight'", "expected [8, 8, 1, 1]"])
    }

    func test_load_whenT5BucketsTooFew_throwsNamingKey() throws {
        let p = try copyPipeline()
        try setConfig(p.appendingPathComponent("text_encoder_2/config.json"), "relative_attention_num_buckets", 2)
        assertNames(loadError(p), ["relative_attention_num_buckets 2"])
    }

    func test_load_whenAxesDimsRopeHasFourBands_throwsNamingKey() throws {
        let p = try copyPipeline()
        try setConfig(p.appendingPathComponent("transformer/config.json"), "axes_dims_rope", [2, 2, 6, 6])
        assertNames(loadError(p), ["axes_dims_rope", "three"])
    }

    func test_load_whenCLIPVocabSmallerThanTokenizer_throwsNamingTokenId() throws {
        let p = try copyPipeline()
        // Smaller vocab and a matching token embedding: the weights agree with the config, the tokenizer does not.
        let url = p.appendingPathComponent("text_encoder/model.safetensors")
        let file = try SafeTensorsFile(url: url)
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(name) }
        let key = try XCTUnwrap(file.names.first { $0.hasSuffix("token_embedding.weight") })
        let emb = tensors[key]!
        tensors[key] = Tensor(shape: [2, emb.shape[1]], data: Array(emb.data.prefix(2 * emb.shape[1])))
        try SafeTensorsWriter.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, to: url)
        try setConfig(p.appendingPathComponent("text_encoder/config.json"), "vocab_size", 2)
        assertNames(loadError(p), ["tokenizer gives token id", "vocab_size 2"])
    }

    // MARK: the layout

    func test_layout_whenComparedWithFixtureCheckpoints_namesEveryTensorWithItsShape() throws {
        for name in Fixtures.pipelineNames {
            let folder = Fixtures.pipeline(name).appendingPathComponent("transformer")
            let layout = FluxWeightLayout(config: try FluxTransformerConfig.load(folder.appendingPathComponent("config.json")))
            let store = try WeightStore(folder: folder, baseName: "diffusion_pytorch_model")
            let expected = layout.entries.filter { $0.required || store.has($0.key) }
            XCTAssertEqual(Set(expected.map(\.key)), store.names, name)
            for e in expected { XCTAssertEqual(store.info(e.key)?.shape, e.shape, "\(name): \(e.key)") }
        }
    }

    func test_randomWeights_whenBuiltFromLayout_haveExactlyItsTensors() throws {
        var c = FluxTransformerConfig()
        c.inChannels = 16; c.numLayers = 2; c.numSingleLayers = 1; c.attentionHeadDim = 8; c.numAttentionHeads = 2
        c.jointAttentionDim = 12; c.pooledProjectionDim = 10; c.guidanceEmbeds = true; c.axesDimsRope = [2, 2, 4]
        let layout = FluxWeightLayout(config: c), w = RandomFluxWeights(config: c, seed: 1)
        XCTAssertEqual(w.names, layout.entries.map(\.key).sorted())
        for e in layout.entries { XCTAssertEqual(try w.tensor(e.key).shape, e.shape, e.key) }
        XCTAssertNoThrow(try FluxTransformer(config: c, weights: w))
    }

    func test_cpuTransformer_whenInMemoryWeightTransposed_throwsNamingTensorAndShapes() throws {
        var c = FluxTransformerConfig()
        c.inChannels = 16; c.numLayers = 1; c.numSingleLayers = 1; c.attentionHeadDim = 8; c.numAttentionHeads = 2
        c.jointAttentionDim = 12; c.pooledProjectionDim = 10; c.axesDimsRope = [2, 2, 4]
        let random = RandomFluxWeights(config: c, seed: 2)
        var tensors: [String: Tensor] = [:]
        for n in random.names { tensors[n] = try random.tensor(n) }
        tensors["time_text_embed.text_embedder.linear_1.weight"] = tensors["time_text_embed.text_embedder.linear_1.weight"]!.reshaped([10, 16])
        XCTAssertThrowsError(try FluxTransformer(config: c, weights: DictionaryWeights(tensors))) { e in
            assertNames("\(e)", ["'time_text_embed.text_embedder.linear_1.weight'", "has shape [10, 16]", "expected [16, 10]",
                                 "pooled_projection_dim 10"])
        }
    }
}
