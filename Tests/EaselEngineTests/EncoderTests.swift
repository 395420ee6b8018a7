import XCTest
@testable import EaselEngine

/// CLIPTextModel and T5EncoderModel against transformers references from
/// Tools/fixtures/make_component_refs.py (tiny random models; relative error ≤ 1e-4 in f32).
final class EncoderTests: XCTestCase {
    static let tolerance = 1e-4

    func clipCase(_ name: String, expectedPooledIndex: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try componentFixture(name)
        let model = try CLIPTextModel(folder: dir, weights: FixtureTensors.weights(dir.appendingPathComponent("model.safetensors")))
        let io = try FixtureTensors.load(dir.appendingPathComponent("io.safetensors"))
        let ids = io["input_ids"]!.data.map { Int($0) }
        XCTAssertEqual(model.pooledIndex(ids), expectedPooledIndex, file: file, line: line)
        let (last, pooled) = model.encode(ids: ids)
        XCTAssertEqual(last.shape, io["last_hidden"]!.shape, file: file, line: line)
        XCTAssertEqual(pooled.shape, io["pooled"]!.shape, file: file, line: line)
        let eLast = relativeError(last, io["last_hidden"]!), ePooled = relativeError(pooled, io["pooled"]!)
        print("[\(name)] last_hidden rel err \(eLast), pooled rel err \(ePooled)")
        XCTAssertLessThanOrEqual(eLast, Self.tolerance, file: file, line: line)
        XCTAssertLessThanOrEqual(ePooled, Self.tolerance, file: file, line: line)
    }

    /// quick_gelu, eos_token_id 2 (legacy argmax-of-ids pooling; the max id occurs twice), `text_model.` keys.
    func test_clip_quickGelu_eos2_legacyPrefix() throws {
        try clipCase("clip_quickgelu_eos2", expectedPooledIndex: 5)
    }

    /// gelu, eos_token_id 99: pooled at the first 99.
    func test_clip_gelu_eos99() throws {
        try clipCase("clip_gelu_eos99", expectedPooledIndex: 4)
    }

    /// eos_token_id 49: the first 49 (position 3) differs from argmax(ids) (position 1).
    func test_clip_gelu_eos49_firstEosNotArgmax() throws {
        try clipCase("clip_gelu_eos49", expectedPooledIndex: 3)
    }

    func t5Case(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try componentFixture(name)
        let model = try T5Encoder(folder: dir, weights: FixtureTensors.weights(dir.appendingPathComponent("model.safetensors")))
        let io = try FixtureTensors.load(dir.appendingPathComponent("io.safetensors"))
        let ids = io["input_ids"]!.data.map { Int($0) }
        let out = model.encode(ids: ids)
        XCTAssertEqual(out.shape, io["last_hidden"]!.shape, file: file, line: line)
        let e = relativeError(out, io["last_hidden"]!)
        print("[\(name)] last_hidden rel err \(e)")
        XCTAssertLessThanOrEqual(e, Self.tolerance, file: file, line: line)
    }

    /// gated-gelu (gelu_new), shared.weight embedding, 32 tokens with trailing padding attending.
    func test_t5_gatedGelu() throws { try t5Case("t5_gatedgelu") }

    /// relu, heads·d_kv (24) ≠ d_model (32), only encoder.embed_tokens.weight in the checkpoint.
    func test_t5_relu_innerDimDiffers() throws { try t5Case("t5_relu") }

    /// Bucket tables from torch for relative positions −span…span, including FLUX's 32 buckets / 128 distance.
    func test_t5_relativePositionBuckets_matchTorch() throws {
        let io = try FixtureTensors.load(try componentFixture("t5_gatedgelu").appendingPathComponent("io.safetensors"))
        for (key, nb, md) in [("buckets_8_20", 8, 20), ("buckets_32_128", 32, 128)] {
            let table = io[key]!.data.map { Int($0) }
            let span = (table.count - 1) / 2
            var mismatches = 0
            for (i, expected) in table.enumerated() {
                let got = T5Encoder.relativePositionBucket(i - span, numBuckets: nb, maxDistance: md)
                if got != expected {
                    mismatches += 1
                    if mismatches < 5 { XCTFail("\(key): relative position \(i - span) → \(got), torch \(expected)") }
                }
            }
            XCTAssertEqual(mismatches, 0, key)
        }
    }

    func test_t5_config_rejectsBadFeedForwardProj() throws {
        var c = T5Config(vocabSize: 4, dModel: 4, dKv: 2, dFf: 4, numLayers: 1, numHeads: 2, feedForwardProj: "swiglu-gelu")
        XCTAssertThrowsError(try c.feedForward()) { XCTAssertTrue("\($0)".contains("feed_forward_proj")) }
        c.feedForwardProj = "gated-mish"
        XCTAssertThrowsError(try T5Encoder(config: c, weights: DictionaryWeights([:]))) {
            XCTAssertTrue("\($0)".contains("dense_act_fn"), "\($0)")
        }
        c.feedForwardProj = "gated-gelu"
        XCTAssertEqual(try c.feedForward().act, "gelu_new")
        XCTAssertEqual(try c.feedForward().gated, true)
        c.isGatedAct = false  // a file's is_gated_act wins, as in transformers
        XCTAssertEqual(try c.feedForward().gated, false)
    }

    func test_clip_missingWeight_namesIt() throws {
        let dir = try componentFixture("clip_gelu_eos99")
        var t = try FixtureTensors.load(dir.appendingPathComponent("model.safetensors"))
        t["encoder.layers.1.mlp.fc2.weight"] = Tensor(zeros: [3, 3])
        XCTAssertThrowsError(try CLIPTextModel(folder: dir, weights: DictionaryWeights(t))) {
            XCTAssertTrue("\($0)".contains("encoder.layers.1.mlp.fc2.weight"), "\($0)")
        }
    }
}
