import Foundation
import XCTest
@testable import EaselEngine

/// Paths and helpers for the committed fixtures (made by `Scripts/make-fixtures`).
enum Fixtures {
    static var root: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }
    static func pipeline(_ name: String) -> URL { root.appendingPathComponent("pipelines/\(name)") }
    static let pipelineNames = ["schnell_square", "dev_nonsquare", "schnell_postquant"]

    static func reference(_ name: String, file: String = "reference.safetensors") throws -> SafeTensorsFile {
        try SafeTensorsFile(url: pipeline(name).appendingPathComponent(file))
    }

    static func meta(_ name: String, file: String = "meta.json") throws -> [String: Any] {
        let data = try Data(contentsOf: pipeline(name).appendingPathComponent(file))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// ‖a − b‖ / ‖b‖ in f64.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a[i]) - Double(b[i])
        num += d * d
        den += Double(b[i]) * Double(b[i])
    }
    return (num / max(den, 1e-30)).squareRoot()
}

/// PSNR in dB of two images with values in [0, 1].
func psnr(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var mse = 0.0
    for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); mse += d * d }
    mse /= Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}

/// Slice b of a batch-major tensor [B, …] as a tensor of the remaining shape.
func batchItem(_ t: Tensor, _ b: Int) -> Tensor {
    let shape = Array(t.shape.dropFirst())
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, data: Array(t.data[(b * n)..<((b + 1) * n)]))
}
