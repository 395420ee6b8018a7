import Foundation

/// Shape-checked weight loading shared by the model components: a wrong checkpoint or config names
/// the tensor and both shapes instead of failing deep inside a matrix product.
enum ComponentWeights {
    static func tensor(_ w: WeightSource, _ name: String, shape: [Int]) throws -> Tensor {
        let t = try w.tensor(name)
        guard t.shape == shape else {
            throw EngineError("weight '\(fullName(w, name))' has shape \(t.shape), config expects \(shape)")
        }
        return t
    }

    /// A torch Linear [out, in] (+ bias [out] when `bias`).
    static func linear(_ w: WeightSource, _ name: String, in inF: Int, out outF: Int, bias: Bool) throws -> Linear {
        _ = try tensor(w, name + ".weight", shape: [outF, inF])
        if bias { _ = try tensor(w, name + ".bias", shape: [outF]) }
        return try Linear(w, name, bias: bias)
    }

    static func fullName(_ w: WeightSource, _ name: String) -> String {
        if let s = w as? ScopedWeights { return fullName(s.base, s.key(name)) }
        return name
    }
}
