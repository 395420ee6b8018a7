import Foundation

/// Where a model component reads its weights from, by checkpoint key (diffusers/transformers names).
/// The safetensors-backed store conforms; tests may use a dictionary.
public protocol WeightSource: AnyObject {
    func tensor(_ name: String) throws -> Tensor
    func has(_ name: String) -> Bool
}

/// A prefix view: `scoped("encoder.layers.0").tensor("fc1.weight")` reads "encoder.layers.0.fc1.weight".
public final class ScopedWeights: WeightSource {
    let base: WeightSource
    let prefix: String
    public init(_ base: WeightSource, _ prefix: String) { self.base = base; self.prefix = prefix }
    func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
    public func tensor(_ name: String) throws -> Tensor { try base.tensor(key(name)) }
    public func has(_ name: String) -> Bool { base.has(key(name)) }
}

extension WeightSource {
    public func scoped(_ prefix: String) -> WeightSource { ScopedWeights(self, prefix) }
    public func optional(_ name: String) throws -> Tensor? { has(name) ? try tensor(name) : nil }
}

/// In-memory weights, for tests and for models built in code.
public final class DictionaryWeights: WeightSource {
    public var tensors: [String: Tensor]
    public init(_ tensors: [String: Tensor]) { self.tensors = tensors }
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw EngineError("missing weight '\(name)'") }
        return t
    }
    public func has(_ name: String) -> Bool { tensors[name] != nil }
}

/// A Linear layer's weights, read once.
public struct Linear {
    public let weight: Tensor  // [out, in]
    public let bias: Tensor?
    public init(_ w: WeightSource, _ name: String, bias: Bool = true) throws {
        weight = try w.tensor(name + ".weight")
        self.bias = bias ? try w.optional(name + ".bias") : nil
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.linear(x, weight, bias) }
    public var outFeatures: Int { weight.shape[0] }
}

extension WeightStore: WeightSource {}
