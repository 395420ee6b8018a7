import Foundation

/// Deterministic standard-normal noise from a 64-bit seed: xoshiro256** seeded by SplitMix64, Box–Muller.
/// The same seed gives the same noise on every machine, so the same seed + inputs give the same image.
public struct GaussianNoise {
    var s: (UInt64, UInt64, UInt64, UInt64)
    var spare: Float?

    public init(seed: UInt64) {
        var z = seed
        func splitmix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    mutating func nextUInt64() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in (0, 1], never 0 so the logarithm below is finite.
    mutating func uniform() -> Double { (Double(nextUInt64() >> 11) + 1) * 0x1.0p-53 }

    public mutating func next() -> Float {
        if let v = spare { spare = nil; return v }
        let u1 = uniform(), u2 = uniform()
        let r = (-2 * log(u1)).squareRoot()
        spare = Float(r * sin(2 * .pi * u2))
        return Float(r * cos(2 * .pi * u2))
    }

    public static func tensor(shape: [Int], seed: UInt64) -> Tensor {
        var g = GaussianNoise(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in g.next() })
    }
}
