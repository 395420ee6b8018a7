import Foundation

/// Where a model component reads its weights from, by checkpoint key (diffusers/transformers names).
/// The safetensors-backed store conforms; tests may use a dictionary.
public protocol WeightSource: AnyObject {
    func tensor(_ name: String) throws -> Tensor
    func has(_ name: String) -> Bool
    /// `name` as a message should show it: the full checkpoint key and, where known, its component and file.
    func describeWeight(_ name: String) -> String
}

/// A prefix view: `scoped("encoder.layers.0").tensor("fc1.weight")` reads "encoder.layers.0.fc1.weight".
public final class ScopedWeights: WeightSource {
    let base: WeightSource
    let prefix: String
    public init(_ base: WeightSource, _ prefix: String) { self.base = base; self.prefix = prefix }
    func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
    public func tensor(_ name: String) throws -> Tensor { try base.tensor(key(name)) }
    public func has(_ name: String) -> Bool { base.has(key(name)) }
    public func describeWeight(_ name: String) -> String { base.describeWeight(key(name)) }
}

extension WeightSource {
    public func scoped(_ prefix: String) -> WeightSource { ScopedWeights(self, prefix) }
    public func optional(_ name: String) throws -> Tensor? { has(name) ? try tensor(name) : nil }
    public func describeWeight(_ name: String) -> String { "weight '\(name)'" }

    /// Reads a weight and checks its shape, so that a checkpoint that disagrees with its config (or a transposed
    /// tensor of the same size) is an error naming the tensor and both shapes, never an out-of-bounds read later.
    /// `because`: where the expected shape comes from, in config terms.
    public func tensor(_ name: String, shape: [Int], because: String? = nil) throws -> Tensor {
        let t = try tensor(name)
        guard t.shape == shape else {
            throw EngineError("\(describeWeight(name)) has shape \(t.shape), expected \(shape)\(because.map { " (\($0))" } ?? "")")
        }
        return t
    }
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

/// A Linear layer's weights.
public struct Linear {
    public let weight: Tensor  // [out, in]
    public let bias: Tensor?
    /// The module path LoRA files name it by ("transformer_blocks.0.attn.to_q"); nil: no LoRA can target it.
    public var name: String?
    /// Load through `WeightSource.tensor(_:shape:because:)` (ComponentWeights.linear, FluxWeightLayout), which checks shapes.
    public init(weight: Tensor, bias: Tensor?, name: String? = nil) { self.weight = weight; self.bias = bias; self.name = name }
    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.linear(x, weight, bias) }
    public var outFeatures: Int { weight.shape[0] }
}

extension WeightStore: WeightSource {}
