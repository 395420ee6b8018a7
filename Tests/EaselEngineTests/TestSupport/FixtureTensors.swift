import Foundation
@testable import EaselEngine

/// Every tensor of a safetensors fixture, read through the engine's own validating reader.
enum FixtureTensors {
    static func load(_ url: URL) throws -> [String: Tensor] {
        let f = try SafeTensorsFile(url: url)
        var out: [String: Tensor] = [:]
        for name in f.names { out[name] = try f.tensor(name) }
        return out
    }

    static func weights(_ url: URL) throws -> DictionaryWeights { DictionaryWeights(try load(url)) }
}

/// ‖a − b‖ / ‖b‖ over all elements.
func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a.data[i]) - Double(b.data[i])
        num += d * d
        den += Double(b.data[i]) * Double(b.data[i])
    }
    return (num / max(den, 1e-300)).squareRoot()
}

/// Fixtures/components/<name>, from the test bundle.
func componentFixture(_ name: String) throws -> URL {
    guard let base = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw EngineError("test bundle has no Fixtures folder")
    }
    return base.appendingPathComponent("components").appendingPathComponent(name)
}
