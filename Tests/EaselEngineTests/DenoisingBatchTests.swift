import Foundation
import XCTest
@testable import EaselEngine

/// Continuous batching in the engine: a running set whose members join between steps and leave when done, each on
/// its own schedule, and the batch-invariance promise (docs/API.md): on the CPU backend a request gives the same
/// bits alone, in a static batch, and admitted into a running set mid-flight.
final class DenoisingBatchTests: XCTestCase {
    func request(_ prompt: String, seed: UInt64, steps: Int = 8, numImages: Int = 1) throws -> GenerationRequest {
        let pipe = try ShapesModelTests.pipeline()
        let d = pipe.capabilities.defaults
        return GenerationRequest(prompt: prompt, width: d.width, height: d.height, steps: steps, guidance: d.guidance,
                                 seed: seed, numImages: numImages)
    }

    /// Runs `set` until empty, admitting `late[k]` after step k (tags continue after the early ones).
    func drain(_ set: DenoisingBatch, late: [Int: [(tag: Int, request: GenerationRequest)]] = [:]) throws
        -> (images: [Int: [Tensor]], leftAtStep: [Int: Int], widths: [Int]) {
        var images: [Int: [Tensor]] = [:], leftAt: [Int: Int] = [:], widths: [Int] = []
        var step = 0
        while !set.isEmpty || late.keys.contains(where: { $0 >= step }) {
            for (tag, r) in late[step] ?? [] { try set.admit(r, tag: tag) }
            widths.append(set.items)
            for (tag, result) in set.step() {
                images[tag] = try result.get().images
                leftAt[tag] = step + 1
            }
            step += 1
        }
        return (images, leftAt, widths)
    }

    func assertBitIdentical(_ a: [Tensor]?, _ b: [Tensor]?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let a, let b, a.count == b.count else { return XCTFail("\(what): missing images", file: file, line: line) }
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.shape, y.shape, what, file: file, line: line)
            let differing = zip(x.data, y.data).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(what): \(differing) of \(x.count) values differ in their bits", file: file, line: line)
        }
    }

    func testARequestIsBitIdenticalAloneInAStaticBatchAndAdmittedMidFlight() throws {
        let pipe = try ShapesModelTests.pipeline()
        let target = try request("a small red circle on a white background, top left", seed: 11, numImages: 2)
        let others = [try request("a large blue square on a black background, centered", seed: 5),
                      try request("a green triangle on a yellow background, bottom right", seed: 99, numImages: 2)]
        let alone = try pipe.generateBatchOutputs([target])[0].get().images
        // Static: the target in the middle of a batch that starts together.
        let batched = pipe.generateBatchOutputs([others[0], target, others[1]])
        assertBitIdentical(alone, try batched[1].get().images, "static batch")
        // Continuous: two others with 8 and 4 steps running, the target joins after step 3, a fourth after step 5.
        let short = try request("a purple circle on a white background, bottom left", seed: 3, steps: 4)
        let set = DenoisingBatch(pipeline: pipe, like: target)
        try set.admit(others[0], tag: 0)
        try set.admit(short, tag: 1)
        let run = try drain(set, late: [3: [(2, target)], 5: [(3, others[1])]])
        assertBitIdentical(alone, run.images[2], "admitted after step 3")
        assertBitIdentical(try batched[0].get().images, run.images[0], "the first member")
        assertBitIdentical(try batched[2].get().images, run.images[3], "admitted after step 5")
        assertBitIdentical(try pipe.generateBatchOutputs([short])[0].get().images, run.images[1], "the 4-step member")
        // Members leave when their own schedule ends: 4 steps, 8, 3 + 8, 5 + 8.
        XCTAssertEqual(run.leftAtStep, [1: 4, 0: 8, 2: 11, 3: 13])
        // Items per step (true CFG: two per image): 1+1 images; the target's 2 join; the short one leaves; 2 more join; the first leaves; ...
        XCTAssertEqual(run.widths, [4, 4, 4, 8, 6, 10, 10, 10, 8, 8, 8, 4, 4])
    }

    func testImageToImageAndStepCacheMembersAlsoKeepTheirBits() throws {
        let pipe = try ShapesModelTests.pipeline()
        let base = try pipe.generateBatchOutputs([try request("a large yellow square on a blue background, centered", seed: 1)])[0].get()
        var edit = try request("a large red square on a blue background, centered", seed: 2, steps: 8)
        edit.image = base.images[0]
        edit.strength = 0.5
        var cached = try request("a small green circle on a black background, top right", seed: 4, steps: 8)
        cached.cacheThreshold = 0.15
        let editAlone = try pipe.generateBatchOutputs([edit])[0].get().images
        let cachedAlone = try pipe.generateBatchOutputs([cached])[0].get()
        let set = DenoisingBatch(pipeline: pipe, like: edit)
        try set.admit(try request("a blue triangle on a white background, bottom left", seed: 8), tag: 0)
        let run = try drain(set, late: [2: [(1, edit), (2, cached)]])
        assertBitIdentical(editAlone, run.images[1], "image-to-image admitted after step 2")
        assertBitIdentical(cachedAlone.images, run.images[2], "step-cached member admitted after step 2")
        XCTAssertEqual(run.leftAtStep[1], 2 + 4, "strength 0.5 of 8 steps runs 4")
    }

    func testAdmissionRejectsWhatDoesNotFitAndCancelLeavesTheOthers() throws {
        let pipe = try ShapesModelTests.pipeline()
        let set = DenoisingBatch(pipeline: pipe, like: try request("a red circle", seed: 1))
        var wrongSize = try request("a red circle", seed: 1)
        wrongSize.width += pipe.sizeStep
        XCTAssertThrowsError(try set.admit(wrongSize, tag: 0)) { XCTAssertTrue("\($0)".contains("cannot take"), "\($0)") }
        var bad = try request("a red circle", seed: 1)
        bad.steps = 0
        XCTAssertThrowsError(try set.admit(bad, tag: 0))
        XCTAssertTrue(set.isEmpty, "a rejected request leaves the set as it was")
        try set.admit(try request("a red circle", seed: 1, steps: 3), tag: 0)
        try set.admit(try request("a blue square", seed: 2, steps: 3), tag: 1)
        let first = set.step { tag, _, _ in tag != 0 }
        XCTAssertEqual(first.map(\.tag), [0])
        XCTAssertTrue(first[0].result.failureIsCancellation)
        XCTAssertEqual(set.tags, [1])
        var done: [Int] = []
        while !set.isEmpty { done += set.step().map(\.tag) }
        XCTAssertEqual(done, [1])
    }
}

extension Result where Failure == Error {
    var failureIsCancellation: Bool {
        if case .failure(let e) = self { return e is CancellationError }
        return false
    }
}
