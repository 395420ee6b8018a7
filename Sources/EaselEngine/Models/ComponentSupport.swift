import Foundation

/// Shape-checked weight loading shared by the model components: a wrong checkpoint or config names
/// the tensor and both shapes instead of failing deep inside a matrix product.
enum ComponentWeights {
    static func tensor(_ w: WeightSource, _ name: String, shape: [Int]) throws -> Tensor {
        try w.tensor(name, shape: shape, because: "from config.json")
    }

    /// A torch Linear [out, in] (+ bias [out] when `bias`).
    /// `module`: the path LoRA files name it by, where one may target it.
    static func linear(_ w: WeightSource, _ name: String, in inF: Int, out outF: Int, bias: Bool,
                       module: String? = nil) throws -> Linear {
        let weight = try w.tensor(name + ".weight", shape: [outF, inF], because: "[out, in], from config.json")
        return Linear(weight: weight, bias: bias ? try tensor(w, name + ".bias", shape: [outF]) : nil, name: module)
    }

    /// Config sizes that become tensor dimensions, loop counts or divisors: zero or negative would be an empty
    /// range, a division by zero or a negative allocation in release builds, so they fail at load, naming the key.
    static func requireSizes(_ component: String, positive: [(String, Int)], nonNegative: [(String, Int)] = []) throws {
        for (key, v) in positive where v <= 0 { throw EngineError("\(component) config: '\(key)' = \(v) must be positive") }
        for (key, v) in nonNegative where v < 0 { throw EngineError("\(component) config: '\(key)' = \(v) must not be negative") }
    }
}
