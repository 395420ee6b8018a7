import Foundation
import XCTest
@testable import EaselEngine

/// The shipped outline LoRA (Config/loras/easel-shapes-outline.safetensors, Training/easel-shapes/train_lora.py)
/// through the Swift engine: it loads against easel-shapes, scale 0 gives the base model's bits, and at scale 1
/// a large centred shape keeps its colour on its edge but is hollow: the image centre is background, where the base
/// model paints the shape. (The held-out measurement with the analyzer is Scripts/eval-shapes --lora, in
/// Config/loras/README.md.)
final class OutlineLoRATests: XCTestCase {
    static let file = ShapesModelTests.modelFolder.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("loras/easel-shapes-outline.safetensors")

    func pixel(_ img: Tensor, _ x: Int, _ y: Int) -> [Float] {
        let h = img.shape[1], w = img.shape[2]
        return (0..<3).map { img.data[($0 * h + y) * w + x] }
    }

    func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.reduce(0, +) }

    func testTheShippedLoRADrawsOutlinesAndIsTheBaseAtScaleZero() throws {
        let pipe = try ShapesModelTests.pipeline()
        let adapter = try LoRALoader.load(url: Self.file, targets: pipe.loraTargets)
        XCTAssertEqual(adapter.moduleCount, 52, "every Linear of the 6 blocks, modulation included")
        func request(_ scale: Float?, seed: UInt64) -> GenerationRequest {
            var r = GenerationRequest(prompt: "a large red circle in the center on a blue background", width: 64, height: 64,
                                      steps: 8, guidance: 2.5, seed: seed, numImages: 2)
            if let scale { r.lora = LoRAStack([.init(adapter: adapter, scale: scale)]) }
            return r
        }
        let red: [Float] = [1, 0, 0], blue: [Float] = [0, 0, 1]
        for seed: UInt64 in [3, 40] {
            let base = try pipe.generate(request(nil, seed: seed))
            let zero = try pipe.generate(request(0, seed: seed))
            let one = try pipe.generate(request(1, seed: seed))
            for i in 0..<2 {
                XCTAssertEqual(zero[i].data, base[i].data, "scale 0 is the base model, seed \(seed)+\(i)")
                let bc = pixel(base[i], 32, 32), oc = pixel(one[i], 32, 32)
                XCTAssertLessThan(distance(bc, red), distance(bc, blue), "the base fills the circle: centre \(bc)")
                XCTAssertLessThan(distance(oc, blue), distance(oc, red), "the LoRA leaves it hollow: centre \(oc)")
                // The stroke: somewhere on the row through the centre the LoRA image is red.
                let row = (0..<64).map { pixel(one[i], $0, 32) }
                XCTAssertTrue(row.contains { distance($0, red) < 0.6 }, "a red stroke crosses the centre row, seed \(seed)+\(i)")
            }
        }
    }
}
