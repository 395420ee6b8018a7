import Foundation

/// `scheduler/scheduler_config.json` of diffusers' FlowMatchEulerDiscreteScheduler.
public struct FlowMatchEulerConfig: Codable, Sendable {
    public var numTrainTimesteps: Int = 1000
    public var shift: Double = 1.0
    public var useDynamicShifting: Bool = false
    public var baseShift: Double = 0.5
    public var maxShift: Double = 1.15
    public var baseImageSeqLen: Int = 256
    public var maxImageSeqLen: Int = 4096
    public var invertSigmas: Bool = false
    public var shiftTerminal: Double?
    public var useKarrasSigmas: Bool = false
    public var useExponentialSigmas: Bool = false
    public var useBetaSigmas: Bool = false
    public var timeShiftType: String = "exponential"
    public var stochasticSampling: Bool = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case numTrainTimesteps = "num_train_timesteps", shift, useDynamicShifting = "use_dynamic_shifting"
        case baseShift = "base_shift", maxShift = "max_shift", baseImageSeqLen = "base_image_seq_len"
        case maxImageSeqLen = "max_image_seq_len", invertSigmas = "invert_sigmas", shiftTerminal = "shift_terminal"
        case useKarrasSigmas = "use_karras_sigmas", useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas", timeShiftType = "time_shift_type", stochasticSampling = "stochastic_sampling"
    }

    public init() {}
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        func v<T: Decodable>(_ k: CodingKeys, _ def: T) throws -> T { (try c.decodeIfPresent(T.self, forKey: k)) ?? def }
        numTrainTimesteps = try v(.numTrainTimesteps, 1000)
        shift = try v(.shift, 1.0)
        useDynamicShifting = try v(.useDynamicShifting, false)
        baseShift = try v(.baseShift, 0.5)
        maxShift = try v(.maxShift, 1.15)
        baseImageSeqLen = try v(.baseImageSeqLen, 256)
        maxImageSeqLen = try v(.maxImageSeqLen, 4096)
        invertSigmas = try v(.invertSigmas, false)
        shiftTerminal = try c.decodeIfPresent(Double.self, forKey: .shiftTerminal)
        useKarrasSigmas = try v(.useKarrasSigmas, false)
        useExponentialSigmas = try v(.useExponentialSigmas, false)
        useBetaSigmas = try v(.useBetaSigmas, false)
        timeShiftType = try v(.timeShiftType, "exponential")
        stochasticSampling = try v(.stochasticSampling, false)
    }

    public static func load(_ url: URL) throws -> FlowMatchEulerConfig {
        let c = try loadJSONConfig(FlowMatchEulerConfig.self, at: url, knownKeys: Set(CodingKeys.allCases.map(\.rawValue)),
                                   expectClass: ["FlowMatchEulerDiscreteScheduler"])
        let unsupported: [(String, Bool)] = [
            ("invert_sigmas", c.invertSigmas), ("use_karras_sigmas", c.useKarrasSigmas),
            ("use_exponential_sigmas", c.useExponentialSigmas), ("use_beta_sigmas", c.useBetaSigmas),
            ("stochastic_sampling", c.stochasticSampling),
            ("time_shift_type", !["exponential", "linear"].contains(c.timeShiftType)),
        ]
        if let bad = unsupported.first(where: { $0.1 }) {
            throw EngineError("\(url.path): unsupported config key '\(bad.0)'")
        }
        return c
    }
}

/// The Euler sampler of rectified flow, with sigmas and `mu` computed exactly as FluxPipeline does.
public struct FlowMatchEulerScheduler: Sendable {
    public let config: FlowMatchEulerConfig
    public init(config: FlowMatchEulerConfig) { self.config = config }

    /// FluxPipeline's `calculate_shift`: mu grows linearly with the image token count.
    public func mu(imageSeqLen: Int) -> Double {
        let m = (config.maxShift - config.baseShift) / Double(config.maxImageSeqLen - config.baseImageSeqLen)
        let b = config.baseShift - m * Double(config.baseImageSeqLen)
        return Double(imageSeqLen) * m + b
    }

    /// Sigmas for `steps` steps (N values, then a final 0) and the matching timesteps (sigma·1000).
    /// FluxPipeline starts from `linspace(1, 1/N, N)` and the scheduler shifts them in f32.
    public func schedule(steps: Int, imageSeqLen: Int) -> (sigmas: [Float], timesteps: [Float], mu: Double) {
        let mu = config.useDynamicShifting ? self.mu(imageSeqLen: imageSeqLen) : 0
        var sig: [Float] = (0..<steps).map { i in
            let v = steps == 1 ? 1.0 : 1.0 + (1.0 / Double(steps) - 1.0) * Double(i) / Double(steps - 1)
            return Float(v)
        }
        sig = sig.map { s in
            let t = Double(s)
            if config.useDynamicShifting {
                if config.timeShiftType == "linear" { return Float(mu / (mu + (1 / t - 1))) }
                return Float(exp(mu) / (exp(mu) + (1 / t - 1)))
            }
            return Float(config.shift * t / (1 + (config.shift - 1) * t))
        }
        if let term = config.shiftTerminal, let last = sig.last {
            let scale = (1 - Double(last)) / (1 - term)
            sig = sig.map { Float(1 - (1 - Double($0)) / scale) }
        }
        let timesteps = sig.map { $0 * Float(config.numTrainTimesteps) }
        return (sig + [0], timesteps, mu)
    }

    /// One Euler step in place: x ← x + (σ_next − σ)·v.
    public static func step(_ x: inout Tensor, velocity: Tensor, sigma: Float, sigmaNext: Float) {
        let dt = sigmaNext - sigma
        x.data.withUnsafeMutableBufferPointer { p in
            velocity.data.withUnsafeBufferPointer { v in
                for i in 0..<p.count { p[i] += dt * v[i] }
            }
        }
    }
}
