@testable import EaselEngine
import Foundation
import XCTest

/// First-block step caching (`StepCache`): exact when it never fires, per item in a batch, and on the trained
/// easel-shapes model at 28 steps it saves at least a third of the transformer passes while the images still read
/// as their prompts.
final class StepCacheTests: XCTestCase {
    static func model(seed: UInt64 = 3) throws -> (FluxTransformer, FluxTransformerConfig) {
        var c = FluxTransformerConfig()
        c.inChannels = 16; c.numLayers = 2; c.numSingleLayers = 2; c.attentionHeadDim = 16; c.numAttentionHeads = 2
        c.jointAttentionDim = 24; c.pooledProjectionDim = 12; c.axesDimsRope = [4, 6, 6]
        return (try FluxTransformer(config: c, weights: RandomFluxWeights(config: c, seed: seed)), c)
    }

    static func inputs(_ c: FluxTransformerConfig, count: Int, seed: UInt64 = 11) -> [FluxTransformerInput] {
        RandomFluxWeights.inputs(c, count: count, textTokens: 5, latentHeight: 8, latentWidth: 6, seed: seed)
    }

    func testAThresholdThatNeverFiresIsBitIdenticalToNoCache() throws {
        let (m, c) = try Self.model()
        let base = Self.inputs(c, count: 2)
        let sigmas: [Float] = [1, 0.8, 0.6, 0.4, 0.2, 0]
        let plain = try m.eulerSample(base, sigmas: sigmas)
        var cached = base
        let caches = [StepCache(threshold: 1e-12), StepCache(threshold: 1e-12)]
        for i in cached.indices { cached[i].cache = caches[i] }
        let out = try m.eulerSample(cached, sigmas: sigmas)
        for i in 0..<2 { XCTAssertEqual(out[i].data, plain[i].data, "item \(i)") }
        XCTAssertEqual(caches.map(\.fullPasses), [5, 5])
        XCTAssertEqual(caches.map(\.skippedPasses), [0, 0])
        XCTAssertEqual(caches[0].changes.count, 4, "a change is measured at every call after the first")
        XCTAssertTrue(caches[0].changes.allSatisfy { $0 > 1e-12 })
    }

    func testOnlyItemsWhoseFirstBlockStayedStillSkipAndTheOthersAreUnaffected() throws {
        let (m, c) = try Self.model()
        var step1 = Self.inputs(c, count: 3)
        let caches = [StepCache(threshold: 0.05), nil, StepCache(threshold: 0.05)]
        for i in step1.indices { step1[i].cache = caches[i] }
        let first = m.forward(step1)
        XCTAssertEqual(caches.compactMap { $0?.fullPasses }, [1, 1], "the first call is always full")

        // Step 2: item 0 unchanged (its first block's residual is the same: skip), item 1 new, item 2 moved a lot.
        var step2 = step1
        step2[1].hiddenStates = Self.inputs(c, count: 1, seed: 99)[0].hiddenStates
        step2[2].hiddenStates = Self.inputs(c, count: 1, seed: 77)[0].hiddenStates
        let second = m.forward(step2)
        XCTAssertEqual(caches[0]?.skippedPasses, 1)
        XCTAssertEqual(caches[2]?.skippedPasses, 0)
        XCTAssertEqual(caches[2]?.fullPasses, 2)
        XCTAssertGreaterThan(caches[2]!.changes[0], 0.05)
        // The skipped item reuses the tail of its full pass: the same output up to rounding of (a + (b − a)).
        XCTAssertGreaterThan(rangePSNR(second[0].data, first[0].data), 100)
        // The items that ran in full equal themselves run alone without any cache.
        var alone1 = step2[1]; alone1.cache = nil
        var alone2 = step2[2]; alone2.cache = nil
        XCTAssertGreaterThan(rangePSNR(second[1].data, m.forward([alone1])[0].data), 100)
        XCTAssertGreaterThan(rangePSNR(second[2].data, m.forward([alone2])[0].data), 100)
    }

    func testTheComparisonIsAgainstTheLastFullPassSoDriftAddsUp() {
        let cache = StepCache(threshold: 0.1)
        let r0 = [Float](repeating: 1, count: 8)
        XCTAssertFalse(cache.decide(firstResidual: r0))
        cache.store(tailResidual: r0)
        // Each step moves 6 % from the previous one: 6 %, then 12.4 % from the reference.
        XCTAssertTrue(cache.decide(firstResidual: r0.map { $0 * 1.06 }))
        XCTAssertFalse(cache.decide(firstResidual: r0.map { $0 * 1.06 * 1.06 }), "drift past the threshold forces a full pass")
        XCTAssertEqual(cache.fullPasses, 2)
        XCTAssertEqual(cache.skippedPasses, 1)
        // Without a stored tail nothing can be skipped.
        let fresh = StepCache(threshold: 10)
        XCTAssertFalse(fresh.decide(firstResidual: r0))
        XCTAssertFalse(fresh.decide(firstResidual: r0), "no tail recorded yet")
    }

    /// The trained model at 28 steps (true CFG: 56 passes per image) and the default threshold.
    func testShapesAt28StepsSavesAThirdOfThePassesAndStillDrawsThePrompt() throws {
        let pipe = try ShapesModelTests.pipeline()
        let prompts = ["a large red circle in the center on a blue background",
                       "a small yellow triangle in the top left corner on a purple background"]
        func request(_ p: String, cache: Double?) -> GenerationRequest {
            var r = GenerationRequest(prompt: p, width: 64, height: 64, steps: 28, guidance: pipe.defaults.guidance, seed: 1000)
            r.cacheThreshold = cache
            return r
        }
        let plain = pipe.generateBatchOutputs(prompts.map { request($0, cache: nil) })
        let cached = pipe.generateBatchOutputs(prompts.map { request($0, cache: StepCache.defaultThreshold) })
        for (i, p) in prompts.enumerated() {
            let a = try plain[i].get(), b = try cached[i].get()
            XCTAssertEqual(a.transformerPasses, 56)
            XCTAssertEqual(a.cachedPasses, 0)
            XCTAssertEqual(b.transformerPasses, 56)
            XCTAssertGreaterThanOrEqual(Double(b.transformerPasses) / Double(b.fullPasses), 1.5, "'\(p)': \(b.fullPasses) full passes")
            let db = psnr(b.images[0].data, a.images[0].data)
            print(String(format: "step cache on easel-shapes, '%@': %d of 56 passes full, %.1f dB against uncached", p, b.fullPasses, db))
            XCTAssertGreaterThan(db, 20, "'\(p)'")
            let img = b.images[0]
            let reading = ShapesAnalyzer.analyze(rgb: PNGEncoder.rgb(fromCHW: img), width: 64, height: 64)
            let truth = try XCTUnwrap(ShapesAnalyzer.truth(prompt: p))
            XCTAssertEqual(reading.colour, truth.colour, "'\(p)' read as \(reading)")
            XCTAssertEqual(reading.background, truth.background, "'\(p)' read as \(reading)")
            XCTAssertEqual(reading.position, truth.position, "'\(p)' read as \(reading)")
        }
    }
}

/// PSNR with the reference's peak-to-peak range as the peak (for velocities, not images).
private func rangePSNR(_ a: [Float], _ b: [Float]) -> Double {
    var mse = 0.0, lo = Float.infinity, hi = -Float.infinity
    for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); mse += d * d; lo = min(lo, b[i]); hi = max(hi, b[i]) }
    mse /= Double(a.count)
    let range = max(Double(hi - lo), 1e-6)
    return mse == 0 ? .infinity : 10 * log10(range * range / mse)
}
